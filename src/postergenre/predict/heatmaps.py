"""Heatmaps as pictures: one colour map for the page, the CLI's PNG files and the compare sheet.

Colours run from blue (little evidence) through green and yellow to red (the strongest evidence; matplotlib's
"jet"), and opacity rises with the value, so weak areas leave the poster visible. Everything is drawn on a
bounded-size copy of the poster: memory and time do not grow with the upload's pixel count.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from ..dataurl import image_data_url
from ..files import write_atomic

OVERLAY_MAX_SIDE = 320
"""Long side of the transparent overlays sent to the page; the browser scales them onto the poster."""
FILE_MAX_SIDE = 640
"""Long side of the poster+heatmap PNGs written by `predict --explain` and shown in the compare sheet."""
COLORMAP = "jet"
LEGEND = "blue = little evidence for the genre, red = the strongest evidence"


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, max_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def colorize(heat: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """Values 0..1 → an RGBA image of `size` in the colour map, alpha rising with the value."""
    from matplotlib import colormaps

    small = Image.fromarray(np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0))
    h = np.asarray(small.resize(size, Image.Resampling.BILINEAR), dtype=np.float32).clip(0.0, 1.0)
    rgba = colormaps[COLORMAP](h)
    rgba[..., 3] = np.sqrt(h) * 0.85  # sqrt: mid values stay visible; < 1 keeps the poster readable underneath
    return Image.fromarray((rgba * 255).round().astype(np.uint8), mode="RGBA")


def overlay_data_url(heat: np.ndarray, poster_size: tuple[int, int]) -> str:
    """The transparent overlay (poster's aspect, at most OVERLAY_MAX_SIDE) as a PNG data URL."""
    return image_data_url(colorize(heat, _fit(poster_size, OVERLAY_MAX_SIDE)), "PNG", optimize=True)


def blended(poster: Image.Image, heat: np.ndarray, max_side: int = FILE_MAX_SIDE) -> Image.Image:
    """A bounded-size copy of the poster with the heatmap laid over it."""
    base = poster.convert("RGB")
    size = _fit(base.size, max_side)
    if base.size != size:
        base = base.resize(size, Image.Resampling.BILINEAR)
    return Image.alpha_composite(base.convert("RGBA"), colorize(heat, size)).convert("RGB")


def safe_stem(text: str) -> str:
    """A file-name-safe stem for a poster source (path, URL or id)."""
    stem = Path(text.split("?", 1)[0].rstrip("/")).stem or "poster"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "poster"


def write_overlays(poster: Image.Image, heatmaps: Mapping[str, np.ndarray], out_dir: Path, stem: str) -> list[Path]:
    """One PNG per genre, `<stem>.<genre>.png` (poster + heatmap, at most FILE_MAX_SIDE), written atomically."""
    import io

    written = []
    for genre, heat in heatmaps.items():
        png = io.BytesIO()
        blended(poster, heat).save(png, format="PNG")
        written.append(write_atomic(out_dir / f"{stem}.{re.sub(r'[^A-Za-z0-9-]+', '_', genre)}.png", png.getvalue()))
    return written
