"""A saved model, assembled: the one place an artifact becomes the parts that answer.

    artifact ─► head ─► poster stages (the studio's domain correction) ─► poster probabilities ─┐
                poster check                                                             fusion ─► combined estimate
                synopsis head (built on first use) ─► synopsis probabilities ───────────┘
                torch_view(): the poster signal as one torch module (Grad-CAM)

`assemble` is the one build: the model core (predict), Grad-CAM, the evaluation of a saved model and training's studio
stage (on the poster-only model it just fitted) all call it, so they cannot drift apart. It reads every part through
the slot table (`layout.read_part`) and owns the thresholds of each signal (`thresholds_for`). A poster-only model
(no `head_config["studio"]`) has no domain correction, synopsis head or fusion.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import numpy as np

from ..errors import ModelError
from .artifact import ModelArtifact
from .fusion import Fusion
from .layout import SYNOPSIS_ONLY_THRESHOLDS, poster_stage, poster_stage_roles, read_part
from .parts import PosterHead, PosterStage
from .poster_check import PosterCheck
from .synopsis import SynopsisHead

if TYPE_CHECKING:
    from torch import nn

Signal = Literal["poster", "poster+synopsis", "synopsis"]
POSTER: Final = "poster"
"""The poster alone: the head, then the poster stages."""
COMBINED: Final = "poster+synopsis"
"""Poster and synopsis fused (a model with the studio extensions, a reading with a synopsis)."""
SYNOPSIS: Final = "synopsis"
"""A synopsis read without a poster."""
SIGNALS: tuple[Signal, ...] = (POSTER, COMBINED, SYNOPSIS)

NO_SYNOPSIS_HEAD = (
    "this model has no synopsis head; retrain it on a catalog with a `studio` collection that has "
    "plots (`postergenre train`) to {}"
)


class AssembledModel:
    """The parts of one artifact, ready to answer (nothing is changed after construction; thread-safe)."""

    def __init__(self, artifact: ModelArtifact, feature_dim: int | None = None):
        self.artifact = artifact
        self.genres: list[str] = list(artifact.genres)
        config = artifact.head_config
        start, stop = config.get("feature_slice") or (0, feature_dim or 0)
        self.feature_slice: tuple[int, int] = (int(start), int(stop))
        self.head = cast(PosterHead, self._read("head"))
        if self.head.n_outputs_ != len(self.genres):
            raise ModelError(f"head has {self.head.n_outputs_} outputs but the model lists {len(self.genres)} genres")
        self.poster_check = cast("PosterCheck | None", self._read("poster_check"))
        stages = (poster_stage(self._read(role)) for role in poster_stage_roles())
        self.poster_stages: list[PosterStage] = [s for s in stages if s is not None]
        self.fusion = cast("Fusion | None", self._read("fusion"))
        self._synopsis: SynopsisHead | None = None  # built on first use: its TF-IDF vocabulary is the slow part
        self._synopsis_lock = threading.Lock()
        self._thresholds: dict[Signal, np.ndarray | None] = {POSTER: np.asarray(artifact.thresholds, dtype=np.float64)}
        if self.fusion is not None:
            self._thresholds[COMBINED] = np.asarray(self.fusion.thresholds_, dtype=np.float64)
            self._thresholds[SYNOPSIS] = self._synopsis_only_thresholds(self.fusion)

    def _read(self, role: str) -> Any:
        return read_part(role, self.artifact.head_type, self.artifact.head_config, self.artifact.tensors)

    @property
    def has_synopsis(self) -> bool:
        return self.fusion is not None

    # -- thresholds: the one choice per signal ------------------------------------------------------------

    def thresholds_for(self, signal: Signal) -> np.ndarray:
        """The per-genre thresholds that decide `signal`: the poster's (tuned on the poster signal's out-of-fold
        probabilities), the fusion's for poster + synopsis, the synopsis-only ones for a synopsis read alone."""
        if signal not in SIGNALS:
            raise ModelError(f"unknown signal {signal!r}; one of {', '.join(SIGNALS)}")
        found = self._thresholds.get(signal)
        if found is None:
            raise ModelError(NO_SYNOPSIS_HEAD.format(f"decide the {signal} signal"))
        return found

    def _synopsis_only_thresholds(self, fusion: Fusion) -> np.ndarray:
        """Tuned on out-of-fold synopsis probabilities of studio films (`synopsis_only.thresholds`); a model trained
        before they were stored falls back to the per-genre thresholds its studio metrics tuned on the same
        out-of-fold probabilities, then to the fusion's."""
        stored = self.artifact.tensors.get(SYNOPSIS_ONLY_THRESHOLDS)
        if stored is not None:
            return np.asarray(stored, dtype=np.float64)
        per_genre = ((self.artifact.metrics or {}).get("studio") or {}).get("studio_synopsis", {}).get("per_genre")
        found = {p["genre"]: p.get("threshold") for p in per_genre or []}
        if all(isinstance(found.get(g), (int, float)) for g in self.genres):
            return np.array([found[g] for g in self.genres], dtype=np.float64)
        return np.asarray(fusion.thresholds_, dtype=np.float64)

    # -- signals ------------------------------------------------------------------------------------------

    def _features(self, embeddings: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        start, stop = self.feature_slice
        if X.ndim != 2 or X.shape[1] < stop:
            raise ModelError(
                f"features must be [N, >= {stop}] for the head's feature slice {start}:{stop}, got {X.shape}"
            )
        return X

    def general_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Full embeddings [N, D] → the poster head's probabilities [N, G] (before any poster stage)."""
        start, stop = self.feature_slice
        return self.head.predict_proba(self._features(embeddings)[:, start:stop])

    def poster_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Full embeddings [N, D] → the poster signal [N, G]: the head, then each poster stage (the studio's domain
        correction when the model has one)."""
        X = self._features(embeddings)
        probs = self.general_probabilities(X)
        for stage in self.poster_stages:
            probs = stage.refine(probs, X)
        return probs

    @property
    def synopsis(self) -> SynopsisHead | None:
        """The synopsis head (None for a poster-only model)."""
        if not self.has_synopsis:
            return None
        with self._synopsis_lock:
            if self._synopsis is None:
                self._synopsis = cast(SynopsisHead, self._read("synopsis"))
        return self._synopsis

    def synopsis_probabilities(self, texts: Sequence[str | None]) -> np.ndarray:
        """Synopses → genre probabilities [N, G] from the text head alone (NaN rows for blank texts)."""
        head = self.synopsis
        if head is None:
            raise ModelError(NO_SYNOPSIS_HEAD.format("use a synopsis"))
        return np.asarray(head.predict_proba(list(texts)), dtype=np.float64)

    def fuse(self, poster_probs: np.ndarray, synopsis_probs: np.ndarray | None) -> np.ndarray:
        """Poster and synopsis probabilities → the combined estimate [N, G] (rows without a synopsis: the poster's)."""
        if self.fusion is None:
            raise ModelError("this model has no fusion of poster and synopsis (a poster-only model)")
        return np.asarray(self.fusion.fuse(poster_probs, synopsis_probs), dtype=np.float64)

    def require_poster_check(self) -> PosterCheck:
        """The poster check, which a model that answers users must have (ModelError saying so when it has none)."""
        if self.poster_check is None:
            raise ModelError(
                "model has no poster-check settings (head_config['poster_check']); retrain it with "
                "this version of postergenre"
            )
        return self.poster_check

    def check(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The poster check: (score [N], looks like a poster bool [N])."""
        return self.require_poster_check().check(embeddings)

    # -- Grad-CAM -----------------------------------------------------------------------------------------

    def torch_view(self) -> nn.Module:
        """The poster signal's logits as one differentiable torch module of the full embeddings [N, D]: the feature
        slice, the head, each poster stage (what `poster_probabilities` computes, in torch)."""
        from .torch_views import PosterView

        return PosterView(self.feature_slice, self.head.torch_view(), [s.torch_view() for s in self.poster_stages])


def assemble(artifact: ModelArtifact, feature_dim: int | None = None) -> AssembledModel:
    """The artifact's parts, ready to answer (see the module docstring)."""
    return AssembledModel(artifact, feature_dim)
