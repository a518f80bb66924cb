"""Grad-CAM: where on the poster the network found evidence for a genre (the one torch-only part of the core).

For genre g, the gradient of g's logit with respect to the backbone's last convolutional map A (C×h×w), averaged
over space, weights A's channels; ReLU(Σ_c w_c·A_c) is the heatmap (Selvaraju et al. 2017). The gradient flows
through the saved head and the studio correction when the model has one (`AssembledModel.torch_view`), so the map
explains the model that made the prediction. It explains the poster as given: a model that reads two views
(features/views.py) averages the head's logits over the poster and its mirror image, and the mirror's evidence,
at the mirrored places, is left out of the map (averaging a mirrored map in would blur left and right together).

The network sees the poster letterboxed into its input canvas, so the map is upsampled to the canvas and the padding
is cut away: the result covers exactly the poster, at the network's resolution (at most the canvas size), whatever
the size of the input. Callers scale it to whatever they draw on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from ..features.registry import BackboneSpec
from ..model.assembly import AssembledModel


class GradCam:
    """The eager backbone (it needs the conv map) and the head as a differentiable torch module, built once."""

    def __init__(self, spec: BackboneSpec, model: AssembledModel):
        self.spec = spec
        self.net = spec.build()
        # The poster signal's logits: the head, then the studio's domain correction when the model has one.
        self.head = model.torch_view()
        for p in self.head.parameters():
            p.requires_grad_(False)
        box = spec.preprocessing
        self._mean = torch.tensor(box.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self._std = torch.tensor(box.std, dtype=torch.float32).view(1, 3, 1, 1)

    def __call__(self, image: Image.Image, indices: Sequence[int], names: Sequence[str]) -> dict[str, np.ndarray]:
        box = self.spec.preprocessing
        pixels = torch.from_numpy(np.ascontiguousarray(box.prepare_pixels(image)))[None].permute(0, 3, 1, 2)
        batch = ((pixels.to(torch.float32) - self._mean) / self._std).contiguous()
        # Gradients are needed even if the caller runs under no_grad or inference_mode (a web handler might).
        with torch.inference_mode(False), torch.enable_grad():
            batch.requires_grad_(True)  # the frozen backbone builds a graph only if something requires grad
            features, fmap = self.net.forward_with_maps(batch)
            logits = self.head(features)[0]
            cams = []
            for idx in indices:
                (grad,) = torch.autograd.grad(logits[idx], fmap, retain_graph=True)
                weights = grad[0].mean(dim=(1, 2))  # [C]: how much each channel raises this genre's logit
                cams.append(torch.relu((weights[:, None, None] * fmap[0]).sum(dim=0)).detach().numpy())
        left, top, width, height = box.placement(*image.size)
        return {
            name: _on_poster(cam, box.width, box.height, (left, top, width, height))
            for name, cam in zip(names, cams, strict=True)
        }


def _on_poster(cam: np.ndarray, canvas_w: int, canvas_h: int, region: tuple[int, int, int, int]) -> np.ndarray:
    """A conv-resolution map → the poster's region of the canvas, scaled to 0..1."""
    left, top, width, height = region
    canvas = Image.fromarray(np.asarray(cam, dtype=np.float32)).resize((canvas_w, canvas_h), Image.Resampling.BILINEAR)
    heat = np.asarray(canvas.crop((left, top, left + width, top + height)), dtype=np.float32).clip(min=0)
    peak = float(heat.max())
    return heat / peak if peak > 0 else np.zeros_like(heat)
