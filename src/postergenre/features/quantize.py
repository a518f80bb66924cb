"""Static int8 quantization of an exported fp32 backbone graph (the "onnx-int8" runtime, the default where a
calibration table ships for the backbone).

ONNX Runtime's `quantize_static` in QDQ format, weights int8 per channel, activations uint8 with ranges
calibrated (min/max) on real posters preprocessed exactly as for embedding. Only the convolutions and
their ReLU6 (Clip) are quantized: quantizing Conv alone puts the pre-clip range on each activation and
drops the pooled features' cosine to fp32 to ~0.90 (measured on 16 shared posters); with Clip it is 0.995
and 0.999 over the whole vector. The spatial mean/std statistics (ReduceMean, Sub, Mul, Sqrt) stay fp32.

The activation ranges come from one of two sources:
- a `CalibrationTable` shipped in the package (`features/calibrations/<backbone>.json`, written by
  `scripts/calibrate_int8.py` from 96 posters of the shared catalog): min/max per activation tensor, ONNX
  Runtime's own calibration-cache format, no per-poster data. It lets every install and every Ray worker
  build the same int8 graph without posters, so their vectors agree and share one cache key;
- `Calibration`: posters to measure the ranges on (the Python API, benchmarks and the script).
Their fingerprint keys the quantized graph (features.runtime), and the graph's key keys the int8 vectors,
so int8 vectors never mix with fp32 ones or with another calibration.
Importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import PosterDecodeError, PosterGenreError

if TYPE_CHECKING:
    from ..posters.store import PosterStore
    from .registry import BackboneSpec

log = logging.getLogger(__name__)

QUANTIZER_VERSION = 3  # bump when the settings below change the graph for the same inputs
CALIBRATION_POSTERS = 96
CALIBRATION_BATCH = 8
QUANTIZED_OPS = ("Conv", "Clip", "MatMul", "Gemm")
TABLE_FORMAT = 1
# The parts of the fp32 graph's key (features.runtime.onnx_cache_key) that a table's tensor names and ranges
# depend on. Library versions are left out: a changed exporter that renames tensors is caught when the
# table is applied (`quantize_graph` checks every tensor it needs has a range).
TABLE_GRAPH_FIELDS = (
    "format",
    "backbone",
    "feature_dim",
    "input_size",
    "preprocess_version",
    "weights_sha256",
    "opset",
)


class CalibrationMismatchError(PosterGenreError):
    """A calibration table does not fit the graph it is applied to (another export, backbone or weights)."""


@dataclass(frozen=True)
class Calibration:
    """Posters to calibrate activation ranges on: `names` (ids, e.g. sha256) and how to decode one."""

    names: tuple[str, ...]
    load: Callable[[str], Image.Image]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.names).encode()).hexdigest()

    def batches(self, spec: BackboneSpec, batch_size: int = CALIBRATION_BATCH) -> Iterator[np.ndarray]:
        """Preprocessed float32 [n, 3, H, W] batches, decoded lazily (one batch in memory at a time).
        A poster that does not decode is skipped (embedding records it as failed anyway)."""
        for i in range(0, len(self.names), batch_size):
            images = []
            for name in self.names[i : i + batch_size]:
                try:
                    images.append(self.load(name))
                except (PosterDecodeError, OSError) as exc:
                    log.warning("calibration skips %s: %s", name, exc)
            if images:
                yield spec.preprocessing.batch(images)

    @classmethod
    def from_store(
        cls, shas: Sequence[str], store: PosterStore, spec: BackboneSpec, count: int = CALIBRATION_POSTERS
    ) -> Calibration:
        """The first `count` of the posters `shas` (e.g. a whole catalog's) by sha256, read from `store`."""
        from ..posters.images import decode_image

        chosen = sorted(set(shas))[:count]
        if not chosen:
            raise PosterGenreError("the onnx-int8 runtime is calibrated on catalog posters, and none is attached yet")
        return cls(
            tuple(chosen),
            lambda sha: decode_image(
                store.path(sha), name=f"poster {sha}", max_side=spec.preprocessing.decode_max_side
            ),
        )

    @classmethod
    def from_files(cls, paths: Sequence[Path | str]) -> Calibration:
        """Poster files (named by path) decoded with the project's decoder."""
        from ..posters.images import decode_image

        return cls(tuple(str(p) for p in paths), lambda p: decode_image(Path(p)))


@dataclass(frozen=True)
class CalibrationTable:
    """Activation ranges measured once (ONNX Runtime's calibration cache, `ranges`) for the graph `graph`
    (TABLE_GRAPH_FIELDS of its key), with a description of the posters they were measured on."""

    backbone: str
    graph: dict[str, Any]
    ranges: dict[str, Any]
    posters: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """What the quantized graph depends on: the ranges and the graph they belong to (not the description)."""
        body = json.dumps({"backbone": self.backbone, "graph": self.graph, "ranges": self.ranges}, sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()

    def matches(self, graph_key: dict[str, Any]) -> bool:
        """Whether this table was measured on the graph whose fp32 key is `graph_key`."""
        return all(graph_key.get(name) == self.graph.get(name) for name in TABLE_GRAPH_FIELDS)

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": TABLE_FORMAT,
                    "backbone": self.backbone,
                    "graph": self.graph,
                    "posters": self.posters,
                    "ranges": self.ranges,
                },
                indent=1,
                sort_keys=True,
            )
            + "\n"
        )

    @classmethod
    def from_json(cls, text: str, *, name: str = "calibration table") -> CalibrationTable:
        try:
            data = json.loads(text)
            if data.get("format") != TABLE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, this version reads {TABLE_FORMAT}")
            table = cls(str(data["backbone"]), dict(data["graph"]), dict(data["ranges"]), dict(data.get("posters", {})))
            if not isinstance(table.ranges.get("data"), dict) or not table.ranges["data"]:
                raise ValueError("no tensor ranges")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CalibrationMismatchError(f"{name} is not a usable int8 calibration table: {exc}") from exc
        return table


