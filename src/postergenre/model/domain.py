"""The studio's domain correction: a small head stacked on the general poster head for G/PG family films.

Method (chosen by 5-fold CV on studio films, see benchmarks/quality_studio.py): the poster head is fitted on
general films only, and a small studio head is stacked on it: studio logits = M @ general logits + d, with M
a G x G matrix pulled towards the identity (penalty `l2` on M - I). It learns how the general genres read on
family films (e.g. "Animation" and "Adventure" evidence is Family evidence there). It is fitted on the general
head's out-of-fold predictions for general films plus the studio films weighted x`w`, `w` chosen by studio CV
among the weights that cost general posters <= 0.005 macro AUC (fitted on studio films alone it cost them 0.023).
On the same folds, weighting the studio films x1/x3/x5/x10 inside the general head's training gained less
(PCA-256 proxy: best x5, +0.013 macro AUC vs +0.018 for the stacked head) and needs a full head fit per fold and
weight; the stacked head costs seconds, because the general head never sees a studio film, so its studio
predictions are out-of-sample for every fold.

Fitting it by CV on studio films is `training/studio.py`'s job.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .logistic import logit, sigmoid

TENSOR_PREFIX = "domain."
FORMAT_VERSION = 1


class DomainCorrection:
    """Studio head stacked on the general poster head: logits' = logits @ M.T + d (M near the identity).

    An sklearn-style estimator: parameters in `__init__`, `fit(general_probs, Y, sample_weight=None)` returns self,
    learned state `matrix_` [G, G] and `bias_` [G]; `predict_proba(general_probs)`.
    """

    def __init__(self, l2: float = 1e-3, max_iter: int = 300):
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, general_probs: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "DomainCorrection":
        L = logit(general_probs)
        Y = np.asarray(Y, dtype=np.float64)
        if L.ndim != 2 or L.shape != Y.shape:
            raise PosterGenreError(f"domain correction: probabilities {L.shape} and labels {Y.shape} must both be [N, G]")
        n, g = L.shape
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = w / w.mean()
        l2 = float(self.l2)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            D, d = theta[:g * g].reshape(g, g), theta[g * g:]
            z = L + L @ D.T + d
            cell = (np.logaddexp(0, z) - Y * z) * w[:, None]
            r = (sigmoid(z) - Y) * w[:, None] / (n * g)  # mean over cells, like the poster heads' loss
            value = cell.sum() / (n * g) + l2 * (D * D).sum()
            return value, np.concatenate([(r.T @ L + 2 * l2 * D).ravel(), r.sum(0)])

        from scipy.optimize import minimize  # fitting only: the predict path loads no optimiser

        res = minimize(loss, np.zeros(g * g + g), jac=True, method="L-BFGS-B", options={"maxiter": int(self.max_iter)})
        self.matrix_ = np.eye(g) + res.x[:g * g].reshape(g, g)
        self.bias_ = res.x[g * g:]
        return self

    def decision_function(self, general_probs: np.ndarray) -> np.ndarray:
        if not hasattr(self, "matrix_"):
            raise ModelError("domain correction is not fitted")
        return logit(general_probs) @ self.matrix_.T + self.bias_

    def predict_proba(self, general_probs: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(general_probs))

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {f"{TENSOR_PREFIX}matrix": self.matrix_.astype(np.float32), f"{TENSOR_PREFIX}bias": self.bias_.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "method": "stacked studio head on general logits",
                "l2": float(self.l2), "max_iter": int(self.max_iter)}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> "DomainCorrection":
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"domain correction format {config.get('format_version')!r} is not supported")
        out = cls(l2=config.get("l2", 1e-3), max_iter=config.get("max_iter", 300))
        try:
            out.matrix_ = np.asarray(tensors[f"{TENSOR_PREFIX}matrix"], dtype=np.float64)
            out.bias_ = np.asarray(tensors[f"{TENSOR_PREFIX}bias"], dtype=np.float64)
        except KeyError as exc:
            raise ModelError(f"domain correction tensors incomplete: missing {exc.args[0]}") from exc
        return out
