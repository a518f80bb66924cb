"""A saved head as a differentiable torch module: features [N, D_full] -> logits [N, G] (Grad-CAM needs gradients).

Every head exports one tensor layout (`mean`, `scale`, `w0`, `b0`[, `w1`, `b1`][, `proj`]; an ensemble's members
under `head.m0.`, `head.m1.`, ...), so `HeadModule` rebuilds any of them; `head_forward.logits` is the same map in
numpy, and `head_forward.head_layers` is the one reader of the layout both use.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from .artifact import ModelArtifact
from .head_forward import ensemble_prefixes, head_layers
from .head_types import TENSOR_PREFIX


class HeadModule(nn.Module):
    """features [N, D_full] -> logits [N, G]: slice the feature set, standardise, then linear (+ReLU) layers."""

    def __init__(self, tensors: dict[str, np.ndarray], feature_slice: tuple[int, int], prefix: str = TENSOR_PREFIX):
        super().__init__()
        self.start, self.stop = int(feature_slice[0]), int(feature_slice[1])
        t = {k: torch.from_numpy(v) for k, v in head_layers(tensors, prefix).items()}
        self.register_buffer("mean", t["mean"])
        self.register_buffer("scale", t["scale"])
        # Optional PCA-whitening projection [k, D] applied (without activation) before the layers.
        self.register_buffer("proj", t.get("proj"))
        layers: list[nn.Module] = []
        i = 0
        while f"w{i}" in t:
            w, b = t[f"w{i}"], t[f"b{i}"]
            lin = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            if layers:
                layers.append(nn.ReLU())
            layers.append(lin)
            i += 1
        self.net = nn.Sequential(*layers)
        if self.stop - self.start != self.mean.shape[0]:
            raise ModelError(f"feature slice {self.start}:{self.stop} does not match the head input size {self.mean.shape[0]}")
        self.eval()

    @property
    def n_outputs(self) -> int:
        return self.net[-1].out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features[:, self.start:self.stop] - self.mean) / self.scale
        if self.proj is not None:
            z = z @ self.proj.T
        return self.net(z)


class EnsembleModule(nn.Module):
    """Mean of the members' probabilities, returned as logits so every head module outputs logits."""

    def __init__(self, members: list[HeadModule]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.eval()

    @property
    def n_outputs(self) -> int:
        return self.members[0].n_outputs

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(features)) for m in self.members]).mean(dim=0)
        return torch.logit(p, eps=1e-7)


def build_module(head_type: str, tensors: dict[str, np.ndarray], feature_slice: tuple[int, int]) -> nn.Module:
    """The torch module of a head type from its exported tensors (see HeadModule / EnsembleModule)."""
    if head_type == "ensemble":
        members = ensemble_prefixes(tensors)
        if not members:
            raise ModelError("ensemble head has no member tensors")
        return EnsembleModule([HeadModule(tensors, feature_slice, prefix=m) for m in members])
    return HeadModule(tensors, feature_slice)


def head_module(artifact: ModelArtifact) -> nn.Module:
    """The saved head as a torch module mapping the full cached feature vector [N, D_full] to logits [N, G]."""
    start, stop = artifact.head_config["feature_slice"]
    mod = build_module(artifact.head_type, artifact.tensors, (start, stop))
    if mod.n_outputs != len(artifact.genres):
        raise ModelError(f"head has {mod.n_outputs} outputs but the model lists {len(artifact.genres)} genres")
    return mod
