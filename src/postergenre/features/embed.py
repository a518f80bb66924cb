"""Turn posters into cached feature vectors: the batched catalog runner and the in-process path.

`embed_catalog` computes the vectors a catalog is missing. A few worker threads each take a whole
batch through read, decode, resize and the forward pass (Pillow and torch release the GIL), so one
batch's decoding overlaps another's forward pass and every core is busy without torch's intra-op
threads (whose barriers spin-wait badly when the machine is shared). Every batch is committed in one
transaction by the main thread, in order: killing the run at any moment loses at most the batches in
flight, and a rerun picks up where it stopped. A poster that fails to decode is recorded with its
reason and skipped on later runs.

`embed_images` is the path used by prediction: same preprocessing, same network, no cache.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from ..catalog.filters import MovieFilter
from ..catalog.store import Catalog
from ..errors import PosterDecodeError
from ..posters.images import decode_image
from ..posters.store import PosterStore
from .backbones import BackboneSpec, FeatureNet
from .cache import EmbeddingCache
from .preprocess import preprocess_batch

DEFAULT_BATCH_SIZE = 4  # small batches stay in the CPU caches: ~30% less CPU per poster than 16
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)  # batches processed at once, one per core
DEFAULT_THREADS = 1  # torch threads per batch: parallelism comes from the workers


@dataclass
class EmbedSummary:
    backbone: str
    preprocess_version: str
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


def _run_net(net: FeatureNet, x: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        return net(x.contiguous(memory_format=torch.channels_last)).numpy()


def embed_images(images: Sequence[Image.Image], net: FeatureNet, spec: BackboneSpec,
                 *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Decoded RGB images -> float32 [N, spec.feature_dim], exactly as `embed_catalog` caches them."""
    out = [_run_net(net, preprocess_batch(images[i:i + batch_size], spec)) for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, spec.feature_dim), dtype=np.float32)


def _load_batch(store: PosterStore, spec: BackboneSpec, shas: Sequence[str]) -> tuple[list[str], np.ndarray | None, dict[str, str]]:
    """Read, decode and resize one batch -> (ok hashes, uint8 pixels [n, H, W, 3], failures)."""
    ok: list[str] = []
    pixels: list[np.ndarray] = []
    failures: dict[str, str] = {}
    for sha in shas:
        try:
            image = decode_image(store.path(sha), name=f"poster {sha}")
            pixels.append(spec.preprocessing.prepare_pixels(image))
            ok.append(sha)
        except PosterDecodeError as exc:
            failures[sha] = str(exc)
        except (OSError, ValueError) as exc:  # missing from the store, unreadable
            failures[sha] = f"poster {sha}: cannot read from the poster store ({exc})"
    return ok, (np.stack(pixels) if pixels else None), failures


class _RateColumn(ProgressColumn):
    def render(self, task) -> Text:
        return Text(f"{task.speed:.1f} posters/s" if task.speed else "… posters/s")


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator:
    if not enabled:
        yield lambda n: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), _RateColumn(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), speed_estimate_period=60) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)


def selected_posters(catalog: Catalog, flt: MovieFilter | None = None) -> list[str]:
    """Distinct sha256 of the ok posters of the selected movies, sorted (the work list)."""
    movies = catalog.movies(flt)
    return sorted({m.poster_sha256 for m in movies if m.poster_status == "ok" and m.poster_sha256})


def embed_catalog(catalog: Catalog, store: PosterStore, spec: BackboneSpec, *,
                  batch_size: int = DEFAULT_BATCH_SIZE, workers: int = DEFAULT_WORKERS,
                  threads: int = DEFAULT_THREADS, flt: MovieFilter | None = None,
                  retry_failed: bool = False, progress: bool = False,
                  net: FeatureNet | None = None) -> EmbedSummary:
    """Compute and cache the vectors that the selected movies' posters are missing.

    `workers` batches in flight, each in its own thread (0 or 1: one at a time in this thread);
    `threads` torch intra-op threads per forward pass. Posters that failed before are skipped unless
    `retry_failed`. `net` reuses an already built network (it must belong to `spec`).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    shas = selected_posters(catalog, flt)
    summary = EmbedSummary(spec.name, spec.preprocess_version, posters=len(shas))
    with EmbeddingCache(catalog.path, spec.name, spec.preprocess_version) as cache:
        todo = cache.missing(shas)
        summary.cached_before = len(shas) - len(todo)
        if not retry_failed:
            failed_before = cache.failures()
            summary.failed_before = sum(1 for s in todo if s in failed_before)
            todo = [s for s in todo if s not in failed_before]
        if not todo:
            return summary
        net = net or spec.build()
        batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
        start = time.perf_counter()
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, threads))  # process-wide in torch: restored below
        try:
            with _progress(progress, len(todo), f"embed {spec.name}") as advance:
                for ok, vectors, failures in _pipelined(store, spec, net, batches, workers):
                    cache.record(dict(zip(ok, vectors)), failures)
                    summary.embedded += len(ok)
                    summary.failed += len(failures)
                    summary.failures.update(failures)
                    advance(len(ok) + len(failures))
        finally:
            torch.set_num_threads(previous_threads)
        summary.seconds = time.perf_counter() - start
    return summary


def _pipelined(store: PosterStore, spec: BackboneSpec, net: FeatureNet, batches: list[list[str]],
               workers: int) -> Iterator[tuple[list[str], np.ndarray, dict[str, str]]]:
    """Yield (hashes, vectors, failures) per batch, in order, with `workers` batches in flight.

    Each worker thread decodes its batch and runs the forward pass itself (torch releases the GIL), so
    the cores work on different batches instead of splitting each operator: no OpenMP barrier
    spin-waits, which cost a loaded 2-core machine more than half its throughput.
    """
    def process(shas: list[str]) -> tuple[list[str], np.ndarray, dict[str, str]]:
        ok, pixels, failures = _load_batch(store, spec, shas)
        if pixels is None:
            return ok, np.zeros((0, spec.feature_dim), dtype=np.float32), failures
        return ok, _run_net(net, spec.preprocessing.pixels_to_tensor(pixels)), failures

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
