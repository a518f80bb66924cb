"""The logistic function and its inverse: the one sigmoid and the one logit of the package (numpy only)."""

from __future__ import annotations

import numpy as np

PROBABILITY_EPS = 1e-6
"""Probabilities are clipped to [eps, 1 - eps] before a logit, so 0 and 1 give finite logits (±13.8): the one
epsilon of every logit in a model (the domain correction, the fusion, the ensemble head's mean, their torch views)."""
LOGIT_LIMIT = float(np.log((1 - PROBABILITY_EPS) / PROBABILITY_EPS))
"""The largest logit a clipped probability gives (13.8155...): torch views clamp logits where numpy clips."""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)), stable for large |z| (scipy's expit without importing scipy); keeps a float dtype."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    e = np.exp(-np.abs(z))  # exp of a non-positive number only: no overflow warnings
    out: np.ndarray = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(z.dtype, copy=False)
    return out


def logit(p: np.ndarray, eps: float = PROBABILITY_EPS) -> np.ndarray:
    """log(p / (1 - p)) in float64 with p clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    out: np.ndarray = np.log(p / (1 - p))
    return out
