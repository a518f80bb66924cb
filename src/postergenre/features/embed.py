"""Turn posters into cached feature vectors: the batched catalog runner and the in-process path.

`embed_catalog` computes the vectors a catalog is missing, for each view of a poster asked for (`views.py`: the
poster as given and its mirror image, each cached under its own key). A few worker threads each take a whole
batch through read, decode, resize and the forward pass (Pillow and both runtimes release the GIL), so
one batch's decoding overlaps another's forward pass and every core is busy without intra-op threads
(whose barriers spin-wait badly when the machine is shared). A poster is decoded and letterboxed once for all its
views; each view of a batch is its own forward pass of the batch's posters, so the poster's own vectors are those a
one-view run computes. Every batch is committed by the main thread, in order, one transaction per view: killing the
run at any moment loses at most the batches in flight, and a rerun computes only the views still missing (an older
data folder with the posters' vectors gets just the mirrored ones). A poster that fails to decode is recorded with
its reason and skipped on later runs. Progress goes to a `progress.ProgressFn` callback (the CLI draws it).

`embed_images` is the path used by prediction: same preprocessing, same runtime, no cache.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..catalog.filters import MovieFilter
from ..catalog.store import Catalog
from ..errors import PosterDecodeError
from ..posters.images import decode_image
from ..posters.store import PosterStore
from ..progress import Advance, ProgressFn, counter, no_progress
from .cache import ViewCaches
from .registry import BackboneSpec
from .runtime import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_THREADS,
    InferenceRuntime,
    TorchRuntime,
    load_runtime,
    prepare_runtime,
    vector_key,
)
from .views import DEFAULT_VIEWS, ONE_VIEW, parse_views, prepare_views

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)  # batches processed at once, one per core
DEFAULT_RUNTIME = "auto"
__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_RUNTIME",
    "DEFAULT_THREADS",
    "DEFAULT_VIEWS",
    "DEFAULT_WORKERS",
    "EmbedSummary",
    "embed_catalog",
    "embed_images",
    "selected_posters",
]
Work = tuple[tuple[str, ...], list[str]]
"""(the views to compute, the poster hashes that miss them): one batch, or one bucket of the work list."""
ViewResults = dict[str, tuple[dict[str, np.ndarray], dict[str, str]]]
"""One batch's outcome per view: ({sha256: vector}, {sha256: why it failed})."""


@dataclass
class EmbedSummary:
    backbone: str  # the cache key of the posters' own vectors (each other view's: views.view_key)
    preprocess_version: str
    runtime: str = ""  # "onnx" or "torch": which runtime computed this run's vectors
    views: tuple[str, ...] = ONE_VIEW  # the views embedded
    posters: int = 0  # distinct poster hashes among the selected movies with an ok poster
    cached_before: int = 0  # posters with every view cached before this run
    embedded: int = 0  # posters whose missing views this run computed
    failed: int = 0  # newly failed in this run
    failed_before: int = 0  # skipped: failed on an earlier run
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)  # sha256 -> reason (this run)

    @property
    def rate(self) -> float:
        """Posters per second over the whole run, each with all its views (0 when nothing was computed)."""
        return self.embedded / self.seconds if self.seconds and self.embedded else 0.0

    @property
    def complete(self) -> bool:
        return self.cached_before + self.embedded + self.failed + self.failed_before == self.posters

    def record_batch(self, caches: ViewCaches, results: ViewResults, advance: Advance) -> None:
        """Store one finished batch, each view's vectors and failures in its cache (one transaction per view), and
        count it: both engines' merge step."""
        done: set[str] = set()
        failed: dict[str, str] = {}
        for view, (vectors, failures) in results.items():
            caches.by_view[view].record(vectors, failures)
            done.update(vectors)
            failed.update(failures)
        done.difference_update(failed)
        self.embedded += len(done)
        self.failed += len(failed)
        self.failures.update(failed)
        advance(len(done) + len(failed), self.embedded, self.failed)


