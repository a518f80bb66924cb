"""A saved model, assembled: the one place an artifact becomes the parts that answer.

    artifact ─► head (numpy forward) ─► domain correction ─► poster probabilities ─┐
                poster check                                                    fusion ─► combined estimate
                synopsis head (built on first use) ─► synopsis probabilities ──┘
                head as a torch module + the correction (for Grad-CAM)

The model core (predict), Grad-CAM and the evaluation of a saved model all read an artifact through
`assemble`, so they cannot drift apart. A poster-only model (no `head_config["studio"]`) has no domain
correction, synopsis head or fusion.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ModelError
from .artifact import ModelArtifact
from .domain import DomainCorrection
from .fusion import Fusion
from .head_forward import logits as head_logits
from .logistic import sigmoid
from .poster_check import poster_check_scores

SYNOPSIS_ONLY_THRESHOLDS = "synopsis_only.thresholds"
"""Tensor key of the thresholds that decide a synopsis read without a poster."""


class AssembledModel:
    """The parts of one artifact, ready to answer (nothing is changed after construction; thread-safe)."""

    def __init__(self, artifact: ModelArtifact, feature_dim: int | None = None):
        self.artifact = artifact
        self.genres: list[str] = list(artifact.genres)
        self.thresholds = np.asarray(artifact.thresholds, dtype=np.float64)
        config = artifact.head_config
        self.feature_slice = tuple(int(v) for v in config.get("feature_slice") or (0, feature_dim or 0))
        self.poster_check = config.get("poster_check")
        if not isinstance(self.poster_check, dict) or "threshold" not in self.poster_check:
            raise ModelError("model has no poster-check settings (head_config['poster_check']); retrain it with "
                             "this version of postergenre")
        self.studio_config: dict[str, Any] | None = config.get("studio")
        self.domain: DomainCorrection | None = None
        self.fusion: Fusion | None = None
        if self.studio_config is not None:
            self.domain = DomainCorrection.from_saved(artifact.tensors, self.studio_config["domain"])
            self.fusion = Fusion.from_saved(artifact.tensors, self.studio_config["fusion"])
        self._synopsis: Any = None  # built on first use: its TF-IDF vocabulary is the slow part of loading
        self._synopsis_lock = threading.Lock()

    @property
    def has_synopsis(self) -> bool:
        return self.studio_config is not None

    @property
    def fused_thresholds(self) -> np.ndarray | None:
        """The thresholds that decide the combined estimate (None for a poster-only model)."""
        return None if self.fusion is None else np.asarray(self.fusion.thresholds_, dtype=np.float64)

    @property
    def synopsis_thresholds(self) -> np.ndarray | None:
        """The thresholds that decide a synopsis read alone (None for a poster-only model): tuned on out-of-fold
        synopsis probabilities of studio films (`synopsis_only.thresholds`); a model trained before they were
        stored falls back to the per-genre thresholds its studio metrics tuned on the same out-of-fold
        probabilities, then to the fusion's."""
        if self.studio_config is None:
            return None
        stored = self.artifact.tensors.get(SYNOPSIS_ONLY_THRESHOLDS)
        if stored is not None:
            return np.asarray(stored, dtype=np.float64)
        per_genre = ((self.artifact.metrics or {}).get("studio") or {}).get("studio_synopsis", {}).get("per_genre")
        found = {p["genre"]: p.get("threshold") for p in per_genre or []}
        if all(isinstance(found.get(g), (int, float)) for g in self.genres):
            return np.array([found[g] for g in self.genres], dtype=np.float64)
        return self.fused_thresholds

    # -- signals ------------------------------------------------------------------------------------------

    def general_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Full embeddings [N, D] → the general poster head's probabilities [N, G]."""
        X = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        return sigmoid(head_logits(self.artifact.tensors, self.feature_slice, X).astype(np.float64))

    def poster_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Full embeddings [N, D] → the poster signal [N, G]: the head, then the studio's domain correction when the
        model has one."""
        general = self.general_probabilities(embeddings)
        return general if self.domain is None else np.asarray(self.domain.predict_proba(general), dtype=np.float64)

    @property
    def synopsis(self) -> Any:
        """The synopsis head (None for a poster-only model)."""
        if self.studio_config is None:
            return None
        with self._synopsis_lock:
            if self._synopsis is None:
                from .synopsis import SynopsisHead

                self._synopsis = SynopsisHead.from_saved(self.artifact.tensors, self.studio_config["synopsis"])
        return self._synopsis

    def synopsis_probabilities(self, texts: Sequence[str | None]) -> np.ndarray:
        """Synopses → genre probabilities [N, G] from the text head alone (NaN rows for blank texts)."""
        if self.synopsis is None:
            raise ModelError("this model has no synopsis head; retrain it on a catalog with a `studio` collection "
                             "that has plots (`postergenre train`) to use a synopsis")
        return np.asarray(self.synopsis.predict_proba(list(texts)), dtype=np.float64)

    def fuse(self, poster_probs: np.ndarray, synopsis_probs: np.ndarray | None) -> np.ndarray:
        """Poster and synopsis probabilities → the combined estimate [N, G] (rows without a synopsis: the poster's)."""
        if self.fusion is None:
            raise ModelError("this model has no fusion of poster and synopsis (a poster-only model)")
        return np.asarray(self.fusion.fuse(poster_probs, synopsis_probs), dtype=np.float64)

    def check(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The poster check: (score [N], looks like a poster bool [N])."""
        return poster_check_scores(embeddings, self.artifact.tensors, self.poster_check)

    # -- Grad-CAM -----------------------------------------------------------------------------------------

    def torch_head(self) -> Any:
        """The poster signal's logits as a differentiable torch module: the head, then the domain correction."""
        import torch

        from .head_module import head_module

        head = head_module(self.artifact)
        if self.domain is None:
            return head
        correction = torch.nn.Linear(len(self.genres), len(self.genres))
        with torch.no_grad():
            correction.weight.copy_(torch.from_numpy(np.asarray(self.domain.matrix_, dtype=np.float32)))
            correction.bias.copy_(torch.from_numpy(np.asarray(self.domain.bias_, dtype=np.float32)))
        return torch.nn.Sequential(head, correction).eval()


def assemble(artifact: ModelArtifact, feature_dim: int | None = None) -> AssembledModel:
    """The artifact's parts, ready to answer (see the module docstring)."""
    return AssembledModel(artifact, feature_dim)
