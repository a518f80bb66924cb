"""The model core: what a trained model answers, with no knowledge of files, URLs or HTTP.

    images ─► embed each view ─► probabilities ─► (fuse with a synopsis) ─► decided_genres ─► GenreReading
              (one forward pass)   └─► poster check                 gradcam(image, genres) ─► heatmaps

Every interface (Predictor facade, CLI, service, page) gets its answers here, so one rule answers each question
everywhere: what the decided set is (`decided_genres`), how a reading is summarised in words (`summarize`). The rules
on a reading's strength (levels, reads-as, reading order, heatmap genres, variant ranking) live in
`model/decisions.py`; variant ranking is applied in `compare.py`, as a function of readings.

The forward pass runs on an inference runtime from `features.runtime` (ONNX Runtime by default, torch as the
fallback); the head runs in numpy. torch is imported only for Grad-CAM, which needs gradients.

A model reads the views of a poster it was trained on (`views`: the poster as given and its mirror image for the
default recipe; features/views.py), computed in one batched forward pass, and averages its head's logits over them
(model/views.py). The poster check, comparable titles and Grad-CAM read the poster as given, and a reading's
`embedding` is that view's vector.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import ModelError, PosterGenreError
from ..features.registry import BackboneSpec, get_backbone
from ..model.artifact import ModelArtifact
from ..model.assembly import COMBINED, POSTER, SYNOPSIS, assemble
from ..model.decisions import reads_as, strength
from ..model.thresholds import decide as decide_mask
from .results import GenreReading

if TYPE_CHECKING:
    from ..features.graph_store import GraphStore
    from .gradcam import GradCam

NOT_A_POSTER = (
    "This does not look like a movie poster (it may be a photo, a screenshot or a plain image), "
    "so the genres below are unreliable."
)
NOT_A_POSTER_LABEL = "not a poster?"
"""The poster check's flag where a sentence does not fit (a table cell, a thumbnail), everywhere it is shown."""
FROM_SYNOPSIS_ONLY = "From the synopsis only"
"""How a reading of a synopsis without a poster is marked, everywhere it is shown."""


# -- the rules ----------------------------------------------------------------------------------------------


def decided_genres(
    probs: np.ndarray,
    thresholds: np.ndarray,
    genres: Sequence[str],
    *,
    threshold: float | None = None,
    top_k: int | None = None,
) -> list[str]:
    """The decided genre set for one probability row, most probable first.

    Default: each genre's own threshold, falling back to the single most probable genre. `threshold` replaces
    every per-genre threshold; `top_k` keeps at most the k most probable decided genres, or, without
    `threshold`, exactly the k most probable genres.
    """
    if top_k is not None and top_k < 1:
        raise PosterGenreError(f"top_k must be at least 1, got {top_k}")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise PosterGenreError(f"threshold must be between 0 and 1, got {threshold}")
    probs = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-probs, kind="stable")
    if top_k is not None and threshold is None:
        chosen = list(order[:top_k])
    else:
        t = thresholds if threshold is None else np.full_like(thresholds, threshold)
        mask = decide_mask(probs, t)
        chosen = [i for i in order if mask[i]][:top_k]
    return [genres[i] for i in chosen]


def summarize(
    decided: Sequence[str], strength: dict[str, float], is_poster: bool = True, *, synopsis_only: bool = False
) -> dict[str, Any]:
    """Plain words for a decided set: which genres the poster reads as, and which it only hints at
    (`decisions.reads_as`).
    `synopsis_only`: the reading of a synopsis without a poster, marked as such."""
    strong, hints_at = reads_as(decided, strength)
    text = f"Reads as: {', '.join(strong)}." if strong else "Reads as no genre clearly."
    if hints_at:
        text += f" {'Also hints' if strong else 'Hints'} at: {', '.join(hints_at)}."
    if synopsis_only:
        text = f"{FROM_SYNOPSIS_ONLY}: " + text[0].lower() + text[1:]
    elif not is_poster:
        text = "Does not look like a movie poster. If it were one: " + text[0].lower() + text[1:]
    return {"reads_as": strong, "hints_at": hints_at, "text": text}