def embed_images(
    images: Sequence[Image.Image],
    runtime: InferenceRuntime | Any,
    spec: BackboneSpec | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Decoded RGB images -> float32 [N, spec.feature_dim], exactly as `embed_catalog` caches them.

    `runtime`: an InferenceRuntime, or a torch network of `spec` (run through TorchRuntime).
    """
    if not isinstance(runtime, InferenceRuntime):
        if spec is None:
            raise TypeError("embed_images needs the backbone spec to run a bare torch network")
        runtime = TorchRuntime(spec, runtime, threads=None)
    return runtime.embed(images, batch_size=batch_size)


def _load_batch(
    store: PosterStore, spec: BackboneSpec, shas: Sequence[str], views: Sequence[str] = ONE_VIEW
) -> tuple[list[str], np.ndarray | None, dict[str, str]]:
    """Read, decode and letterbox one batch -> (ok hashes, uint8 pixels [n, len(views), H, W, 3], failures)."""
    ok: list[str] = []
    pixels: list[np.ndarray] = []
    failures: dict[str, str] = {}
    for sha in shas:
        try:
            image = decode_image(store.path(sha), name=f"poster {sha}", max_side=spec.preprocessing.decode_max_side)
            pixels.append(prepare_views(spec.preprocessing, image, views))
            ok.append(sha)
        except PosterDecodeError as exc:
            failures[sha] = str(exc)
        except (OSError, ValueError) as exc:  # missing from the store, unreadable
            failures[sha] = f"poster {sha}: cannot read from the poster store ({exc})"
    return ok, (np.stack(pixels) if pixels else None), failures


def embed_batch(runtime: InferenceRuntime, store: PosterStore, spec: BackboneSpec, work: Work) -> ViewResults:
    """One batch of posters through every view it misses: each view one forward pass of the batch's posters (the
    local and the Ray engine's step, so their vectors are identical); a poster that fails, fails every view."""
    views, shas = work
    ok, pixels, failures = _load_batch(store, spec, shas, views)
    out: ViewResults = {}
    for j, view in enumerate(views):
        vectors: np.ndarray | list[np.ndarray] = (
            runtime.embed_pixels(spec.preprocessing.normalize(pixels[:, j])) if pixels is not None else []
        )
        out[view] = (dict(zip(ok, vectors, strict=True)), dict(failures))
    return out


def selected_posters(catalog: Catalog, flt: MovieFilter | None = None) -> list[str]:
    """Distinct sha256 of the ok posters of the selected movies, sorted (the work list)."""
    movies = catalog.movies(flt)
    return sorted({m.poster_sha256 for m in movies if m.poster_status == "ok" and m.poster_sha256})


def embed_catalog(
    catalog: Catalog,
    store: PosterStore,
    spec: BackboneSpec,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = DEFAULT_WORKERS,
    threads: int = DEFAULT_THREADS,
    flt: MovieFilter | None = None,
    retry_failed: bool = False,
    progress: ProgressFn = no_progress,
    runtime: InferenceRuntime | str = DEFAULT_RUNTIME,
    runtime_cache: Path | str | None = None,
    views: Sequence[str] = DEFAULT_VIEWS,
) -> EmbedSummary:
    """Compute and cache the vectors of `views` (default: the poster and its mirror, what the default recipe reads)
    that the selected movies' posters are missing.

    `workers` batches in flight, each in its own thread (0 or 1: one at a time in this thread);
    `threads` intra-op threads per forward pass. Posters that failed before are skipped unless
    `retry_failed`. `runtime`: a loaded InferenceRuntime of `spec` (reused, not closed), or a kind for
    `load_runtime` ("auto", "onnx", "torch", "onnx-int8"; exported graphs cached under `runtime_cache`).
    Vectors are cached under the runtime's `vector_key` (onnx-int8 ones apart from fp32 ones), each view's under
    `views.view_key` of it. `progress` is called after every batch with the posters done so far.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    views = parse_views(views)
    if isinstance(runtime, InferenceRuntime) and runtime.spec.name != spec.name:
        raise ValueError(f"runtime of backbone {runtime.spec.name} given to embed {spec.name}")
    owned = not isinstance(runtime, InferenceRuntime)
    try:
        return _embed_missing(
            catalog,
            store,
            spec,
            runtime,
            runtime_cache,
            views,
            batch_size=batch_size,
            workers=workers,
            threads=threads,
            flt=flt,
            retry_failed=retry_failed,
            progress=progress,
        )
    finally:
        if owned and isinstance(runtime, InferenceRuntime):
            runtime.close()


def work_list(
    catalog: Catalog, caches: ViewCaches, summary: EmbedSummary, flt: MovieFilter | None, retry_failed: bool
) -> list[Work]:
    """What is still to embed, in order (shared by the local and the Ray engine): the selected posters missing some
    view, bucketed by the views they miss; fills the summary's counts of selected, already cached and previously
    failed posters."""
    shas = selected_posters(catalog, flt)
    summary.posters = len(shas)
    gaps = caches.missing_by_view(shas)
    todo = [s for s in shas if any(s in gap for gap in gaps.values())]
    summary.cached_before = len(shas) - len(todo)
    if not retry_failed:
        failed_before = caches.failures()
        summary.failed_before = sum(1 for s in todo if s in failed_before)
        todo = [s for s in todo if s not in failed_before]
    buckets: dict[tuple[str, ...], list[str]] = {}
    for sha in todo:
        buckets.setdefault(tuple(v for v in caches.views if sha in gaps[v]), []).append(sha)
    return list(buckets.items())


def batches_of(work: list[Work], batch_size: int) -> list[Work]:
    """The work list cut into batches of `batch_size` posters (a batch never mixes buckets)."""
    return [(views, shas[i : i + batch_size]) for views, shas in work for i in range(0, len(shas), batch_size)]


def _embed_missing(
    catalog: Catalog,
    store: PosterStore,
    spec: BackboneSpec,
    runtime: InferenceRuntime | str,
    runtime_cache: Path | str | None,
    views: tuple[str, ...],
    *,
    batch_size: int,
    workers: int,
    threads: int,
    flt: MovieFilter | None,
    retry_failed: bool,
    progress: ProgressFn,
) -> EmbedSummary:
    # Known before loading anything, so that a rerun with nothing to do builds no session (it only checks that the
    # runtime's graph is in place).
    key = runtime.vector_key if isinstance(runtime, InferenceRuntime) else vector_key(spec, runtime)
    summary = EmbedSummary(*key, views=views)
    with ViewCaches(catalog.path, key, views) as caches:
        todo = work_list(catalog, caches, summary, flt, retry_failed)
        owned = not isinstance(runtime, InferenceRuntime)
        if not todo:
            # the set-up leaves the graph ready for the first prediction
            if not isinstance(runtime, InferenceRuntime) and runtime_cache is not None:
                prepare_runtime(spec, runtime, cache_dir=runtime_cache)
            return summary
        rt = (
            runtime
            if isinstance(runtime, InferenceRuntime)
            else load_runtime(spec, runtime, cache_dir=runtime_cache, threads=threads)
        )
        if rt.vector_key != key:  # "auto" fell back to another runtime (the log says why)
            try:
                return _embed_missing(
                    catalog,
                    store,
                    spec,
                    rt,
                    runtime_cache,
                    views,
                    batch_size=batch_size,
                    workers=workers,
                    threads=threads,
                    flt=flt,
                    retry_failed=retry_failed,
                    progress=progress,
                )
            finally:
                rt.close()
        summary.runtime = rt.name
        task = f"embed {spec.name} ({rt.name}{', ' + ' + '.join(views) if len(views) > 1 else ''})"
        start = time.perf_counter()
        try:
            with counter(progress, sum(len(shas) for _, shas in todo), task) as advance:
                for results in _pipelined(store, spec, rt, batches_of(todo, batch_size), workers):
                    summary.record_batch(caches, results, advance)
        finally:
            summary.seconds = time.perf_counter() - start
            if owned:
                rt.close()
    return summary


def _pipelined(
    store: PosterStore, spec: BackboneSpec, runtime: InferenceRuntime, batches: list[Work], workers: int
) -> Iterator[ViewResults]:
    """Yield each batch's results per view, in order, with `workers` batches in flight.

    Each worker thread decodes its batch and runs the forward passes itself (both runtimes release the GIL), so
    the cores work on different batches instead of splitting each operator: no OpenMP barrier
    spin-waits, which cost a loaded 2-core machine more than half its throughput.
    """

    def process(work: Work) -> ViewResults:
        return embed_batch(runtime, store, spec, work)

    if workers <= 1:
        yield from map(process, batches)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
        pending: deque[Future] = deque()
        queue = iter(batches)
        try:
            for work in queue:
                pending.append(pool.submit(process, work))
                if len(pending) > workers:  # one batch queued beyond the running ones keeps cores busy
                    break
            while pending:
                result = pending.popleft().result()
                next_work = next(queue, None)
                if next_work is not None:
                    pending.append(pool.submit(process, next_work))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
