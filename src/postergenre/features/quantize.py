"""Static int8 quantization of an exported fp32 backbone graph (the opt-in "onnx-int8" runtime).

ONNX Runtime's `quantize_static` in QDQ format, weights int8 per channel, activations uint8 with ranges
calibrated (min/max) on real catalog posters preprocessed exactly as for embedding. Only the
convolutions and their ReLU6 (Clip) are quantized: quantizing Conv alone puts the pre-clip range on each
activation and drops the pooled features' cosine to fp32 to ~0.90 (measured on 16 shared posters);
with Clip it is 0.995 and 0.999 over the whole vector. The spatial mean/std statistics (ReduceMean, Sub,
Mul, Sqrt) stay fp32.

Calibration posters are the first CALIBRATION_POSTERS of the catalog by sha256 (content hashes are a
uniform, reproducible sample). Their fingerprint keys the quantized graph (features.runtime), and the
graph's key keys the int8 vectors, so int8 vectors never mix with fp32 ones or with another calibration.
Importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from ..catalog.store import Catalog
    from ..posters.store import PosterStore
    from .registry import BackboneSpec

QUANTIZER_VERSION = 1  # bump when the settings below change the graph for the same inputs
CALIBRATION_POSTERS = 96
CALIBRATION_BATCH = 8
QUANTIZED_OPS = ("Conv", "Clip", "MatMul", "Gemm")


@dataclass(frozen=True)
class Calibration:
    """Posters to calibrate activation ranges on: `names` (ids, e.g. sha256) and how to decode one."""

    names: tuple[str, ...]
    load: Callable[[str], Image.Image]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256("\n".join(self.names).encode()).hexdigest()

    def batches(self, spec: "BackboneSpec", batch_size: int = CALIBRATION_BATCH) -> Iterator[np.ndarray]:
        """Preprocessed float32 [n, 3, H, W] batches, decoded lazily (one batch in memory at a time)."""
        for i in range(0, len(self.names), batch_size):
            yield spec.preprocessing.batch([self.load(name) for name in self.names[i:i + batch_size]])

    @classmethod
    def from_catalog(cls, catalog: "Catalog", store: "PosterStore", spec: "BackboneSpec",
                     count: int = CALIBRATION_POSTERS) -> "Calibration":
        """The first `count` ok posters of the whole catalog by sha256."""
        from ..posters.images import decode_image
        from .embed import selected_posters

        shas = selected_posters(catalog)[:count]
        if not shas:
            raise ValueError(f"catalog {catalog.path} has no attached posters to calibrate int8 quantization on")
        return cls(tuple(shas), lambda sha: decode_image(store.path(sha), name=f"poster {sha}",
                                                         max_side=spec.preprocessing.decode_max_side))

    @classmethod
    def from_files(cls, paths: Sequence[Path | str]) -> "Calibration":
        """Poster files (named by path) decoded with the project's decoder."""
        from ..posters.images import decode_image

        return cls(tuple(str(p) for p in paths), lambda p: decode_image(Path(p)))


def quantize_graph(spec: "BackboneSpec", fp32_model: Path, calibration: Calibration) -> bytes:
    """The int8 QDQ graph (bytes) of the fp32 graph file `fp32_model`, calibrated on `calibration`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration.batches(spec)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    with tempfile.TemporaryDirectory(prefix="postergenre-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_static(str(fp32_model), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(QUANTIZED_OPS))
        return out.read_bytes()
