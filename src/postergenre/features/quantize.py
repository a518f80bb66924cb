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
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ..errors import PosterDecodeError, PosterGenreError

if TYPE_CHECKING:
    from ..posters.store import PosterStore
    from .registry import BackboneSpec

log = logging.getLogger(__name__)

QUANTIZER_VERSION = 2  # bump when the settings below change the graph for the same inputs
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
        """Preprocessed float32 [n, 3, H, W] batches, decoded lazily (one batch in memory at a time).
        A poster that does not decode is skipped (embedding records it as failed anyway)."""
        for i in range(0, len(self.names), batch_size):
            images = []
            for name in self.names[i:i + batch_size]:
                try:
                    images.append(self.load(name))
                except (PosterDecodeError, OSError) as exc:
                    log.warning("calibration skips %s: %s", name, exc)
            if images:
                yield spec.preprocessing.batch(images)

    @classmethod
    def from_store(cls, shas: Sequence[str], store: "PosterStore", spec: "BackboneSpec",
                   count: int = CALIBRATION_POSTERS) -> "Calibration":
        """The first `count` of the posters `shas` (e.g. a whole catalog's) by sha256, read from `store`."""
        from ..posters.images import decode_image

        chosen = sorted(set(shas))[:count]
        if not chosen:
            raise PosterGenreError("the onnx-int8 runtime is calibrated on catalog posters, and none is attached yet")
        return cls(tuple(chosen), lambda sha: decode_image(store.path(sha), name=f"poster {sha}",
                                                           max_side=spec.preprocessing.decode_max_side))

    @classmethod
    def from_files(cls, paths: Sequence[Path | str]) -> "Calibration":
        """Poster files (named by path) decoded with the project's decoder."""
        from ..posters.images import decode_image

        return cls(tuple(str(p) for p in paths), lambda p: decode_image(Path(p)))


def quantize_graph(spec: "BackboneSpec", fp32_model: Path, calibration: Calibration) -> bytes:
    """The int8 QDQ graph (bytes) of the fp32 graph file `fp32_model`, calibrated on `calibration`."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = calibration.batches(spec)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"pixels": batch}

    with tempfile.TemporaryDirectory(prefix="postergenre-int8-") as tmp:
        out, prepared = Path(tmp) / "int8.onnx", Path(tmp) / "prepared.onnx"
        # The quantizer's recommended step: shapes inferred and the graph optimised (constant folding), so
        # every tensor it calibrates has a known shape. The symbolic pass is for transformers; not needed here.
        quant_pre_process(str(fp32_model), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(QUANTIZED_OPS))
        return out.read_bytes()
