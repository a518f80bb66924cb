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

_LOGIT_EPS = 1e-7  # torch.logit(p, eps=1e-7) in EnsembleModule clamps p the same way


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function in numpy, stable for large |z| (scipy's expit without importing scipy)."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    return _sigmoid(z)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: no overflow warnings for large |z|.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)


def _layers(tensors: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The tensors of one plain head under `prefix`, prefix stripped, as float32."""
    t = {k.removeprefix(prefix): np.asarray(v, dtype=np.float32) for k, v in tensors.items()
         if k.startswith(prefix) and "." not in k.removeprefix(prefix)}
    if "mean" not in t or "scale" not in t or "w0" not in t or "b0" not in t:
        raise ModelError(f"head tensors incomplete: have {sorted(t)}, need mean, scale, w0, b0")
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
        return _plain_logits(_layers(tensors, TENSOR_PREFIX), x)
    p = np.mean([_sigmoid(_plain_logits(_layers(tensors, m), x)) for m in members], axis=0)
    p = np.clip(p, _LOGIT_EPS, 1 - _LOGIT_EPS)
    return np.log(p / (1 - p)).astype(np.float32)


def probabilities(tensors: Mapping[str, np.ndarray], feature_slice: tuple[int, int] | list[int],
                  features: np.ndarray) -> np.ndarray:
    """Genre probabilities [N, G]: the sigmoid of `logits`."""
    return _sigmoid(logits(tensors, feature_slice, features))
