"""The one Predictor: a trained model artifact plus its backbone, used by the CLI, the Python API and the service.

Loading is the expensive part (backbone weights, head, thresholds), so it happens once; every call after
that is decode → preprocess → one forward pass → head → decision rule. The same functions that training
used (`posters.images.decode_image`, `features.preprocess`, `model.heads.head_module`,
`model.thresholds.decide`) are called here, so a poster gets the same genres everywhere.

Thread safety: forward passes run under `torch.inference_mode` on modules that are never mutated, so the
service may call `predict` from several worker threads; the similarity index is built once under a lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np
import torch
from PIL import Image

from ..errors import ModelError, PosterGenreError
from ..features.backbones import BackboneSpec, FeatureNet, get_backbone
from ..features.embed import embed_images
from ..model.artifact import DEFAULT_MODEL_DIR, ModelArtifact
from ..model.heads import head_module
from ..model.poster_check import poster_check_scores
from ..model.thresholds import decide
from ..posters.images import decode_image
from .inputs import PosterInput, is_url

if TYPE_CHECKING:
    from .compare import CompareResult
    from .similar import CatalogSimilarity, SimilarTitle

PosterLike = Union[str, Path, bytes, Image.Image, PosterInput]
"""What the Predictor accepts: a file path, an http(s) URL string, raw image bytes, a PIL image, or a
resolved CLI item."""

DEFAULT_BATCH_SIZE = 2
"""Posters per forward pass in predict_many. Measured on a 2-core CPU (benchmarks/predict_speed.py): 1–2 are
fastest (~30 posters/s); 8–16 run 2–4× slower because the activations of a large batch no longer fit the
CPU caches. Raise it on machines with many cores."""

NOT_A_POSTER = ("does not look like a movie poster (its embedding lies far from the training posters); "
                "its genres are unreliable")


@dataclass
class PosterPrediction:
    """Genres for one poster. `probabilities` is ordered from most to least probable."""

    source: str
    probabilities: dict[str, float]
    decided: list[str]
    thresholds: dict[str, float]
    poster_check: dict[str, Any]
    embedding: np.ndarray = field(repr=False)
    id: str | None = None
    sha256: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the decoded poster
    heatmap_files: list[str] = field(default_factory=list)  # PNGs written by `postergenre predict --explain`

    @property
    def ok(self) -> bool:
        return True

    def top(self, n: int) -> list[tuple[str, float]]:
        return list(self.probabilities.items())[:n]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; the embedding is left out (it is large and model-specific)."""
        return {
            "source": self.source,
            "id": self.id,
            "sha256": self.sha256,
            "width": self.size[0] if self.size else None,
            "height": self.size[1] if self.size else None,
            "decided": list(self.decided),
            "probabilities": {g: round(float(p), 6) for g, p in self.probabilities.items()},
            "thresholds": {g: round(float(t), 6) for g, t in self.thresholds.items()},
            "poster_check": dict(self.poster_check),
            **({"heatmap_files": list(self.heatmap_files)} if self.heatmap_files else {}),
        }


@dataclass
class PosterFailure:
    """An input that could not be predicted, with the reason (which names the input)."""

    source: str
    error: str
    id: str | None = None

    @property
    def ok(self) -> bool:
        return False

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "id": self.id, "error": self.error}


@dataclass
class LoadedPoster:
    """A decoded input ready for the network (`sha256` of its bytes, None for a PIL image)."""

    source: str
    image: Image.Image
    sha256: str | None
    id: str | None = None