def match_genres(names: Iterable[str], genres: Sequence[str]) -> list[str]:
    """Genre names (case-insensitive, duplicates dropped) → the model's spelling; unknown names raise, listing
    the model's genres."""
    lookup = {g.lower(): g for g in genres}
    wanted = [n.strip() for n in names if n and n.strip()]
    unknown = [n for n in wanted if n.lower() not in lookup]
    if unknown:
        raise PosterGenreError(
            f"unknown genre{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"this model knows: {', '.join(genres)}"
        )
    return list(dict.fromkeys(lookup[n.lower()] for n in wanted))


def split_genre_list(text: str | Sequence[str] | None) -> list[str]:
    """The genre names of `text`: "Family, Comedy" or ["Family", "Comedy"] → ["Family", "Comedy"] (blanks dropped)."""
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [t.strip() for t in items if t and t.strip()]


# -- the core -----------------------------------------------------------------------------------------------


class ModelCore:
    """A trained model ready to answer: backbone runtime + head + thresholds + poster check (+ synopsis, fusion).

    Thread-safe for prediction (nothing is mutated after construction; the Grad-CAM network is built once
    under a lock).
    """

    def __init__(self, artifact: ModelArtifact, embedder: Any, spec: BackboneSpec | None = None):
        self.artifact = artifact
        self.spec = spec or get_backbone(artifact.backbone)
        artifact.check_compatible(self.spec.name, self.spec.preprocess_version)
        self.embedder = embedder
        self.model = assemble(artifact, self.spec.feature_dim)
        self.genres: list[str] = self.model.genres
        self.thresholds = self.model.thresholds_for(POSTER)
        expected_dim = self.model.require_poster_check().feature_dim
        if expected_dim is not None and int(expected_dim) != self.spec.feature_dim:
            raise ModelError(
                f"model was trained on {expected_dim}-value {self.spec.name} embeddings but this version "
                f"of the backbone gives {self.spec.feature_dim}; retrain it (`postergenre train`)"
            )
        self._gradcam: GradCam | None = None
        self._gradcam_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path | str | None = None,
        *,
        runtime: str = "auto",
        runtime_cache: Path | GraphStore | None = None,
        threads: int | None = None,
    ) -> ModelCore:
        """The artifact in `model_dir` (default: the bundled model) on the chosen inference runtime."""
        from ..features.runtime import load_runtime

        artifact = ModelArtifact.load(model_dir)
        spec = get_backbone(artifact.backbone)
        return cls(artifact, load_runtime(spec, kind=runtime, cache_dir=runtime_cache, threads=threads), spec)

    # -- signals ------------------------------------------------------------------------------------------

    @property
    def has_synopsis(self) -> bool:
        return self.model.has_synopsis

    @property
    def synopsis(self) -> Any:
        """The synopsis head (None for a poster-only model)."""
        return self.model.synopsis

    @property
    def runtime_name(self) -> str:
        return str(getattr(self.embedder, "name", type(self.embedder).__name__))

    @property
    def vector_key(self) -> tuple[str, str]:
        """The embedding-cache key of the vectors `embed` computes (catalog neighbours must be in the same space)."""
        return tuple(getattr(self.embedder, "vector_key", (self.spec.name, self.spec.preprocess_version)))

    @property
    def views(self) -> tuple[str, ...]:
        """The views of a poster this model reads (features/views.py), the poster as given first."""
        return self.model.views

    def embed(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded posters → their own full embeddings [N, D] (the poster as given), the vectors the embedding cache
        stores under the runtime's key: what comparable titles search with."""
        if not images:
            return np.zeros((0, self.spec.feature_dim), dtype=np.float32)
        return np.asarray(self.embedder.embed(list(images)), dtype=np.float32)

    def embed_views(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded posters → the full embeddings of each view the model reads [N, V, D], a poster's views side by
        side in one forward pass (features.runtime.InferenceRuntime.embed_views)."""
        if not images:
            return np.zeros((0, len(self.views), self.spec.feature_dim), dtype=np.float32)
        return np.asarray(self.embedder.embed_views(list(images), self.views), dtype=np.float32)

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings of each view [N, V, D], or of one view [N, D] (comparable titles' genre profile reads the
        poster's own), → poster genre probabilities [N, G]: the head over the views, then (for a model trained with
        a studio collection) the studio's domain correction."""
        return self.model.poster_probabilities(embeddings)

    def synopsis_probabilities(self, texts: Sequence[str | None]) -> np.ndarray:
        """Synopses → genre probabilities [N, G] from the text head alone."""
        return self.model.synopsis_probabilities(texts)

    def fuse(self, poster_probs: np.ndarray, synopsis_probs: np.ndarray) -> np.ndarray:
        """Poster and synopsis probabilities → the combined estimate [N, G]."""
        return self.model.fuse(poster_probs, synopsis_probs)

    def check(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        """The poster check of each poster's own view ([N, V, D] or [N, D]): does it look like a movie poster?"""
        scores, is_poster = self.model.check(embeddings)
        return [
            {
                "score": round(float(s), 4),
                "is_poster": bool(ok),
                "message": None if ok else NOT_A_POSTER,
                "label": None if ok else NOT_A_POSTER_LABEL,
            }
            for s, ok in zip(scores, is_poster, strict=True)
        ]

    def decided_genres(
        self,
        probs: np.ndarray,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
        thresholds: np.ndarray | None = None,
    ) -> list[str]:
        return decided_genres(
            probs, self.thresholds if thresholds is None else thresholds, self.genres, threshold=threshold, top_k=top_k
        )

    # -- readings -----------------------------------------------------------------------------------------

    def read(
        self,
        images: Sequence[Image.Image],
        synopses: Sequence[str | None] | None = None,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
    ) -> list[GenreReading]:
        """Genre readings for decoded posters, in one batched forward pass of their views.

        A non-empty synopsis (when the model has a synopsis head) makes the reading the combined estimate, with
        the fusion's thresholds; the poster-only and synopsis-only probabilities are kept beside it.
        """
        return self.read_embeddings(self.embed_views(images), synopses, threshold=threshold, top_k=top_k)

    def read_embeddings(
        self,
        embeddings: np.ndarray,
        synopses: Sequence[str | None] | None = None,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
    ) -> list[GenreReading]:
        """`read` from the embeddings of the model's views [N, V, D] (what `embed_views` returns, or the embedding
        caches of the views hold; a one-view model also takes [N, D])."""
        views = self._views_of(embeddings)
        return self._readings(
            self.probabilities(views), self.check(views), views[:, 0], synopses, threshold=threshold, top_k=top_k
        )

    def read_with_synopsis(
        self, poster: GenreReading, synopsis: str, *, threshold: float | None = None, top_k: int | None = None
    ) -> GenreReading:
        """A stored poster reading (`signal` "poster") fused with `synopsis`, without the poster's views: what
        `read_embeddings` answers for that poster and synopsis (a campaign's new synopsis)."""
        if poster.signal != "poster" or poster.embedding is None:
            raise ModelError("only a poster's own reading (with its embedding) can be read again with a synopsis")
        probs = np.array([[poster.probabilities[g] for g in self.genres]], dtype=np.float64)
        return self._readings(
            probs,
            [dict(poster.poster_check)],
            np.asarray(poster.embedding)[None, :],
            [synopsis],
            threshold=threshold,
            top_k=top_k,
        )[0]

    def _views_of(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings as [N, V, D] of this model's views; ModelError when they are not its views."""
        X = np.asarray(embeddings, dtype=np.float32)
        if X.ndim in (1, 2) and len(self.views) == 1:  # a one-view model's vectors, as they always were given
            X = X.reshape(-1, 1, X.shape[-1])
        if X.ndim != 3 or X.shape[1] != len(self.views) or X.shape[2] != self.spec.feature_dim:
            raise ModelError(
                f"this model reads {len(self.views)} view{'s' if len(self.views) > 1 else ''} of each "
                f"poster ({', '.join(self.views)}): embeddings must be [N, {len(self.views)}, "
                f"{self.spec.feature_dim}], got {list(X.shape)}"
            )
        return X

    def _readings(
        self,
        poster: np.ndarray,
        checks: list[dict[str, Any]],
        own: np.ndarray,
        synopses: Sequence[str | None] | None,
        *,
        threshold: float | None,
        top_k: int | None,
    ) -> list[GenreReading]:
        """Readings from poster probabilities [N, G], each poster's check and own vector [N, D], and synopses."""
        texts = list(synopses) if synopses is not None else [None] * len(poster)
        if len(texts) != len(poster):
            raise PosterGenreError(f"{len(poster)} posters but {len(texts)} synopses")
        with_text = [i for i, t in enumerate(texts) if t and t.strip()]
        text_probs: dict[int, np.ndarray] = {}
        if with_text:
            probs = self.synopsis_probabilities([texts[i] for i in with_text])
            text_probs = dict(zip(with_text, probs, strict=True))
        out = []
        for i, (embedding, p_poster, check) in enumerate(zip(own, poster, checks, strict=True)):
            if i in text_probs:
                combined = self.fuse(p_poster[None, :], text_probs[i][None, :])[0]
                out.append(
                    self._reading(
                        combined,
                        self.model.thresholds_for(COMBINED),
                        check,
                        embedding,
                        threshold,
                        top_k,
                        poster=p_poster,
                        synopsis=text_probs[i],
                    )
                )
            else:
                out.append(self._reading(p_poster, self.thresholds, check, embedding, threshold, top_k))
        return out

    def read_synopsis(
        self, texts: Sequence[str], *, threshold: float | None = None, top_k: int | None = None
    ) -> list[GenreReading]:
        """Genre readings of synopses alone, before a poster exists: the synopsis head's probabilities decided with
        the synopsis-only thresholds (tuned out-of-fold on studio films), the same plain words marked "From the
        synopsis only" (`signal` "synopsis", no poster check, no embedding)."""
        if not self.has_synopsis:
            raise ModelError(
                "this model has no synopsis head; retrain it on a catalog with a `studio` collection "
                "that has plots (`postergenre train`) to read a synopsis"
            )
        texts = list(texts)
        for i, text in enumerate(texts):
            if not (isinstance(text, str) and text.strip()):
                raise PosterGenreError(
                    f"synopsis {i + 1} of {len(texts)} is empty: give the story in a sentence or more"
                )
        probs = self.synopsis_probabilities(texts) if texts else np.zeros((0, len(self.genres)))
        return [
            self._reading(
                p, self.model.thresholds_for(SYNOPSIS), {}, None, threshold, top_k, synopsis=p, signal="synopsis"
            )
            for p in probs
        ]

    def _reading(
        self,
        probs: np.ndarray,
        thresholds: np.ndarray,
        check: dict[str, Any],
        embedding: np.ndarray | None,
        threshold: float | None,
        top_k: int | None,
        *,
        poster: np.ndarray | None = None,
        synopsis: np.ndarray | None = None,
        signal: str | None = None,
    ) -> GenreReading:
        def lines(own: np.ndarray) -> np.ndarray:  # a signal's own decision lines, or the one line asked for
            return np.asarray(own, dtype=np.float64) if threshold is None else np.full(len(self.genres), threshold)

        def ranked(p: np.ndarray) -> dict[str, float]:
            return {self.genres[i]: float(p[i]) for i in np.argsort(-p, kind="stable")}

        def strengths(p: np.ndarray, line: np.ndarray) -> dict[str, float]:
            return {self.genres[i]: strength(p[i], line[i]) for i in np.argsort(-p, kind="stable")}

        used = lines(thresholds)
        decided = decided_genres(
            probs, np.asarray(thresholds, dtype=np.float64), self.genres, threshold=threshold, top_k=top_k
        )
        reading_strength = strengths(probs, used)
        return GenreReading(
            probabilities=ranked(probs),
            thresholds={g: float(t) for g, t in zip(self.genres, used, strict=True)},
            strength=reading_strength,
            decided=decided,
            summary=summarize(
                decided, reading_strength, check.get("is_poster", True), synopsis_only=signal == "synopsis"
            ),
            poster_check=check,
            signal=signal or ("poster+synopsis" if synopsis is not None else "poster"),
            poster_probabilities=None if poster is None else ranked(poster),
            synopsis_probabilities=None if synopsis is None else ranked(synopsis),
            poster_strength=None if poster is None else strengths(poster, lines(self.thresholds)),
            synopsis_strength=(
                None if synopsis is None else strengths(synopsis, lines(self.model.thresholds_for(SYNOPSIS)))
            ),
            embedding=embedding,
        )

    # -- explain ------------------------------------------------------------------------------------------

    def gradcam(self, image: Image.Image, genres: Sequence[str]) -> dict[str, np.ndarray]:
        """Grad-CAM heatmaps (values 0..1) of where the network found each genre, at the network's resolution of
        the poster (the letterbox padding cut away): their size never depends on the input's pixel count."""
        names = match_genres(genres, self.genres)
        with self._gradcam_lock:
            if self._gradcam is None:
                from .gradcam import GradCam

                self._gradcam = GradCam(self.spec, self.model)
        return self._gradcam(image, [self.genres.index(g) for g in names], names)
