"""The torch views of the parts Grad-CAM differentiates through: each maps what its part maps, in torch.

`assembly.AssembledModel.torch_view()` chains them as the poster signal runs in numpy: the feature slice, the head's
logits, then each poster stage (the studio's domain correction), so a heatmap explains the model that answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn


class StackModule(nn.Module):
    """features [N, D] -> logits [N, G]: standardise, optional projection, then linear (+ReLU) layers."""

    mean: torch.Tensor
    scale: torch.Tensor
    proj: torch.Tensor | None

    def __init__(self, tensors: Mapping[str, np.ndarray]):
        super().__init__()
        t = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()}
        self.register_buffer("mean", t["mean"])
        self.register_buffer("scale", t["scale"])
        self.register_buffer("proj", t.get("proj"))  # optional PCA-whitening projection [k, D], no activation
        layers: list[nn.Module] = []
        i = 0
        while f"w{i}" in t:
            w, b = t[f"w{i}"], t[f"b{i}"]
            linear = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                linear.weight.copy_(w)
                linear.bias.copy_(b)
            if layers:
                layers.append(nn.ReLU())
            layers.append(linear)
            i += 1
        self.net = nn.Sequential(*layers)
        self.eval()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.mean) / self.scale
        if self.proj is not None:
            z = z @ self.proj.T
        out: torch.Tensor = self.net(z)
        return out


class EnsembleModule(nn.Module):
    """The logit of the mean of the members' probabilities, clipped at `eps` (what `heads.EnsembleHead` computes)."""

    def __init__(self, members: Sequence[nn.Module], eps: float):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.eps = eps
        self.eval()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(features)) for m in self.members]).mean(dim=0)
        return torch.logit(p, eps=self.eps)


class LinearOnLogits(nn.Module):
    """(logits [N, G], features) -> logits @ matrix.T + bias, the logits first clipped where the numpy part clips the
    probabilities (`limit` = logit(1 - eps)): the domain correction."""

    def __init__(self, matrix: np.ndarray, bias: np.ndarray, limit: float):
        super().__init__()
        self.linear = nn.Linear(matrix.shape[1], matrix.shape[0])
        with torch.no_grad():
            self.linear.weight.copy_(torch.from_numpy(np.asarray(matrix, dtype=np.float32)))
            self.linear.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
        self.limit = limit
        self.eval()

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(logits.clamp(-self.limit, self.limit))
        return out


class PosterView(nn.Module):
    """Full features [N, D] -> the poster signal's logits: slice the head's columns, the head, each poster stage."""

    def __init__(self, feature_slice: tuple[int, int], head: nn.Module, stages: Sequence[nn.Module]):
        super().__init__()
        self.start, self.stop = feature_slice
        self.head = head
        self.stages = nn.ModuleList(stages)
        self.eval()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z: torch.Tensor = self.head(features[:, self.start : self.stop])
        for stage in self.stages:
            z = stage(z, features)
        return z
