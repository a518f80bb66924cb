"""The Predictor: the Python API's facade over the model core, and what the CLI and the service call.

It resolves inputs (a path, an http(s) URL, bytes, a PIL image, a resolved CLI item) into decoded posters with the
one safe decoder, hands them to the core (`core.ModelCore`), and wraps each answer with where it came from. Every
rule (decided set, summary, heatmap genres, variant ranking) lives in the core and `compare.py`, never here.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from PIL import Image

from ..errors import ModelError, PosterGenreError
from ..model.artifact import DEFAULT_MODEL_DIR, META_FILE, ModelArtifact
from ..model.decisions import MAX_BRIEF_VARIANTS, heatmap_genres
from ..posters.images import DEFAULT_MAX_FILE_BYTES, decode_image
from .core import ModelCore, match_genres, split_genre_list
from .inputs import PosterInput, is_url
from .results import GenreReading, PosterFailure, PosterPrediction

if TYPE_CHECKING:  # imported where used: a prediction needs none of them (~25 ms of the CLI's start, issue 26)
    from .audiences import CatalogAudiences
    from .brief import Brief, BriefFilm
    from .compare import CompareResult
    from .similar import CatalogSimilarity, SimilarFilter, SimilarResult

PosterLike = str | Path | bytes | Image.Image | PosterInput
"""What the Predictor accepts: a file path, an http(s) URL string, raw image bytes, a PIL image, or a resolved CLI
item."""

_Built = TypeVar("_Built")  # what a per-home cache holds

DEFAULT_BATCH_SIZE = 2
"""Posters per forward pass in predict_many. On a 2-core CPU 1–2 are fastest; large batches no longer fit the caches."""


@dataclass
class _Decoded:
    source: str
    image: Image.Image
    sha256: str | None
    id: str | None = None
    synopsis: str | None = None


class Predictor:
    """Predict genres (optionally with a synopsis), explain them, find comparable titles, compare variants.

    Build with `Predictor.load()`; the constructor takes an already-built core (tests, the service).
    """

    def __init__(
        self,
        core: ModelCore,
        *,
        home: Path | str | None = None,
        model_dir: Path | None = None,
        fetch_limits: Any = None,
        allow_private_urls: bool = False,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ):
        self.core = core
        self.home = home
        self.model_dir = model_dir
        self.fetch_limits = fetch_limits  # None: built on first URL, from allow_private_urls and max_file_bytes
        self.allow_private_urls = allow_private_urls
        self.max_file_bytes = max_file_bytes
        self._similar: dict[str, CatalogSimilarity] = {}
        self._audiences: dict[str, CatalogAudiences] = {}
        self._home_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_dir: Path | str | None = None,
        home: Path | str | None = None,
        *,
        fetch_limits: Any = None,
        runtime: str = "auto",
        threads: int | None = 1,
        allow_private_urls: bool = False,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    ) -> Predictor:
        """Load a model folder (default: the bundled model) on an inference runtime ("auto", "onnx", "torch").

        `home` is the data folder whose catalog `similar` searches (default: $POSTERGENRE_HOME). The runtime's graph
        is the installation's (features.graph_store: built once, by `make install` or the first run, and shared by
        every data folder), so a fresh data folder answers as fast as a used one. `threads`: 1 is fastest for single
        posters on a small or shared CPU (issue 26, at load 5: a second ONNX Runtime thread cut a poster's forward
        pass by ~3% for 22% more CPU; torch's OpenMP threads spin, and two took 840 ms a poster at load 11). With one
        thread, ONNX Runtime runs a single poster's views side by side on the cores (features.runtime.embed_views).

        URL inputs on loopback, private or link-local hosts are refused (as by the service) unless
        `allow_private_urls=True` (a studio's intranet); downloads and local files larger than `max_file_bytes`
        (default 10 MB, the service's upload cap) are refused before they are read whole. `fetch_limits`
        (posters.fetch.FetchLimits) replaces the URL rules altogether.
        """
        from ..features.graph_store import GraphStore

        folder = Path(model_dir).expanduser() if model_dir is not None else Path(DEFAULT_MODEL_DIR)
        if model_dir is None and not (folder / META_FILE).is_file():
            raise ModelError(
                f"the bundled default model is missing at {folder}; train one with "
                "`postergenre train` and pass --model DIR"
            )
        core = ModelCore.load(folder, runtime=runtime, runtime_cache=GraphStore.installation(), threads=threads)
        return cls(
            core,
            home=home,
            model_dir=folder,
            fetch_limits=fetch_limits,
            allow_private_urls=allow_private_urls,
            max_file_bytes=max_file_bytes,
        )

    # -- what the model knows --------------------------------------------------------------------------------

    @property
    def genres(self) -> list[str]:
        return list(self.core.genres)

    @property
    def thresholds(self) -> dict[str, float]:
        return {g: float(t) for g, t in zip(self.core.genres, self.core.thresholds, strict=True)}

    @property
    def has_synopsis(self) -> bool:
        return self.core.has_synopsis

    @property
    def artifact(self) -> ModelArtifact:
        return self.core.artifact

    # -- inputs --------------------------------------------------------------------------------------------

    def _decode(self, x: PosterLike) -> _Decoded:
        """Any accepted input → decoded RGB poster; raises PosterGenreError naming the input.

        Large JPEGs decode at reduced scale (`max_side`), exactly as `postergenre embed` decodes catalog posters, so
        a catalog poster gets the vector its cache holds; memory does not grow with the upload's pixel count.
        """
        max_side = self.core.spec.preprocessing.decode_max_side
        if isinstance(x, Image.Image):
            return _Decoded("<image>", x.convert("RGB") if x.mode != "RGB" else x, None)
        if isinstance(x, (bytes, bytearray, memoryview)):
            data = bytes(x)
            return _Decoded(
                "<bytes>", decode_image(data, name="<bytes>", max_side=max_side), hashlib.sha256(data).hexdigest()
            )
        if isinstance(x, (str, Path)):
            text = str(x)
            x = PosterInput(source=text, url=text) if is_url(text) else PosterInput(source=text, path=Path(x))
        if isinstance(x, PosterInput):
            data = x.read_bytes(self._url_limits() if x.url is not None else None, max_file_bytes=self.max_file_bytes)
            return _Decoded(
                x.source,
                decode_image(data, name=x.source, max_side=max_side),
                hashlib.sha256(data).hexdigest(),
                x.id,
                x.synopsis,
            )
        raise PosterGenreError(f"cannot predict from a {type(x).__name__}; pass a path, URL, bytes or PIL image")

    def _url_limits(self) -> Any:
        """The FetchLimits of URL inputs (built on first use: the fetcher's httpx import costs every CLI start)."""
        if self.fetch_limits is None:
            from ..posters.fetch import FetchLimits

            self.fetch_limits = FetchLimits(allow_private_hosts=self.allow_private_urls, max_bytes=self.max_file_bytes)
        return self.fetch_limits

    def _predictions(
        self, items: Sequence[_Decoded], synopses: Sequence[str | None], threshold: float | None, top_k: int | None
    ) -> list[PosterPrediction]:
        readings = self.core.read([it.image for it in items], synopses, threshold=threshold, top_k=top_k)
        return [
            PosterPrediction(source=it.source, reading=r, id=it.id, sha256=it.sha256, size=it.image.size)
            for it, r in zip(items, readings, strict=True)
        ]

    # -- predict -------------------------------------------------------------------------------------------

    def predict(
        self,
        x: PosterLike,
        synopsis: str | None = None,
        *,
        threshold: float | None = None,
        top_k: int | None = None,
        heatmaps: bool | Sequence[str] = False,
    ) -> PosterPrediction:
        """Genres for one poster; with `synopsis`, the combined estimate (and each signal alone).

        `heatmaps`: True for the default heatmap genres (the decided ones, at most 3), or a list of genres; the
        maps land in `prediction.heatmaps` ({genre: H×W array 0..1}) with the decoded poster in `prediction.image`.
        Raises PosterGenreError if the poster cannot be read or decoded.
        """
        item = self._decode(x)
        prediction = self._predictions([item], [synopsis if synopsis is not None else item.synopsis], threshold, top_k)[
            0
        ]
        if heatmaps:
            requested = None if heatmaps is True else match_genres(split_genre_list(heatmaps), self.genres)
            genres = heatmap_genres(prediction.decided, prediction.reading.strength, requested)
            prediction.heatmaps = self.core.gradcam(item.image, genres)
            prediction.image = item.image
        return prediction

    def read_synopsis(self, synopsis: str, *, threshold: float | None = None, top_k: int | None = None) -> GenreReading:
        """Genres from a synopsis alone, before a poster exists: the synopsis head's reading, marked "From the
        synopsis only" (`reading.signal == "synopsis"`). Raises PosterGenreError for a blank synopsis, ModelError for
        a model without a synopsis head."""
        return self.core.read_synopsis([synopsis], threshold=threshold, top_k=top_k)[0]

    def predict_many(
        self,
        xs: Iterable[PosterLike],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        threshold: float | None = None,
        top_k: int | None = None,
        heatmaps: bool = False,
        keep_images: bool = False,
        on_result: Callable[[PosterPrediction | PosterFailure], None] | None = None,
    ) -> list[PosterPrediction | PosterFailure]:
        """Predict many posters in batches; an input that fails becomes a PosterFailure and the rest go on.

        Results keep the input order; `on_result` is called as each is ready. Synopses come with the inputs (a CSV's
        synopsis/plot column). With `heatmaps`, each prediction carries the default heatmaps and its poster; with
        `keep_images`, its decoded poster only (for heatmaps drawn later).
        """
        if batch_size < 1:
            raise PosterGenreError(f"batch size must be at least 1, got {batch_size}")
        results: list[PosterPrediction | PosterFailure | None] = []
        pending: list[tuple[int, _Decoded]] = []

        def flush() -> None:
            if not pending:
                return
            items = [it for _, it in pending]
            for (slot, item), prediction in zip(
                pending,
                self._predictions(items, [it.synopsis for it in items], threshold, top_k),
                strict=True,
            ):
                if heatmaps:
                    genres = heatmap_genres(prediction.decided, prediction.reading.strength)
                    prediction.heatmaps = self.core.gradcam(item.image, genres)
                if heatmaps or keep_images:
                    prediction.image = item.image
                results[slot] = prediction
                if on_result:
                    on_result(prediction)
            pending.clear()

        for x in xs:
            results.append(None)
            try:
                pending.append((len(results) - 1, self._decode(x)))
            except PosterGenreError as exc:
                failure = PosterFailure(
                    source=_source_of(x), error=str(exc), id=getattr(x, "id", None), kind=getattr(exc, "kind", None)
                )
                results[-1] = failure
                if on_result:
                    on_result(failure)
            if len(pending) >= batch_size:
                flush()
        flush()
        return results  # type: ignore[return-value]  # every slot is filled by now

    def explain(self, x: PosterLike, genres: Sequence[str] | str | None = None) -> dict[str, np.ndarray]:
        """Grad-CAM heatmaps {genre: H×W array in 0..1} for `genres` (default: the decided genres, at most 3)."""
        return self.predict(x, heatmaps=split_genre_list(genres) or True).heatmaps

    # -- similar -------------------------------------------------------------------------------------------

    def similar(
        self, x: PosterLike, k: int = 10, *, where: SimilarFilter | None = None, home: Path | str | None = None
    ) -> SimilarResult:
        """The k catalog titles nearest to `x` in look and genre profile (itself excluded), optionally filtered."""
        if k < 1:
            raise PosterGenreError(f"k must be at least 1, got {k}")
        finder = self.similarity(home)  # fails early (no catalog embeddings) before decoding anything
        item = self._decode(x)
        embeddings = self.core.embed([item.image])
        check = self.core.check(embeddings)[0]
        return finder.search(
            embeddings[0],
            k,
            where=where,
            exclude_sha256=item.sha256,
            exclude_identical=item.sha256 is None,
            query_is_poster=check["is_poster"],
        )

    def similarity(self, home: Path | str | None = None) -> CatalogSimilarity:
        """The catalog neighbour index for `home` (built on first use, then reused)."""
        from .similar import CatalogSimilarity

        return self._per_home(
            self._similar,
            home,
            lambda folder: CatalogSimilarity.from_home(
                folder,
                self.core.spec,
                genre_profile=self.core.probabilities,
                vectors=self.core.vector_key,
                runtime=self.core.runtime_name,
            ),
        )

    def _per_home(self, cache: dict[str, _Built], home: Path | str | None, build: Callable[[Path], _Built]) -> _Built:
        """`build(home folder)` on first use for that home (default: the Predictor's), then the same object."""
        from ..config import get_paths

        key = str(get_paths(home if home is not None else self.home).home)
        with self._home_lock:
            if key not in cache:
                cache[key] = build(Path(key))
            return cache[key]

    # -- compare -------------------------------------------------------------------------------------------

    def compare(
        self,
        xs: Sequence[PosterLike],
        targets: Sequence[str] | str,
        *,
        synopsis: str | None = None,
        heatmaps: bool = False,
    ) -> CompareResult:
        """Rank poster variants by how strongly each signals the `targets` genres (poster signal alone).

        With `heatmaps`, each variant carries Grad-CAM maps of the targets and its decoded poster (for the sheet).
        """
        chosen = match_genres(split_genre_list(targets), self.genres)
        if not chosen:
            raise PosterGenreError(f"no target genres given; choose from: {', '.join(self.genres)}")
        predictions: list[PosterPrediction | PosterFailure] = []
        for x in xs:
            try:
                predictions.append(self.predict(x, heatmaps=chosen if heatmaps else False))
            except PosterGenreError as exc:
                predictions.append(PosterFailure(source=_source_of(x), error=str(exc), id=getattr(x, "id", None)))
        from .compare import rank_variants

        result = rank_variants(predictions, chosen, synopsis_given=bool(synopsis and synopsis.strip()))
        for v in result.variants:
            v.heatmaps, v.image = v.prediction.heatmaps, v.prediction.image
        return result

    # -- brief ---------------------------------------------------------------------------------------------

    def audiences(self, home: Path | str | None = None) -> CatalogAudiences:
        """The catalog's ratings and plots for `home` (read on first use, then reused); its plot keywords are fitted
        on the first brief that needs them."""
        from .audiences import CatalogAudiences

        return self._per_home(self._audiences, home, CatalogAudiences.from_home)

    def brief(
        self,
        xs: Sequence[PosterLike],
        *,
        synopsis: str | None = None,
        intended: Sequence[str] | str | None = None,
        title: str | None = None,
        ratings: Collection[str] | None = None,
        home: Path | str | None = None,
        heatmaps: bool = False,
        film: str | BriefFilm | None = None,
    ) -> Brief:
        """The campaign brief for 1–6 poster variants of one film (see `brief.py`): recommendation, story vs
        poster, per-variant readings, comparable titles with keyword seeds, how sure the model is.

        `film`: the film's IMDb id in the catalog of `home` (or its `BriefFilm`): its catalogued genres are never
        called unwanted, and its title and plot stand in for `title` and `synopsis` when those are not given.
        `ratings`: the content ratings of comparable titles (None: the studio's own; [] every rating). `heatmaps`:
        Grad-CAM maps of the targets on each variant, for the HTML page (`render.brief.render_brief`; they load
        torch). Inputs that cannot be read become failures in the brief; without catalog embeddings the
        audiences part says how to add them.
        """
        from .brief import BriefFilm, build_brief

        if not 1 <= len(xs) <= MAX_BRIEF_VARIANTS:
            raise PosterGenreError(f"a brief takes 1 to {MAX_BRIEF_VARIANTS} poster variants, got {len(xs)}")
        match_genres(split_genre_list(intended), self.genres)  # a typo fails before any work
        if isinstance(film, str):
            film = BriefFilm.from_home(home if home is not None else self.home, film)  # an unknown id too
        # Poster signal only: the story is the brief's one synopsis, never a CSV row's.
        posters = [replace(x, synopsis=None) if isinstance(x, PosterInput) else x for x in xs]
        predictions = self.predict_many(posters, keep_images=True)
        similarity = catalog = unavailable = None
        try:
            similarity, catalog = self.similarity(home), self.audiences(home)
        except ModelError as exc:
            unavailable = str(exc)
        return build_brief(
            self.core,
            predictions,
            synopsis=synopsis,
            intended=intended,
            title=title,
            film=film,
            similarity=similarity,
            catalog=catalog,
            unavailable=unavailable,
            ratings=ratings,
            heatmaps=heatmaps,
        )


def _source_of(x: Any) -> str:
    if isinstance(x, PosterInput):
        return x.source
    if isinstance(x, (str, Path)):
        return str(x)
    if isinstance(x, Image.Image):
        return "<image>"
    return "<bytes>"
