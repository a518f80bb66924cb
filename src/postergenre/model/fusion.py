"""Fusion of the poster and synopsis signals into one genre estimate.

Per genre j, logistic stacking on the two logits: fused_j = sigmoid(a_j * logit(poster_j) + b_j * logit(synopsis_j)
+ c_j). The per-genre weights (a_j, b_j) are pulled towards weights shared by all genres (a penalty `shrink` on
their distance), because several studio genres have only a few dozen films with a poster: a rare genre borrows
the common weighting instead of fitting noise. Genres with fewer than `min_positives` positive films keep the
poster probability unchanged (a = 1, b = c = 0). Weights and per-genre thresholds are tuned on OUT-OF-FOLD
predictions of studio films (the caller's job; see `training.studio.cross_fitted_fusion` for an honest estimate
of the fused quality, where each fold's fusion never saw that fold).

A movie without a synopsis (NaN synopsis row, or `synopsis_probs=None`) gets its poster probabilities back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .logistic import logit, sigmoid
from .parts import Part, Tensors, register_part, tensor
from .thresholds import choose_thresholds

FORMAT_VERSION = 1
_LEARNED = ("coef_poster_", "coef_synopsis_", "intercept_", "thresholds_")


@register_part("fusion")
class Fusion(Part):
    """Poster + synopsis → one estimate, an sklearn-style estimator: parameters in `__init__`, `fit(poster_probs,
    synopsis_probs, Y, fallback_thresholds=None)` returns self, learned state ends in `_` (per-genre
    `coef_poster_`, `coef_synopsis_`, `intercept_`, and `thresholds_` that decide genres from fused probabilities)."""

    def __init__(
        self,
        genres: Sequence[str] | None = None,
        *,
        shrink: float = 0.05,
        min_positives: int = 5,
        threshold_metric: str = "f1",
    ):
        self.genres = genres
        self.shrink = shrink
        self.min_positives = min_positives
        self.threshold_metric = threshold_metric

    def fit(
        self,
        poster_probs: np.ndarray,
        synopsis_probs: np.ndarray,
        Y: np.ndarray,
        *,
        fallback_thresholds: np.ndarray | None = None,
    ) -> Fusion:
        """Fit coefficients and thresholds on (out-of-fold) predictions of films that have both signals.

        Rows with a NaN synopsis are ignored. `fallback_thresholds` (e.g. the poster model's) are used for genres
        with fewer than `min_positives` positives, whose fused probability is the poster probability.
        """
        genres = list(self.genres or [])
        p = np.asarray(poster_probs, dtype=np.float64)
        s = np.asarray(synopsis_probs, dtype=np.float64)
        Y = np.asarray(Y)
        if p.shape != s.shape or p.shape != Y.shape or p.ndim != 2 or p.shape[1] != len(genres):
            raise PosterGenreError(
                f"fit_fusion: poster {p.shape}, synopsis {s.shape}, labels {Y.shape} and "
                f"{len(genres)} genres must agree as [N, G]"
            )
        rows = np.isfinite(s).all(axis=1) & np.isfinite(p).all(axis=1)
        lp, ls, y = logit(p[rows]), logit(s[rows]), Y[rows].astype(np.float64)
        g = len(genres)
        fitted = y.sum(axis=0) >= self.min_positives
        if rows.sum() == 0 or not fitted.any():
            raise PosterGenreError(f"fit_fusion: no genre has {self.min_positives} positive films with both signals")
        a, b, c = np.ones(g), np.zeros(g), np.zeros(g)
        J = np.flatnonzero(fitted)
        k = len(J)
        n = len(y)
        yj, lpj, lsj = y[:, J], lp[:, J], ls[:, J]
        shrink = float(self.shrink)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            aj, bj, cj, a0, b0 = theta[:k], theta[k : 2 * k], theta[2 * k : 3 * k], theta[3 * k], theta[3 * k + 1]
            z = aj * lpj + bj * lsj + cj
            bce = (np.logaddexp(0, z) - yj * z).sum() / n
            r = (sigmoid(z) - yj) / n
            da, db = aj - a0, bj - b0
            value = bce + shrink * (da @ da + db @ db)
            grad = np.concatenate(
                [
                    (r * lpj).sum(0) + 2 * shrink * da,
                    (r * lsj).sum(0) + 2 * shrink * db,
                    r.sum(0),
                    [-2 * shrink * da.sum(), -2 * shrink * db.sum()],
                ]
            )
            return value, grad

        theta0 = np.concatenate([np.ones(k), np.ones(k), np.zeros(k), [1.0, 1.0]])
        from scipy.optimize import minimize  # fitting only: the predict path loads no optimiser

        res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        a[J], b[J], c[J] = res.x[:k], res.x[k : 2 * k], res.x[2 * k : 3 * k]
        self.coef_poster_, self.coef_synopsis_, self.intercept_ = a, b, c
        self.fitted_on_ = int(rows.sum())
        self.fused_genres_ = [genres[j] for j in J]
        self.shared_weights_ = {"poster": float(res.x[3 * k]), "synopsis": float(res.x[3 * k + 1])}
        thresholds = choose_thresholds(Y[rows], self.fuse(p[rows], s[rows]), self.threshold_metric)
        if fallback_thresholds is not None:
            thresholds = np.where(fitted, thresholds, np.asarray(fallback_thresholds, dtype=np.float64))
        self.thresholds_ = thresholds
        return self

    def fuse(self, poster_probs: np.ndarray, synopsis_probs: np.ndarray | None) -> np.ndarray:
        """Combined probabilities [N, G]; rows whose synopsis probabilities are NaN (no plot) stay poster-only."""
        self._require_fitted(*_LEARNED[:3])  # the coefficients (fit tunes the thresholds on fused probabilities)
        p = np.asarray(poster_probs, dtype=np.float64)
        single = p.ndim == 1
        p = np.atleast_2d(p)
        if p.shape[1] != len(self.coef_poster_):
            raise PosterGenreError(
                f"fusion: poster probabilities have {p.shape[1]} genres, the fusion {len(self.coef_poster_)}"
            )
        if synopsis_probs is None:
            return p[0] if single else p
        s = np.atleast_2d(np.asarray(synopsis_probs, dtype=np.float64))
        if s.shape != p.shape:
            raise PosterGenreError(
                f"fusion: synopsis probabilities {s.shape} do not match poster probabilities {p.shape}"
            )
        present = np.isfinite(s).all(axis=1)
        out = p.copy()
        # Genres left poster-only (a = 1, b = c = 0) are copied, not round-tripped through logit/sigmoid.
        active = ~((self.coef_poster_ == 1) & (self.coef_synopsis_ == 0) & (self.intercept_ == 0))
        if present.any() and active.any():
            rows, j = np.flatnonzero(present), np.flatnonzero(active)
            z = (
                self.coef_poster_[j] * logit(p[np.ix_(rows, j)])
                + self.coef_synopsis_[j] * logit(s[np.ix_(rows, j)])
                + self.intercept_[j]
            )
            out[np.ix_(rows, j)] = sigmoid(z)
        return out[0] if single else out

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        self._require_fitted(*_LEARNED)
        return {name.rstrip("_"): np.asarray(getattr(self, name)).astype(np.float32) for name in _LEARNED}

    def config(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "genres": list(self.genres or []),
            "method": "per-genre logistic stacking of poster and synopsis logits, shrunk to shared weights",
            "shrink": float(self.shrink),
            "min_positives": int(self.min_positives),
            "threshold_metric": self.threshold_metric,
            "fitted_on": int(getattr(self, "fitted_on_", 0)),
            "fused_genres": list(getattr(self, "fused_genres_", [])),
            "shared_weights": dict(getattr(self, "shared_weights_", {})),
        }

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> Fusion:
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"fusion format {config.get('format_version')!r} is not supported (need {FORMAT_VERSION})")
        genres = list(config["genres"])
        out = cls(
            genres,
            shrink=config.get("shrink", 0.05),
            min_positives=config.get("min_positives", 5),
            threshold_metric=config.get("threshold_metric", "f1"),
        )
        for name in _LEARNED:
            value = np.asarray(tensor(tensors, name.rstrip("_"), "fusion"), dtype=np.float64)
            if value.shape != (len(genres),):
                raise ModelError(f"fusion tensors do not match its {len(genres)} genres")
            setattr(out, name, value)
        out.fitted_on_ = int(config.get("fitted_on") or 0)
        out.fused_genres_ = list(config.get("fused_genres", []))
        out.shared_weights_ = dict(config.get("shared_weights", {}))
        return out
