"""Grad-CAM: where on the poster the network found evidence for a genre.

For genre g, the gradient of g's logit with respect to the backbone's last convolutional map A (C×h×w),
averaged over space, weights A's channels; ReLU(Σ_c w_c·A_c) is the heatmap (Selvaraju et al. 2017).
The gradient flows through the saved head (`model.heads.head_module`), so the map explains the model that
made the prediction, not a generic saliency.

The network sees the poster letterboxed into its input canvas (features.preprocess), so the map is
upsampled to the canvas, the padding is cut away, and the rest is resized to the poster's own size: a
heatmap pixel lines up with the poster pixel at the same coordinates.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image

from ..features.preprocess import preprocess_batch
from ..files import write_atomic

if TYPE_CHECKING:
    from .predictor import Predictor


def _graph(predictor: "Predictor", image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass that keeps the graph from the last conv map to the logits: (logits [G], map [1, C, h, w])."""
    batch = preprocess_batch([image], predictor.spec)
    batch.requires_grad_(True)  # the frozen backbone builds a graph only if something requires grad
    features, fmap = predictor.net.forward_with_maps(batch)
    return predictor.head(features)[0], fmap


def _cams(logits: torch.Tensor, fmap: torch.Tensor, genre_indices: Sequence[int]) -> list[np.ndarray]:
    """Grad-CAM maps [h, w] (unnormalised, ≥ 0) at the conv map's resolution, one per genre index."""
    maps = []
    for idx in genre_indices:
        (grad,) = torch.autograd.grad(logits[idx], fmap, retain_graph=True)
        weights = grad[0].mean(dim=(1, 2))  # [C]: how much each channel raises this genre's logit
        maps.append(torch.relu((weights[:, None, None] * fmap[0]).sum(dim=0)).detach().numpy())
    return maps


def to_poster(cam: np.ndarray, predictor: "Predictor", size: tuple[int, int]) -> np.ndarray:
    """A conv-resolution map → heatmap of the poster's `size` (width, height), scaled to 0..1."""
    box = predictor.spec.preprocessing
    w, h = size
    scale = min(box.width / w, box.height / h)
    nw = min(box.width, max(1, round(w * scale)))
    nh = min(box.height, max(1, round(h * scale)))
    left, top = (box.width - nw) // 2, (box.height - nh) // 2
    canvas = Image.fromarray(np.asarray(cam, dtype=np.float32)).resize((box.width, box.height), Image.Resampling.BILINEAR)
    poster = canvas.crop((left, top, left + nw, top + nh)).resize((w, h), Image.Resampling.BILINEAR)
    heat = np.asarray(poster, dtype=np.float32).clip(min=0)
    peak = float(heat.max())
    return heat / peak if peak > 0 else np.zeros_like(heat)


def explain_image(predictor: "Predictor", image: Image.Image, genres: Sequence[str] | None = None,
                  *, top: int = 3) -> dict[str, np.ndarray]:
    """Heatmaps (poster-sized, 0..1) for `genres`, or for the decided genres (at most `top`)."""
    # Gradients are needed even if the caller runs under no_grad or inference_mode (a web handler might).
    with torch.inference_mode(False), torch.enable_grad():
        logits, fmap = _graph(predictor, image)
        if genres is None:
            probs = torch.sigmoid(logits).detach().numpy().astype(np.float64)
            names = predictor.decided_genres(probs)[:top]
        else:
            names = [predictor.genres[i] for i in predictor.genre_indices(genres)]
        cams = _cams(logits, fmap, predictor.genre_indices(names))
    return {name: to_poster(cam, predictor, image.size) for name, cam in zip(names, cams)}


def overlay(image: Image.Image, heatmap: np.ndarray, *, alpha: float = 0.45, colormap: str = "jet") -> Image.Image:
    """The poster with the heatmap blended over it in `colormap` colours (same size as the poster)."""
    from matplotlib import colormaps

    colours = (colormaps[colormap](np.asarray(heatmap, dtype=np.float32))[..., :3] * 255).astype(np.uint8)
    heat = Image.fromarray(colours)
    if heat.size != image.size:
        heat = heat.resize(image.size, Image.Resampling.BILINEAR)
    return Image.blend(image.convert("RGB"), heat, alpha)


def safe_stem(text: str) -> str:
    """A file-name-safe stem for a poster source (path, URL or id)."""
    stem = Path(text.split("?", 1)[0].rstrip("/")).stem or "poster"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "poster"


def write_overlays(image: Image.Image, heatmaps: Mapping[str, np.ndarray], out_dir: Path, stem: str) -> list[Path]:
    """Write one PNG per genre, `<stem>.<genre>.png`, poster-sized; returns the paths written.

    Each file is written to a temporary name and renamed, so an interrupted run never leaves half a PNG.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for genre, heat in heatmaps.items():
        path = out_dir / f"{stem}.{re.sub(r'[^A-Za-z0-9-]+', '_', genre)}.png"
        png = io.BytesIO()
        overlay(image, heat).save(png, format="PNG")
        written.append(write_atomic(path, png.getvalue()))
    return written
