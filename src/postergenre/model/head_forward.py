"""A saved head's forward pass in numpy: features -> logits without torch.

Mirrors `heads.HeadModule` / `heads.EnsembleModule` exactly (float32 throughout): slice the feature set,
standardise, optional PCA-whitening projection, linear layers with ReLU between them; an ensemble averages
its members' probabilities and returns the logit of that mean. The model core can therefore score cached
embeddings (or an ONNX backbone's output) without loading torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import ModelError
from .head_types import TENSOR_PREFIX
from .logistic import logit, sigmoid

_LOGIT_EPS = 1e-7  # torch.logit(p, eps=1e-7) in EnsembleModule clamps p the same way

__all__ = ["ensemble_prefixes", "head_layers", "logits", "probabilities", "sigmoid"]


def head_layers(tensors: Mapping[str, np.ndarray], prefix: str = TENSOR_PREFIX, *,
                float32: bool = True) -> dict[str, np.ndarray]:
    """The tensors of one plain head under `prefix`, prefix stripped (as float32 unless `float32=False`): the one
    reader of the head's tensor layout (mean, scale[, proj], w0, b0[, w1, b1 ...]), shared by this forward pass,
    the torch module (`head_module.py`) and the artifact's validation."""
    t = {k.removeprefix(prefix): (np.asarray(v, dtype=np.float32) if float32 else v) for k, v in tensors.items()
         if k.startswith(prefix) and "." not in k.removeprefix(prefix)}
    for name in ("mean", "scale", "w0", "b0"):
        if name not in t:
            raise ModelError(f"head tensor {prefix}{name} is missing")
    return t


def _plain_logits(t: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    if x.shape[1] != t["mean"].shape[0]:
        raise ModelError(f"feature slice has {x.shape[1]} columns but the head input size is {t['mean'].shape[0]}")
    z = (x - t["mean"]) / t["scale"]
    if "proj" in t:
        z = z @ t["proj"].T
    i = 0
    while f"w{i}" in t:
        if i:
            z = np.maximum(z, 0.0)
        z = z @ t[f"w{i}"].T + t[f"b{i}"]
        i += 1
    return z


def ensemble_prefixes(tensors: Mapping[str, np.ndarray]) -> list[str]:
    """`head.m0.`, `head.m1.`, ... when the tensors are an ensemble's, else []."""
    members = sorted({k.split(".")[1] for k in tensors if k.startswith(TENSOR_PREFIX + "m") and k.count(".") >= 2})
    return [f"{TENSOR_PREFIX}{m}." for m in members]


def logits(tensors: Mapping[str, np.ndarray], feature_slice: tuple[int, int] | list[int],
           features: np.ndarray) -> np.ndarray:
    """Logits [N, G] of a saved head for full cached feature vectors `features` [N, D_full] (or one [D_full])."""
    x = np.asarray(features, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    start, stop = int(feature_slice[0]), int(feature_slice[1])
    if x.ndim != 2 or x.shape[1] < stop:
        raise ModelError(f"features must be [N, >= {stop}] for the head's feature slice {start}:{stop}, got {x.shape}")
    x = x[:, start:stop]
    members = ensemble_prefixes(tensors)
    if not members:
        return _plain_logits(head_layers(tensors, TENSOR_PREFIX), x)
    p = np.mean([sigmoid(_plain_logits(head_layers(tensors, m), x)) for m in members], axis=0)
    return logit(p, _LOGIT_EPS).astype(np.float32)


def probabilities(tensors: Mapping[str, np.ndarray], feature_slice: tuple[int, int] | list[int],
                  features: np.ndarray) -> np.ndarray:
    """Genre probabilities [N, G]: the sigmoid of `logits`."""
    return sigmoid(logits(tensors, feature_slice, features))