@lru_cache(maxsize=8)
def shipped_table(spec: BackboneSpec) -> CalibrationTable | None:
    """The calibration table the package ships for `spec`'s backbone, or None (that backbone runs fp32 by default)."""
    resource = resources.files(__package__).joinpath("calibrations", f"{spec.name}.json")
    if not resource.is_file():
        return None
    return CalibrationTable.from_json(resource.read_text(encoding="utf-8"), name=f"the shipped table for {spec.name}")


def _prepare(fp32_model: Path, prepared: Path) -> None:
    """The quantizer's recommended step: shapes inferred and constants folded, so every tensor it calibrates
    has a known shape. The symbolic pass is for transformers; not needed here."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(fp32_model), str(prepared), skip_symbolic_shape=True)


def _tensors_to_calibrate(prepared: Path) -> set[str]:
    """Names of the float tensors the quantizer needs ranges for: inputs and outputs of QUANTIZED_OPS nodes."""
    import onnx

    graph = onnx.load(str(prepared)).graph
    constants = {init.name for init in graph.initializer}
    return {
        name
        for node in graph.node
        if node.op_type in QUANTIZED_OPS
        for name in [*node.input, *node.output]
        if name and name not in constants
    }


def _quantize(prepared: Path, out: Path, ranges_file: Path, reader: Any = None) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(prepared),
        str(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(QUANTIZED_OPS),
        calibration_cache_path=str(ranges_file),
    )


def measure_table(
    spec: BackboneSpec, fp32_model: Path, calibration: Calibration, graph_key: dict[str, Any], posters: dict[str, Any]
) -> CalibrationTable:
    """Measure activation ranges of the fp32 graph file `fp32_model` (key `graph_key`) on `calibration`'s
    posters. `posters` describes them in the table (count, source; never per-poster data)."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration.batches(spec)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    with tempfile.TemporaryDirectory(prefix="postergenre-int8-") as tmp:
        prepared, ranges = Path(tmp) / "prepared.onnx", Path(tmp) / "ranges.json"
        _prepare(fp32_model, prepared)
        _quantize(prepared, Path(tmp) / "int8.onnx", ranges, Reader())  # measures, saves the ranges, quantizes
        data = json.loads(ranges.read_text())
    data.pop("smooth_quant", None)
    graph = {name: graph_key[name] for name in TABLE_GRAPH_FIELDS}
    return CalibrationTable(spec.name, graph, data, {**posters, "fingerprint": calibration.fingerprint})


def quantize_graph(
    spec: BackboneSpec, fp32_model: Path, calibration: Calibration | CalibrationTable, graph_key: dict[str, Any]
) -> bytes:
    """The int8 QDQ graph (bytes) of the fp32 graph file `fp32_model` (key `graph_key`), with activation ranges
    from a table or measured on posters. A table lacking a range the graph needs raises CalibrationMismatchError."""
    if isinstance(calibration, Calibration):
        calibration = measure_table(spec, fp32_model, calibration, graph_key, {})
    with tempfile.TemporaryDirectory(prefix="postergenre-int8-") as tmp:
        out, prepared, ranges = Path(tmp) / "int8.onnx", Path(tmp) / "prepared.onnx", Path(tmp) / "ranges.json"
        _prepare(fp32_model, prepared)
        missing = _tensors_to_calibrate(prepared) - set(calibration.ranges["data"])
        if missing:
            raise CalibrationMismatchError(
                f"the int8 calibration table for {calibration.backbone} has no range for {len(missing)} tensors of "
                f"this graph (e.g. {sorted(missing)[0]}): it was measured on another export; "
                "scripts/calibrate_int8.py measures it again"
            )
        ranges.write_text(json.dumps(calibration.ranges))
        _quantize(prepared, out, ranges)
        return out.read_bytes()
