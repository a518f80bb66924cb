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

A poster stage (`parts.PosterStage`, part "domain_correction"): `refine` is `predict_proba`, and its torch view
applies the same map to the head's logits for Grad-CAM. Fitting it by CV on studio films is `training/studio.py`'s
job.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .logistic import LOGIT_LIMIT, logit, sigmoid
from .parts import PosterStage, Tensors, register_part, tensor

if TYPE_CHECKING:
    from torch import nn

FORMAT_VERSION = 1


@register_part("domain_correction")
class DomainCorrection(PosterStage):
    """Studio head stacked on the general poster head: logits' = logits @ M.T + d (M near the identity).

    An sklearn-style estimator: parameters in `__init__`, `fit(general_probs, Y, sample_weight=None)` returns self,
    learned state `matrix_` [G, G] and `bias_` [G]; `predict_proba(general_probs)`.
    """

    matrix_: np.ndarray
    bias_: np.ndarray

    def __init__(self, l2: float = 1e-3, max_iter: int = 300):
        self.l2 = l2
        self.max_iter = max_iter

    def fit(
        self, general_probs: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> DomainCorrection:
        """Minimise the weighted logistic loss, a mean over the N x G cells, plus `l2` * ||M - I||^2.

        The loss decouples by genre: genre g's logit is L[:, g] + L @ D[g] + d[g] (D = M - I), a weighted
        logistic regression on the G general logits plus an intercept, with the ridge on D[g] only. Each genre
        is fitted by damped Newton (a (G+1) x (G+1) Hessian; its step halved until its loss does not increase)
        until its Newton decrement is at rounding level, ~10 steps: the exact minimum, where L-BFGS on all
        G*G+G parameters jointly took ~200 loss evaluations and stopped 1e-5 above it (probabilities 0.02 off).
        """
        L = logit(general_probs)
        Y = np.asarray(Y, dtype=np.float64)
        if L.ndim != 2 or L.shape != Y.shape:
            raise PosterGenreError(
                f"domain correction: probabilities {L.shape} and labels {Y.shape} must both be [N, G]"
            )
        n, g = L.shape
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = (w / w.mean() / (n * g))[:, None]  # each cell's weight: a mean over cells, like the poster heads' loss
        l2 = float(self.l2)
        X = np.hstack([L, np.ones((n, 1))])  # every genre's features; genre g's parameters theta[g] = (D[g], d[g])
        ridge = 2 * l2 * np.append(np.ones(g), 0.0)  # the intercept is not penalised
        # Every genre's Hessian is X.T @ diag(s[:, k]) @ X: one matrix product s.T @ (the products of X's columns).
        upper = np.triu_indices(g + 1)
        pairs = X[:, upper[0]] * X[:, upper[1]]
        theta = np.zeros((g, g + 1))

        def losses(genres: np.ndarray, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = L[:, genres] + X @ params.T
            return (w * (np.logaddexp(0, z) - Y[:, genres] * z)).sum(0) + l2 * (params[:, :g] ** 2).sum(1), z

        active = np.arange(g)
        current, z = losses(active, theta)
        for _ in range(int(self.max_iter)):
            p = sigmoid(z)
            grad = ((w * (p - Y[:, active])).T @ X) + ridge * theta[active]
            s = w * p * (1 - p)
            hess = np.zeros((len(active), g + 1, g + 1))
            hess[:, upper[0], upper[1]] = hess[:, upper[1], upper[0]] = s.T @ pairs
            hess += np.diag(ridge + 1e-15)
            delta = np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
            # Twice the predicted decrease; below this the loss's rounding noise (~1e-15 of it) decides line searches.
            done = (grad * delta).sum(1) <= 1e-12 * np.abs(current) + 1e-17
            step = np.ones(len(active))
            for _ in range(40):  # backtracking: halve each genre's step until its loss does not increase
                trial, z = losses(active, theta[active] - step[:, None] * delta)
                worse = ~done & (trial > current + 1e-14 * np.abs(current))
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
            else:  # no step lowers the loss beyond rounding noise: that genre is at its minimum
                step = np.where(worse, 0.0, step)
            theta[active] -= step[:, None] * delta  # a converged genre takes its last (full, tiny) Newton step
            keep = ~done & (step > 0)
            if not keep.any():
                break
            active, current, z = active[keep], trial[keep], z[:, keep]
        self.matrix_ = np.eye(g) + theta[:, :g]
        self.bias_ = theta[:, g].copy()
        return self

    def decision_function(self, general_probs: np.ndarray) -> np.ndarray:
        self._require_fitted("matrix_", "bias_")
        out: np.ndarray = logit(general_probs) @ self.matrix_.T + self.bias_
        return out

    def predict_proba(self, general_probs: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(general_probs))

    def refine(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(probs), dtype=np.float64)

    def torch_view(self) -> nn.Module:
        from .torch_views import LinearOnLogits

        self._require_fitted("matrix_", "bias_")
        return LinearOnLogits(self.matrix_, self.bias_, LOGIT_LIMIT)

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        self._require_fitted("matrix_", "bias_")
        return {"matrix": self.matrix_.astype(np.float32), "bias": self.bias_.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "method": "stacked studio head on general logits",
            "l2": float(self.l2),
            "max_iter": int(self.max_iter),
        }

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> DomainCorrection:
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"domain correction format {config.get('format_version')!r} is not supported")
        out = cls(l2=config.get("l2", 1e-3), max_iter=config.get("max_iter", 300))
        out.matrix_ = np.asarray(tensor(tensors, "matrix", "domain correction"), dtype=np.float64)
        out.bias_ = np.asarray(tensor(tensors, "bias", "domain correction"), dtype=np.float64)
        g = len(out.bias_)
        if out.matrix_.shape != (g, g):
            raise ModelError(f"domain correction matrix {list(out.matrix_.shape)} does not fit its {g} biases")
        return out
