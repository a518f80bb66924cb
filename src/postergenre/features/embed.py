"""Turn posters into cached feature vectors: the batched catalog runner and the in-process path.

`embed_catalog` computes the vectors a catalog is missing. A few worker threads each take a whole
batch through read, decode, resize and the forward pass (Pillow and both runtimes release the GIL), so
one batch's decoding overlaps another's forward pass and every core is busy without intra-op threads
(whose barriers spin-wait badly when the machine is shared). Every batch is committed in one
transaction by the main thread, in order: killing the run at any moment loses at most the batches in
flight, and a rerun picks up where it stopped. A poster that fails to decode is recorded with its
reason and skipped on later runs. Progress goes to a `progress.ProgressFn` callback (the CLI draws it).

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
from .cache import EmbeddingCache
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

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)  # batches processed at once, one per core
DEFAULT_RUNTIME = "auto"
__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_RUNTIME",
    "DEFAULT_THREADS",
    "DEFAULT_WORKERS",
    "EmbedSummary",
    "embed_catalog",
    "embed_images",
    "selected_posters",
]


@dataclass
class EmbedSummary:
    backbone: str
    preprocess_version: str
    runtime: str = ""  # "onnx" or "torch": which runtime computed this run's vectors
    posters: int = 0  # distinct poster hashes among the selected movies with an ok poster
    cached_before: int = 0
    embedded: int = 0
    failed: int = 0  # newly failed in this run
    failed_before: int = 0  # skipped: failed on an earlier run
    seconds: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)  # sha256 -> reason (this run)

    @property
    def rate(self) -> float:
        """Posters per second over the whole run (0 when nothing was computed)."""
        return self.embedded / self.seconds if self.seconds and self.embedded else 0.0

    @property
    def complete(self) -> bool:
        return self.cached_before + self.embedded + self.failed + self.failed_before == self.posters

    def record_batch(
        self, cache: EmbeddingCache, vectors: dict[str, np.ndarray], failures: dict[str, str], advance: Advance
    ) -> None:
        """Store one finished batch in the cache (one transaction) and count it: both engines' merge step."""
        cache.record(vectors, failures)
        self.embedded += len(vectors)
        self.failed += len(failures)
        self.failures.update(failures)
        advance(len(vectors) + len(failures), self.embedded, self.failed)


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
    store: PosterStore, spec: BackboneSpec, shas: Sequence[str]
) -> tuple[list[str], np.ndarray | None, dict[str, str]]:
    """Read, decode and resize one batch -> (ok hashes, uint8 pixels [n, H, W, 3], failures)."""
    ok: list[str] = []
    pixels: list[np.ndarray] = []
    failures: dict[str, str] = {}
    for sha in shas:
        try:
            image = decode_image(store.path(sha), name=f"poster {sha}", max_side=spec.preprocessing.decode_max_side)
            pixels.append(spec.preprocessing.prepare_pixels(image))
            ok.append(sha)
        except PosterDecodeError as exc:
            failures[sha] = str(exc)
        except (OSError, ValueError) as exc:  # missing from the store, unreadable
            failures[sha] = f"poster {sha}: cannot read from the poster store ({exc})"
    return ok, (np.stack(pixels) if pixels else None), failures


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
) -> EmbedSummary:
    """Compute and cache the vectors that the selected movies' posters are missing.

    `workers` batches in flight, each in its own thread (0 or 1: one at a time in this thread);
    `threads` intra-op threads per forward pass. Posters that failed before are skipped unless
    `retry_failed`. `runtime`: a loaded InferenceRuntime of `spec` (reused, not closed), or a kind for
    `load_runtime` ("auto", "onnx", "torch", "onnx-int8"; exported graphs cached under `runtime_cache`).
    Vectors are cached under the runtime's `vector_key`: onnx-int8 ones apart from fp32 ones.
    `progress` is called after every batch with the posters done so far.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
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
    catalog: Catalog, cache: EmbeddingCache, summary: EmbedSummary, flt: MovieFilter | None, retry_failed: bool
) -> list[str]:
    """The poster hashes still to embed, in order (shared by the local and the Ray engine); fills the summary's
    counts of selected, already cached and previously failed posters."""
    shas = selected_posters(catalog, flt)
    summary.posters = len(shas)
    todo = cache.missing(shas)
    summary.cached_before = len(shas) - len(todo)
    if not retry_failed:
        failed_before = cache.failures()
        summary.failed_before = sum(1 for s in todo if s in failed_before)
        todo = [s for s in todo if s not in failed_before]
    return todo


def _embed_missing(
    catalog: Catalog,
    store: PosterStore,
    spec: BackboneSpec,
    runtime: InferenceRuntime | str,
    runtime_cache: Path | str | None,
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
    backbone, version = runtime.vector_key if isinstance(runtime, InferenceRuntime) else vector_key(spec, runtime)
    summary = EmbedSummary(backbone, version)
    with EmbeddingCache(catalog.path, backbone, version) as cache:
        todo = work_list(catalog, cache, summary, flt, retry_failed)
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
        if rt.vector_key != (backbone, version):  # "auto" fell back to another runtime (the log says why)
            try:
                return _embed_missing(
                    catalog,
                    store,
                    spec,
                    rt,
                    runtime_cache,
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
        batches = [todo[i : i + batch_size] for i in range(0, len(todo), batch_size)]
        task = f"embed {spec.name} ({rt.name})"
        start = time.perf_counter()
        try:
            with counter(progress, len(todo), task) as advance:
                for ok, vectors, failures in _pipelined(store, spec, rt, batches, workers):
                    summary.record_batch(cache, dict(zip(ok, vectors, strict=True)), failures, advance)
        finally:
            summary.seconds = time.perf_counter() - start
            if owned:
                rt.close()
    return summary


def _pipelined(
    store: PosterStore, spec: BackboneSpec, runtime: InferenceRuntime, batches: list[list[str]], workers: int
) -> Iterator[tuple[list[str], np.ndarray, dict[str, str]]]:
    """Yield (hashes, vectors, failures) per batch, in order, with `workers` batches in flight.

    Each worker thread decodes its batch and runs the forward pass itself (both runtimes release the GIL), so
    the cores work on different batches instead of splitting each operator: no OpenMP barrier
    spin-waits, which cost a loaded 2-core machine more than half its throughput.
    """

    def process(shas: list[str]) -> tuple[list[str], np.ndarray, dict[str, str]]:
        ok, pixels, failures = _load_batch(store, spec, shas)
        if pixels is None:
            return ok, np.zeros((0, spec.feature_dim), dtype=np.float32), failures
        return ok, runtime.embed_pixels(spec.preprocessing.normalize(pixels)), failures

    if workers <= 1:
        yield from map(process, batches)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="embed") as pool:
        pending: deque[Future] = deque()
        queue = iter(batches)
        try:
            for shas in queue:
                pending.append(pool.submit(process, shas))
                if len(pending) > workers:  # one batch queued beyond the running ones keeps cores busy
                    break
            while pending:
                result = pending.popleft().result()
                next_shas = next(queue, None)
                if next_shas is not None:
                    pending.append(pool.submit(process, next_shas))
                yield result
        finally:
            for fut in pending:
                fut.cancel()
