"""A saved model, assembled: the one place an artifact becomes the parts that answer.

    artifact ─► head on each view (views.read_views) ─► poster stages (the studio's domain correction)
                                                      ─► poster probabilities ─┐
                poster check (the poster's own view)                     fusion ─► combined estimate
                synopsis head (built on first use) ─► synopsis probabilities ─┘
                torch_view(): the poster signal of one view as one torch module (Grad-CAM)

A poster's vectors come as [N, V, D], one per view the model reads (`views`, from head_config["views"]: the poster
as given, then its mirror image; a model saved without it reads the poster alone), or as [N, D], one view: the
poster's own (what the poster check, comparable titles and Grad-CAM read).

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
from .layout import SYNOPSIS_ONLY_THRESHOLDS, poster_stage, poster_stage_roles, read_part, saved_views
from .parts import PosterHead, PosterStage
from .poster_check import PosterCheck
from .synopsis import SynopsisHead
from .views import read_views

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
        self.views: tuple[str, ...] = saved_views(config)
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
        """Vectors [N, V, D] of the model's views, or [N, D] of one view, checked (float32)."""
        X = np.asarray(embeddings, dtype=np.float32)
        X = X[None, :] if X.ndim == 1 else X
        start, stop = self.feature_slice
        if X.ndim not in (2, 3) or X.shape[-1] < stop or (X.ndim == 3 and X.shape[1] != len(self.views)):
            views = f"[N, {len(self.views)}, >= {stop}] for its views ({', '.join(self.views)})"
            raise ModelError(
                f"features must be [N, >= {stop}] (one view) or {views} for the head's feature slice "
                f"{start}:{stop}, got {list(X.shape)}"
            )
        return X

    def own_view(self, embeddings: np.ndarray) -> np.ndarray:
        """The poster's own vectors [N, D] (its first view) from [N, V, D] or [N, D]."""
        X = self._features(embeddings)
        return X[:, 0] if X.ndim == 3 else X

    def general_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Vectors [N, V, D] (or one view [N, D]) → the poster head's probabilities [N, G] (before any poster stage):
        the sigmoid of its logits' mean over the views (`views.read_views`)."""
        start, stop = self.feature_slice
        return read_views(self.head, self._features(embeddings)[..., start:stop])

    def poster_probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Vectors [N, V, D] (or one view [N, D]) → the poster signal [N, G]: the head over the views, then each
        poster stage (the studio's domain correction when the model has one), which reads the poster's own vectors."""
        X = self._features(embeddings)
        probs = self.general_probabilities(X)
        own = X[:, 0] if X.ndim == 3 else X
        for stage in self.poster_stages:
            probs = stage.refine(probs, own)
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
        """The poster check of the poster's own view: (score [N], looks like a poster bool [N])."""
        return self.require_poster_check().check(self.own_view(embeddings))

    # -- Grad-CAM -----------------------------------------------------------------------------------------

    def torch_view(self) -> nn.Module:
        """The poster signal's logits as one differentiable torch module of one view's full embeddings [N, D]: the
        feature slice, the head, each poster stage (what `poster_probabilities` computes for one view, in torch).
        Grad-CAM differentiates the poster as given: a two-view model's reading also averages in the mirror image,
        whose evidence sits at the mirrored places."""
        from .torch_views import PosterView

        return PosterView(self.feature_slice, self.head.torch_view(), [s.torch_view() for s in self.poster_stages])


def assemble(artifact: ModelArtifact, feature_dim: int | None = None) -> AssembledModel:
    """The artifact's parts, ready to answer (see the module docstring)."""
    return AssembledModel(artifact, feature_dim)
