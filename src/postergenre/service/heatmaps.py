"""Heatmap arrays -> small transparent PNGs the page lays over the poster.

The colour carries the strength and so does the opacity, so weak areas leave the poster visible and
the overlay needs no blending in the browser. Sent as data URLs: one response holds everything.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

MAX_SIDE = 320  # the browser scales the overlay to the poster; more pixels only add bytes

# A perceptual "inferno"-like ramp (black-purple-orange-yellow), sampled at 5 stops.
_STOPS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32)


def heatmap_rgba(heat: np.ndarray) -> Image.Image:
    """HxW values in 0..1 -> RGBA image (colour ramp; alpha rises with the value)."""
    h = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    pos = h * (len(_STOPS) - 1)
    low = np.floor(pos).astype(int).clip(0, len(_STOPS) - 2)
    frac = (pos - low)[..., None]
    rgb = _STOPS[low] * (1 - frac) + _STOPS[low + 1] * frac
    alpha = (np.sqrt(h) * 200)[..., None]  # sqrt: mid values stay visible; max 200 keeps the poster readable
    image = Image.fromarray(np.concatenate([rgb, alpha], axis=-1).round().astype(np.uint8), mode="RGBA")
    if max(image.size) > MAX_SIDE:
        scale = MAX_SIDE / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    return image


def heatmap_data_url(heat: np.ndarray) -> str:
    buffer = io.BytesIO()
    heatmap_rgba(heat).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