class Predictor:
    """Predict genres, explain them, find comparable catalog titles and compare poster variants.

    Build with `Predictor.load()`; the constructor takes already-loaded parts (tests, the service).
    """

    def __init__(self, artifact: ModelArtifact, *, home: Path | str | None = None,
                 model_dir: Path | None = None, fetch_limits: Any = None, optimize: bool = True):
        self.artifact = artifact
        self.model_dir = model_dir
        self.home = home
        self.fetch_limits = fetch_limits
        self.spec: BackboneSpec = get_backbone(artifact.backbone)
        artifact.check_compatible(self.spec.name, self.spec.preprocess_version)
        self.net: FeatureNet = self.spec.build()
        self.head = head_module(artifact)
        self.head.eval()
        for p in self.head.parameters():
            p.requires_grad_(False)
        self._thresholds = np.asarray(artifact.thresholds, dtype=np.float64)
        if self._thresholds.shape != (len(artifact.genres),):
            raise ModelError(f"model has {len(artifact.genres)} genres but {self._thresholds.shape} thresholds")
        self._poster_check_config = _poster_check_config(artifact)
        expected_dim = self._poster_check_config.get("feature_dim")
        if expected_dim is not None and int(expected_dim) != self.spec.feature_dim:
            raise ModelError(f"model was trained on {expected_dim}-value {self.spec.name} embeddings but this version of "
                             f"the backbone gives {self.spec.feature_dim}; retrain it (`postergenre train`)")
        self._fast_net: torch.jit.ScriptModule | None = None
        if optimize:
            self.optimize()
        self._similar: dict[str, Any] = {}
        self._similar_lock = threading.Lock()

    @classmethod
    def load(cls, model_dir: Path | str | None = None, home: Path | str | None = None, *,
             fetch_limits: Any = None, optimize: bool = True, threads: int | None = None) -> "Predictor":
        """Load a model artifact folder (default: the model bundled with the package).

        `home` is the data folder whose catalog `similar` searches (default: $POSTERGENRE_HOME).
        `fetch_limits` (posters.fetch.FetchLimits) applies to URL inputs; the default is the poster fetcher's.
        `optimize` compiles the backbone for inference at load (see `optimize`); pass False when only a
        handful of posters will be predicted. `threads` sets torch's intra-op threads for the process
        (None leaves them alone); 1 is fastest for single posters on a small or shared CPU.
        """
        if threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        folder = Path(model_dir).expanduser() if model_dir is not None else Path(DEFAULT_MODEL_DIR)
        if model_dir is None and not (folder / "model.json").is_file():
            raise ModelError(f"the bundled default model is missing at {folder}; train one with "
                             "`postergenre train` and pass --model DIR")
        return cls(ModelArtifact.load(folder), home=home, model_dir=folder, fetch_limits=fetch_limits,
                   optimize=optimize)

    def optimize(self) -> None:
        """Trace and freeze the backbone (TorchScript): batch-norm folded into convolutions, constant padding.

        Measured about 30% faster per poster on CPU, for about 1 s once; the outputs match the eager
        network to ~1e-5. The network input size is fixed by the preprocessing, which is what makes the
        trace valid for every poster. Grad-CAM keeps using the eager network (it needs the conv map).
        If tracing fails on some platform, predictions silently stay on the eager network.
        """
        if self._fast_net is not None:
            return
        import warnings

        width, height = self.spec.input_size
        example = torch.zeros(1, 3, height, width)
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                warnings.simplefilter("ignore")  # tracer and deprecation notices; the trace is checked below
                traced = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(self.net, example, check_trace=False)))
                probe = torch.linspace(-1, 1, 2 * 3 * height * width).reshape(2, 3, height, width)
                if not torch.allclose(traced(probe), self.net(probe), atol=1e-3, rtol=1e-3):
                    return
        except Exception:  # noqa: BLE001 - an optimisation only; the eager network is always correct
            return
        self._fast_net = traced

    # ------------------------------------------------------------------------------------ basics

    @property
    def optimized(self) -> bool:
        """Whether predictions run on the compiled backbone (see `optimize`)."""
        return self._fast_net is not None

    @property
    def genres(self) -> list[str]:
        return list(self.artifact.genres)

    @property
    def thresholds(self) -> dict[str, float]:
        return {g: float(t) for g, t in zip(self.artifact.genres, self._thresholds)}

    def read(self, x: PosterLike) -> LoadedPoster:
        """Decode any accepted input with the one safe decoder; raises PosterGenreError naming the input."""
        if isinstance(x, Image.Image):
            return LoadedPoster("<image>", x.convert("RGB") if x.mode != "RGB" else x, None)
        if isinstance(x, (bytes, bytearray, memoryview)):
            data = bytes(x)
            return LoadedPoster("<bytes>", decode_image(data, name="<bytes>"), hashlib.sha256(data).hexdigest())
        if isinstance(x, (str, Path)):
            x = PosterInput(source=str(x), url=str(x)) if is_url(str(x)) else PosterInput(source=str(x), path=Path(x))
        if isinstance(x, PosterInput):
            data = x.read_bytes(self.fetch_limits)
            return LoadedPoster(x.source, decode_image(data, name=x.source), hashlib.sha256(data).hexdigest(), x.id)
        raise PosterGenreError(f"cannot predict from a {type(x).__name__}; pass a path, URL, bytes or PIL image")

    def _forward(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        """Images → (full embedding [N, D], probabilities [N, G]) in one batched pass."""
        net = self._fast_net if self._fast_net is not None else self.net
        features = embed_images(images, net, self.spec, batch_size=max(1, len(images)))  # as the cache has them
        return features, self.probabilities_of_embeddings(features)

    def probabilities_of_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Full cached-style embeddings [N, D] → genre probabilities [N, G] (the head alone)."""
        with torch.inference_mode():
            probs = torch.sigmoid(self.head(torch.from_numpy(np.ascontiguousarray(embeddings, dtype=np.float32))))
        return probs.numpy().astype(np.float64)

    def _check(self, embeddings: np.ndarray) -> list[dict[str, Any]]:
        scores, is_poster = poster_check_scores(embeddings, self.artifact.tensors, self._poster_check_config)
        out = []
        for score, ok in zip(scores, is_poster):
            out.append({"score": round(float(score), 4), "is_poster": bool(ok), "message": None if ok else NOT_A_POSTER})
        return out

    def decided_genres(self, probs: np.ndarray, threshold: float | None = None, top_k: int | None = None) -> list[str]:
        """The decided genre set for one probability row, most probable first.

        Default: the model's per-genre thresholds, falling back to the single most probable genre.
        `threshold` replaces every per-genre threshold; `top_k` keeps at most the k most probable of the
        decided genres, or, without `threshold`, exactly the k most probable genres.
        """
        probs = np.asarray(probs, dtype=np.float64)
        if top_k is not None and top_k < 1:
            raise PosterGenreError(f"--top-k must be at least 1, got {top_k}")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise PosterGenreError(f"--threshold must be between 0 and 1, got {threshold}")
        order = np.argsort(-probs, kind="stable")
        if top_k is not None and threshold is None:
            chosen = order[:top_k]
        else:
            t = self._thresholds if threshold is None else np.full_like(self._thresholds, threshold)
            mask = decide(probs, t)
            chosen = [i for i in order if mask[i]]
            if top_k is not None:
                chosen = chosen[:top_k]
        return [self.artifact.genres[i] for i in chosen]

    def _prediction(self, item: LoadedPoster, embedding: np.ndarray, probs: np.ndarray, check: dict[str, Any],
                    threshold: float | None, top_k: int | None) -> PosterPrediction:
        order = np.argsort(-probs, kind="stable")
        genres = self.artifact.genres
        return PosterPrediction(
            source=item.source,
            probabilities={genres[i]: float(probs[i]) for i in order},
            decided=self.decided_genres(probs, threshold, top_k),
            thresholds=(self.thresholds if threshold is None else {g: float(threshold) for g in genres}),
            poster_check=check,
            embedding=embedding,
            id=item.id,
            sha256=item.sha256,
            size=item.image.size,
        )

    # ------------------------------------------------------------------------------------ predict

    def predict(self, x: PosterLike, *, threshold: float | None = None, top_k: int | None = None) -> PosterPrediction:
        """Genres for one poster; raises PosterGenreError if it cannot be read or decoded."""
        item = self.read(x)
        return self.predict_loaded([item], threshold, top_k)[0]

    def predict_loaded(self, items: Sequence[LoadedPoster], threshold: float | None = None,
                       top_k: int | None = None) -> list[PosterPrediction]:
        """Predictions for already decoded posters (from `read`), in one forward pass."""
        embeddings, probs = self._forward([it.image for it in items])
        checks = self._check(embeddings)
        return [self._prediction(it, e, p, c, threshold, top_k) for it, e, p, c in zip(items, embeddings, probs, checks)]

    def predict_many(self, xs: Iterable[PosterLike], *, batch_size: int = DEFAULT_BATCH_SIZE, threshold: float | None = None,
                     top_k: int | None = None,
                     on_result: Callable[[PosterPrediction | PosterFailure], None] | None = None,
                     ) -> list[PosterPrediction | PosterFailure]:
        """Predict many posters in batches; an input that fails becomes a PosterFailure and the rest go on.

        Results keep the input order. `on_result` is called as each result is ready (progress bars).
        """
        if batch_size < 1:
            raise PosterGenreError(f"batch size must be at least 1, got {batch_size}")
        results: list[PosterPrediction | PosterFailure] = []
        pending: list[tuple[int, LoadedPoster]] = []

        def flush() -> None:
            if not pending:
                return
            preds = self.predict_loaded([it for _, it in pending], threshold, top_k)
            for (slot, _), pred in zip(pending, preds):
                results[slot] = pred
                if on_result:
                    on_result(pred)
            pending.clear()

        for x in xs:
            slot = len(results)
            results.append(None)  # type: ignore[arg-type]  # filled by flush or the failure below
            try:
                pending.append((slot, self.read(x)))
            except PosterGenreError as exc:
                failure = PosterFailure(source=_source_of(x), error=str(exc), id=getattr(x, "id", None))
                results[slot] = failure
                if on_result:
                    on_result(failure)
            if len(pending) >= batch_size:
                flush()
        flush()
        return results

    # ------------------------------------------------------------------------------------ explain

    def explain(self, x: PosterLike, genres: Sequence[str] | None = None, *, top: int = 3) -> dict[str, np.ndarray]:
        """Grad-CAM heatmaps (H×W of the poster, values 0..1) of where the network looked for each genre.

        `genres` defaults to the decided genres (at most `top`, most probable first).
        """
        from .explain import explain_image

        item = self.read(x)
        return explain_image(self, item.image, genres, top=top)

    def predict_and_explain(self, x: PosterLike, *, threshold: float | None = None, top_k: int | None = None,
                            top: int = 3) -> tuple[PosterPrediction, Image.Image, dict[str, np.ndarray]]:
        """Prediction, decoded image and heatmaps of the (at most `top`) decided genres, reading `x` once."""
        from .explain import explain_image

        item = self.read(x)
        prediction = self.predict_loaded([item], threshold, top_k)[0]
        return prediction, item.image, explain_image(self, item.image, prediction.decided[:top])

    def genre_indices(self, names: Iterable[str]) -> list[int]:
        """Indices of genre names (case-insensitive); unknown names raise listing the model's genres."""
        lookup = {g.lower(): i for i, g in enumerate(self.artifact.genres)}
        out: list[int] = []
        unknown: list[str] = []
        for name in names:
            idx = lookup.get(name.strip().lower())
            if idx is None:
                unknown.append(name)
            else:
                out.append(idx)
        if unknown:
            raise PosterGenreError(f"unknown genre(s) {', '.join(map(repr, unknown))}; this model knows: "
                                   f"{', '.join(self.artifact.genres)}")
        return out

    # ------------------------------------------------------------------------------------ similar

    def similar(self, x: PosterLike, k: int = 10, *, home: Path | str | None = None) -> list["SimilarTitle"]:
        """The k catalog titles nearest to `x` in look and genre profile (see similar.py), itself excluded."""
        if k < 1:
            raise PosterGenreError(f"k must be at least 1, got {k}")
        item = self.read(x)
        finder = self.similarity(home)
        embedding, _ = self._forward([item.image])
        return finder.search(embedding[0], k, exclude_sha256=item.sha256, exclude_identical=item.sha256 is None)

    def similarity(self, home: Path | str | None = None) -> "CatalogSimilarity":
        """The catalog neighbour index for `home` (built on first use, then reused)."""
        from ..config import get_paths
        from .similar import CatalogSimilarity

        key = str(get_paths(home if home is not None else self.home).home)
        with self._similar_lock:
            if key not in self._similar:
                self._similar[key] = CatalogSimilarity.from_home(Path(key), self.spec,
                                                                 genre_profile=self.probabilities_of_embeddings)
            return self._similar[key]

    # ------------------------------------------------------------------------------------ compare

    def compare(self, xs: Sequence[PosterLike], targets: Sequence[str] | str, *,
                heatmaps: bool = False) -> "CompareResult":
        """Rank poster variants by how strongly each signals the `targets` genres (see compare.py).

        With `heatmaps`, each variant also carries Grad-CAM maps of the targets and its decoded image (for
        the HTML sheet).
        """
        from .compare import compare_variants

        return compare_variants(self, xs, targets, heatmaps=heatmaps)


def _poster_check_config(artifact: ModelArtifact) -> dict[str, Any]:
    """The poster check's settings, saved by training in the head settings."""
    config = artifact.head_config.get("poster_check")
    if not isinstance(config, dict) or "threshold" not in config:
        raise ModelError("model has no poster-check settings (head_config['poster_check']); retrain it with "
                         "this version of postergenre")
    return config


def _source_of(x: Any) -> str:
    if isinstance(x, PosterInput):
        return x.source
    if isinstance(x, (str, Path)):
        return str(x)
    if isinstance(x, Image.Image):
        return "<image>"
    return "<bytes>"
