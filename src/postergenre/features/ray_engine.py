"""The Ray Data batch engine: `embed_catalog` for catalogs that outgrow one machine.

    hashes still missing ─► from_items (groups of 4) ─► map_batches(PosterEmbedder, actor pool) ─► iter_batches
    (and the views each misses)                         runtime built once per actor            └► SQLite cache,
                                                                                                     batch by batch
Same work list, same batch step (`embed.embed_batch`: decoding, each view one forward pass), same runtime and the
same forward-pass groups of DEFAULT_BATCH_SIZE posters as the local engine, so the vectors are identical (a
different grouping changes them by ~1e-5 on ONNX Runtime). The driver merges each finished Ray batch into the
embedding cache as it arrives (one transaction per view): a rerun skips what is done, and a killed run loses only the
batches in flight.

Ray is an optional extra (`pip install '.[ray]'`); without it `require_ray` raises a RayUnavailableError that
says how to install it. On a cluster every node must see the data folder (posters and exported runtime graphs)
at the same path, e.g. on NFS: actors read posters from the poster store themselves, so only hashes and vectors
travel through Ray.

On one machine Ray is not faster than the local engine (benchmarks/scale.py): it is the path beyond one machine.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from ..catalog.filters import MovieFilter
from ..catalog.store import Catalog
from ..errors import PosterGenreError
from ..posters.store import PosterStore
from ..progress import ProgressFn, counter, no_progress
from .cache import ViewCaches
from .embed import DEFAULT_RUNTIME, EmbedSummary, ViewResults, batches_of, embed_batch, work_list
from .registry import BackboneSpec, get_backbone
from .runtime import DEFAULT_BATCH_SIZE, InferenceRuntime, load_runtime, vector_key
from .views import DEFAULT_VIEWS, parse_views, views_text

RAY_PIN = "ray[data]==2.60.0"
INSTALL_HINT = (
    f"install the optional extra: pip install '.[ray]' in the postergenre checkout (or pip install '{RAY_PIN}')"
)
DEFAULT_RAY_BATCH_SIZE = 64  # posters per Ray batch: one SQLite transaction on the driver, ~730 KB of lite0 vectors
GROUP_SEPARATOR = ","  # an item is one forward pass: up to DEFAULT_BATCH_SIZE hashes joined by this


class RayUnavailableError(PosterGenreError):
    """The Ray engine was asked for but ray[data] is not installed, or the cluster cannot be reached."""


def require_ray() -> ModuleType:
    """The `ray` module with Ray Data, or a RayUnavailableError saying how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise RayUnavailableError(
            f"--engine ray needs Ray Data, which is not installed ({exc}); {INSTALL_HINT}"
        ) from exc
    return ray


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide the Ray engine runs.

    `address`: an existing cluster ("auto", "HOST:6379", "ray://HOST:10001"); None starts a local one of
    `num_cpus` CPUs (default: this machine's). `actors`: the actor pool's size (default: `default_actors`, one per
    CPU, less one for the driver on clusters of 4+ CPUs). `batch_size`: posters per Ray batch.
    """

    address: str | None = None
    actors: int | None = None
    batch_size: int = DEFAULT_RAY_BATCH_SIZE
    num_cpus: int | None = None

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise PosterGenreError(f"--ray-batch-size must be at least 1, got {self.batch_size}")
        if self.actors is not None and self.actors < 1:
            raise PosterGenreError(f"--ray-actors must be at least 1, got {self.actors}")


@contextmanager
def ray_session(options: RayOptions) -> Iterator[ModuleType]:
    """Ray connected to `options.address` or to a new local cluster; quiet (no dashboard, warnings only).

    A session already open in this process (a test module's, a notebook's) is reused and left open.
    """
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    local = options.address is None
    # Ray 2.60 turns token auth on for a new local cluster and warns that it did: the right default, said quietly.
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    try:
        ray.init(
            address=options.address,
            num_cpus=(options.num_cpus or os.cpu_count() or 1) if local else None,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {options.address}" if options.address else "a local Ray cluster"
        raise RayUnavailableError(f"cannot start or reach {where}: {exc}") from exc
    try:
        yield ray
    finally:
        ray.shutdown()


def _quiet_ray_data() -> None:
    """No progress bars or per-run banners from Ray Data: the caller draws its own progress."""
    from ray.data import DataContext

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.enable_operator_progress_bars = False
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)


SMALL_CLUSTER_CPUS = 4


def default_actors(ray: ModuleType) -> int:
    """One actor per CPU of the cluster, less one CPU for the driver's merge from SMALL_CLUSTER_CPUS up.

    Below that a whole core for the driver costs more than it saves: the merge and Ray's own processes took
    ~5 ms of CPU per poster against ~21 ms in the actors (benchmarks/scale.py), and on 2 loaded cores 2 actors
    finished 5,000 posters in 103 s where 1 actor took 124 s.
    """
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return cpus - 1 if cpus >= SMALL_CLUSTER_CPUS else cpus


class PosterEmbedder:
    """Ray Data UDF: builds the inference runtime once per actor, then embeds batches of poster groups.

    Input batch: {"group": hashes joined by GROUP_SEPARATOR, "views": the views they miss, joined the same way; one
    `embed.embed_batch` each}. Output batch, one row per poster and view: {"sha256", "view", "vector" float32 [n, D]
    (zeros for a failure), "failure" ("" when the poster embedded)}.
    """

    def __init__(self, backbone: str, runtime: str, runtime_cache: str | None, poster_root: str, threads: int = 1):
        if not Path(poster_root).is_dir():  # else every poster would be recorded as failed (and then skipped)
            import socket

            raise RayUnavailableError(
                f"poster store {poster_root} not found on node {socket.gethostname()}: every "
                "node must see the data folder at the same path (e.g. NFS)"
            )
        self.spec = get_backbone(backbone)
        self.store = PosterStore(Path(poster_root))
        self.runtime = load_runtime(self.spec, runtime, cache_dir=runtime_cache, threads=threads)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: list[tuple[str, str, str]] = []
        vectors: list[np.ndarray] = []
        for group, views in zip(batch["group"], batch["views"], strict=True):
            work = (tuple(str(views).split(GROUP_SEPARATOR)), str(group).split(GROUP_SEPARATOR))
            for view, (found, failures) in embed_batch(self.runtime, self.store, self.spec, work).items():
                rows += [(sha, view, "") for sha in found]
                vectors += list(found.values())
                rows += [(sha, view, reason) for sha, reason in failures.items()]
                vectors += [np.zeros(self.spec.feature_dim, dtype=np.float32)] * len(failures)
        matrix = np.stack(vectors) if vectors else np.zeros((0, self.spec.feature_dim), dtype=np.float32)
        return {
            "sha256": np.asarray([r[0] for r in rows], dtype=object),
            "view": np.asarray([r[1] for r in rows], dtype=object),
            "vector": matrix.astype(np.float32, copy=False),
            "failure": np.asarray([r[2] for r in rows], dtype=object),
        }


def _resolve_runtime(
    spec: BackboneSpec, runtime: InferenceRuntime | str, runtime_cache: Path | str | None
) -> tuple[str, tuple[str, str]]:
    """The runtime kind every actor will load and the cache key of its vectors: "auto" settled once here, and
    the ONNX graph exported (and quantized) once into `runtime_cache` before the actors start (else each
    would build it, needing torch). Every actor then builds the same graph, int8 included: its activation
    ranges come from the table shipped with the package, not from the posters an actor happens to see."""
    if isinstance(runtime, InferenceRuntime):
        return runtime.name, runtime.vector_key
    if runtime == "torch":
        return "torch", vector_key(spec, "torch")
    with load_runtime(spec, runtime, cache_dir=runtime_cache) as rt:
        return rt.name, rt.vector_key


def embed_catalog_ray(
    catalog: Catalog,
    store: PosterStore,
    spec: BackboneSpec,
    *,
    options: RayOptions = RayOptions(),
    flt: MovieFilter | None = None,
    retry_failed: bool = False,
    progress: ProgressFn = no_progress,
    runtime: InferenceRuntime | str = DEFAULT_RUNTIME,
    runtime_cache: Path | str | None = None,
    views: Sequence[str] = DEFAULT_VIEWS,
) -> EmbedSummary:
    """`embed.embed_catalog` on Ray Data: compute and cache the vectors of `views` the selected movies' posters miss.

    `runtime`: a kind for `load_runtime` ("auto", "onnx", "torch"), or a loaded runtime whose kind the actors
    use. Exported graphs are cached under `runtime_cache`, which every node must see at the same path.
    """
    require_ray()
    views = parse_views(views)
    kind, key = _resolve_runtime(spec, runtime, runtime_cache)
    summary = EmbedSummary(*key, views=views)
    with ViewCaches(catalog.path, key, views) as caches:
        todo = work_list(catalog, caches, summary, flt, retry_failed)
        if not todo:
            return summary
        summary.runtime = kind
        task = f"embed {spec.name} ({kind}, ray)"
        start = time.perf_counter()
        try:
            with (
                counter(progress, sum(len(shas) for _, shas in todo), task, detail="starting Ray") as advance,
                ray_session(options) as ray,
            ):
                for results in _run(
                    ray, spec, store, batches_of(todo, DEFAULT_BATCH_SIZE), kind, runtime_cache, options
                ):
                    summary.record_batch(caches, results, advance)
        finally:
            summary.seconds = time.perf_counter() - start
    return summary


def _run(
    ray: ModuleType,
    spec: BackboneSpec,
    store: PosterStore,
    groups: list[tuple[tuple[str, ...], list[str]]],
    kind: str,
    runtime_cache: Path | str | None,
    options: RayOptions,
) -> Iterator[ViewResults]:
    """Yield each finished Ray batch's results per view, in completion order. `groups`: the local engine's
    forward-pass groups, in its order (identical groups give identical vectors)."""
    importlib.import_module("ray.data")  # read below as `ray.data`, an attribute of the `ray` module passed in

    groups_per_batch = max(1, options.batch_size // DEFAULT_BATCH_SIZE)
    actors = options.actors or default_actors(ray)
    blocks = max(1, min(len(groups), -(-len(groups) // groups_per_batch)))
    items = [{"group": GROUP_SEPARATOR.join(shas), "views": views_text(views)} for views, shas in groups]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Ray Data's deprecation notes about its own settings
        _quiet_ray_data()
        ds = ray.data.from_items(items, override_num_blocks=blocks)
        ds = ds.map_batches(
            PosterEmbedder,
            fn_constructor_kwargs={
                "backbone": spec.name,
                "runtime": kind,
                "runtime_cache": None if runtime_cache is None else str(runtime_cache),
                "poster_root": str(store.root),
            },
            batch_size=groups_per_batch,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
    try:
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            yield _results(batch)
    except ray.exceptions.RayError as exc:  # an actor that cannot start, a lost node past its retries
        lines = [line for line in str(exc).splitlines() if line.strip()]
        raise RayUnavailableError(
            f"the Ray job failed (finished batches are kept; rerun to continue): "
            f"{lines[-1] if lines else type(exc).__name__}"
        ) from exc


def _results(batch: dict[str, np.ndarray]) -> ViewResults:
    """A PosterEmbedder output batch as the merge step takes it: per view, (vectors, failures)."""
    out: ViewResults = {}
    for sha, view, vector, reason in zip(
        batch["sha256"], batch["view"], batch["vector"], batch["failure"], strict=True
    ):
        vectors, failures = out.setdefault(str(view), ({}, {}))
        if reason:
            failures[str(sha)] = str(reason)
        else:
            vectors[str(sha)] = vector
    return out
