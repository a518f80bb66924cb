"""Poster pixels -> network input: the one preprocessing path shared by training and prediction.

Geometry: posters are about 2:3 (mostly 182×268), so inputs are 224 wide × 320 high (0.70, close to
2:3). An image is scaled to fit inside that box with its aspect ratio kept and centred on a neutral
grey canvas (letterbox). Padding rather than cropping keeps every part of odd-shaped uploads (banners,
square stills) visible; for real posters the padding is a few pixels at each side.

Normalisation is the one the weights were trained with: EfficientNet-Lite's TensorFlow builder uses
(pixel - 127) / 128, i.e. about [-1, 1] (MEAN_RGB/STDDEV_RGB in efficientnet_lite_builder.py), not
torchvision's ImageNet mean/std. tests/features/test_features_backbones.py checks real photographs
land in the right ImageNet class through this very function. The pad grey 127 normalises to 0.

The work is split in two so batch runners can ship compact uint8 arrays between processes:
`prepare_pixels` (decode-side: resize + pad, uint8 H×W×3) and `pixels_to_tensor` (normalise, any
leading batch shape). `preprocess` is both in one call; all three give identical numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

if TYPE_CHECKING:
    from .backbones import BackboneSpec


@dataclass(frozen=True)
class Letterbox:
    """Resize-to-fit + pad + per-channel normalisation. `version` is stored with every cached vector."""

    width: int
    height: int
    mean: tuple[float, float, float]  # in 0..255 pixel units
    std: tuple[float, float, float]
    pad: int = 127

    @property
    def version(self) -> str:
        mean = "-".join(f"{m:g}" for m in self.mean)
        std = "-".join(f"{s:g}" for s in self.std)
        return f"letterbox{self.width}x{self.height}-pad{self.pad}-mean{mean}-std{std}-bilinear-v1"

    def prepare_pixels(self, image: Image.Image) -> np.ndarray:
        """RGB image -> uint8 array [height, width, 3]: scaled to fit, aspect kept, centred on grey."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        w, h = image.size
        scale = min(self.width / w, self.height / h)
        nw = min(self.width, max(1, round(w * scale)))
        nh = min(self.height, max(1, round(h * scale)))
        resized = image.resize((nw, nh), Image.Resampling.BILINEAR)
        if (nw, nh) == (self.width, self.height):
            return np.array(resized, dtype=np.uint8)  # a writable copy (torch refuses read-only arrays)
        canvas = Image.new("RGB", (self.width, self.height), (self.pad,) * 3)
        canvas.paste(resized, ((self.width - nw) // 2, (self.height - nh) // 2))
        return np.array(canvas, dtype=np.uint8)

    def pixels_to_tensor(self, pixels: np.ndarray | torch.Tensor) -> torch.Tensor:
        """uint8 [..., H, W, 3] -> normalised float32 [..., 3, H, W]."""
        t = torch.as_tensor(pixels)
        t = t.movedim(-1, -3).to(torch.float32)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1)
        return ((t - mean) / std).contiguous()


def preprocess(image: Image.Image, spec: "BackboneSpec") -> torch.Tensor:
    """A decoded RGB poster -> the network input tensor [3, H, W] for `spec`'s backbone."""
    return spec.preprocessing.pixels_to_tensor(spec.preprocessing.prepare_pixels(image))


def preprocess_batch(images: Sequence[Image.Image], spec: "BackboneSpec") -> torch.Tensor:
    """Several decoded posters -> [N, 3, H, W] (same numbers as stacking `preprocess` results)."""
    pixels = np.stack([spec.preprocessing.prepare_pixels(im) for im in images])
    return spec.preprocessing.pixels_to_tensor(pixels)
