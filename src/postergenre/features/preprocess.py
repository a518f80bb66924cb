"""Poster pixels -> network input: the one preprocessing path shared by training and prediction (numpy, no torch).

Geometry: posters are about 2:3 (mostly 182×268), so inputs are 224 wide × 320 high (0.70, close to
2:3). An image is scaled to fit inside that box with its aspect ratio kept and centred on a neutral
grey canvas (letterbox). Padding rather than cropping keeps every part of odd-shaped uploads (banners,
square stills) visible; for real posters the padding is a few pixels at each side. `Letterbox.placement`
is that geometry, for anyone mapping network-space maps back onto the poster (Grad-CAM).

Normalisation is the one the weights were trained with: EfficientNet-Lite's TensorFlow builder uses
(pixel - 127) / 128, i.e. about [-1, 1] (MEAN_RGB/STDDEV_RGB in efficientnet_lite_builder.py), not
torchvision's ImageNet mean/std. tests/features/test_features_backbones.py checks real photographs
land in the right ImageNet class through this very function. The pad grey 127 normalises to 0.

The work is split in two so batch runners can ship compact uint8 arrays between processes:
`prepare_pixels` (decode-side: resize + pad, uint8 H×W×3) and `normalize` (float32 N×3×H×W, any
leading batch shape). `Letterbox.batch` is both in one call; all give identical numbers.

Large JPEGs are decoded at 1/2, 1/4 or 1/8 scale (`decode_image(..., max_side=Letterbox.decode_max_side)`,
JPEG draft): at least twice the canvas's longer side is kept, so the bilinear reduction still averages
several source pixels per output pixel, and about half the decode time of a 1,456×2,144 poster is saved.
It changes no pixel of posters under 4× the canvas (all of the shared catalog's), so the preprocessing
version, which keys cached vectors, stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

DRAFT_FACTOR = 2  # a drafted decode keeps at least this many source pixels per output pixel, per side


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

    def placement(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Where an image of `width`×`height` lands on the canvas: (left, top, new_width, new_height)."""
        scale = min(self.width / width, self.height / height)
        nw = min(self.width, max(1, round(width * scale)))
        nh = min(self.height, max(1, round(height * scale)))
        return (self.width - nw) // 2, (self.height - nh) // 2, nw, nh

    @property
    def decode_max_side(self) -> int:
        """The longest side worth decoding for this letterbox: `decode_image(..., max_side=)` drafts larger JPEGs.

        DRAFT_FACTOR times the canvas's longer side, so a drafted poster keeps at least that many source
        pixels per output pixel and the bilinear reduction still averages (≤ 0.12 abs, cosine ≥ 0.99998
        on lite0 features of upscaled shared posters; benchmarks/embed_speed.py --decode).
        """
        return DRAFT_FACTOR * max(self.width, self.height)

    def prepare_pixels(self, image: Image.Image) -> np.ndarray:
        """RGB image -> uint8 array [height, width, 3]: scaled to fit, aspect kept, centred on grey."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        left, top, nw, nh = self.placement(*image.size)
        resized = image.resize((nw, nh), Image.Resampling.BILINEAR)
        if (nw, nh) == (self.width, self.height):
            return np.array(resized, dtype=np.uint8)
        canvas = Image.new("RGB", (self.width, self.height), (self.pad,) * 3)
        canvas.paste(resized, (left, top))
        return np.array(canvas, dtype=np.uint8)

    def normalize(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 [..., H, W, 3] -> normalised float32 [..., 3, H, W], C-contiguous."""
        x = np.moveaxis(np.asarray(pixels), -1, -3).astype(np.float32, order="C")
        x -= np.asarray(self.mean, dtype=np.float32).reshape(3, 1, 1)
        x /= np.asarray(self.std, dtype=np.float32).reshape(3, 1, 1)
        return x

    def batch(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Decoded posters -> the network input float32 [N, 3, H, W]."""
        if not images:
            return np.zeros((0, 3, self.height, self.width), dtype=np.float32)
        return self.normalize(np.stack([self.prepare_pixels(im) for im in images]))


class Preprocessed(Protocol):
    """Anything that names its preprocessing, e.g. a `registry.BackboneSpec` (no import of the registry here)."""

    @property
    def preprocessing(self) -> Letterbox: ...


def preprocess(image: Image.Image, spec: Preprocessed) -> torch.Tensor:
    """A decoded poster -> torch input [3, H, W] (for torch-only work: Grad-CAM, training probes)."""
    return preprocess_batch([image], spec)[0]


def preprocess_batch(images: Sequence[Image.Image], spec: Preprocessed) -> torch.Tensor:
    """Decoded posters -> torch input [N, 3, H, W]: `Letterbox.batch` as a tensor (imports torch)."""
    import torch

    return torch.from_numpy(spec.preprocessing.batch(images))
