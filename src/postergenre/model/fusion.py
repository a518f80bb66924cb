"""Fusion of the poster and synopsis signals into one genre estimate.

Per genre j, logistic stacking on the two logits: fused_j = sigmoid(a_j * logit(poster_j) + b_j * logit(synopsis_j)
+ c_j). The per-genre weights (a_j, b_j) are pulled towards weights shared by all genres (a penalty `shrink` on
their distance), because several studio genres have only a few dozen films with a poster: a rare genre borrows
the common weighting instead of fitting noise. Genres with fewer than `min_positives` positive films keep the
poster probability unchanged (a = 1, b = c = 0). Weights and per-genre thresholds are tuned on OUT-OF-FOLD
predictions of studio films (the caller's job; see `cross_fitted_fusion` for an honest estimate of the fused
quality, where each fold's fusion never saw that fold).

A movie without a synopsis (NaN synopsis row, or `synopsis_probs=None`) gets its poster probabilities back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .head_forward import sigmoid as expit
from .thresholds import choose_thresholds

TENSOR_PREFIX = "fusion."
FORMAT_VERSION = 1
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass
class Fusion:
    """Fitted fusion: per-genre coefficients and the thresholds that decide genres from fused probabilities."""

    genres: list[str]
    coef_poster: np.ndarray  # [G]
    coef_synopsis: np.ndarray  # [G]
    intercept: np.ndarray  # [G]
    thresholds: np.ndarray  # [G], for fused probabilities
    settings: dict[str, Any]

    def fuse(self, poster_probs: np.ndarray, synopsis_probs: np.ndarray | None) -> np.ndarray:
        """Combined probabilities [N, G]; rows whose synopsis probabilities are NaN (no plot) stay poster-only."""
        p = np.asarray(poster_probs, dtype=np.float64)
        single = p.ndim == 1
        p = np.atleast_2d(p)
        if p.shape[1] != len(self.genres):
            raise PosterGenreError(f"fusion: poster probabilities have {p.shape[1]} genres, the fusion {len(self.genres)}")
        if synopsis_probs is None:
            return p[0] if single else p
        s = np.atleast_2d(np.asarray(synopsis_probs, dtype=np.float64))
        if s.shape != p.shape:
            raise PosterGenreError(f"fusion: synopsis probabilities {s.shape} do not match poster probabilities {p.shape}")
        present = np.isfinite(s).all(axis=1)
        out = p.copy()
        # Genres left poster-only (a = 1, b = c = 0) are copied, not round-tripped through logit/sigmoid.
        active = ~((self.coef_poster == 1) & (self.coef_synopsis == 0) & (self.intercept == 0))
        if present.any() and active.any():
            rows, j = np.flatnonzero(present), np.flatnonzero(active)
            z = (self.coef_poster[j] * _logit(p[np.ix_(rows, j)]) + self.coef_synopsis[j] * _logit(s[np.ix_(rows, j)])
                 + self.intercept[j])
            out[np.ix_(rows, j)] = expit(z)
        return out[0] if single else out

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {f"{TENSOR_PREFIX}coef_poster": self.coef_poster.astype(np.float32),
                f"{TENSOR_PREFIX}coef_synopsis": self.coef_synopsis.astype(np.float32),
                f"{TENSOR_PREFIX}intercept": self.intercept.astype(np.float32),
                f"{TENSOR_PREFIX}thresholds": self.thresholds.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "genres": list(self.genres),
                "method": "per-genre logistic stacking of poster and synopsis logits, shrunk to shared weights",
                **self.settings}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> "Fusion":
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"fusion format {config.get('format_version')!r} is not supported (need {FORMAT_VERSION})")
        try:
            arrays = [np.asarray(tensors[f"{TENSOR_PREFIX}{k}"], dtype=np.float64)
                      for k in ("coef_poster", "coef_synopsis", "intercept", "thresholds")]
        except KeyError as exc:
            raise ModelError(f"fusion tensors incomplete: missing {exc.args[0]}") from exc
        genres = list(config["genres"])
        if any(a.shape != (len(genres),) for a in arrays):
            raise ModelError(f"fusion tensors do not match its {len(genres)} genres")
        settings = {k: v for k, v in config.items() if k not in ("format_version", "genres", "method")}
        return cls(genres, *arrays, settings=settings)


def fuse(poster_probs: np.ndarray, synopsis_probs: np.ndarray | None, fusion: Fusion) -> np.ndarray:
    """`fusion.fuse(...)` as a function (the model core's one rule for combining the two signals)."""
    return fusion.fuse(poster_probs, synopsis_probs)


def fit_fusion(poster_probs: np.ndarray, synopsis_probs: np.ndarray, Y: np.ndarray, genres: Sequence[str], *,
               fallback_thresholds: np.ndarray | None = None, threshold_metric: str = "f1", shrink: float = 0.05,
               min_positives: int = 5) -> Fusion:
    """Fit coefficients and thresholds on (out-of-fold) predictions of films that have both signals.

    Rows with a NaN synopsis are ignored. `fallback_thresholds` (e.g. the poster model's) are used for genres
    with fewer than `min_positives` positives, whose fused probability is the poster probability.
    """
    p = np.asarray(poster_probs, dtype=np.float64)
    s = np.asarray(synopsis_probs, dtype=np.float64)
    Y = np.asarray(Y)
    if p.shape != s.shape or p.shape != Y.shape or p.ndim != 2 or p.shape[1] != len(genres):
        raise PosterGenreError(f"fit_fusion: poster {p.shape}, synopsis {s.shape}, labels {Y.shape} and "
                               f"{len(genres)} genres must agree as [N, G]")
    rows = np.isfinite(s).all(axis=1) & np.isfinite(p).all(axis=1)
    lp, ls, y = _logit(p[rows]), _logit(s[rows]), Y[rows].astype(np.float64)
    g = len(genres)
    fitted = y.sum(axis=0) >= min_positives
    if rows.sum() == 0 or not fitted.any():
        raise PosterGenreError(f"fit_fusion: no genre has {min_positives} positive films with both signals")
    a, b, c = np.ones(g), np.zeros(g), np.zeros(g)
    J = np.flatnonzero(fitted)
    k = len(J)
    n = len(y)
    yj, lpj, lsj = y[:, J], lp[:, J], ls[:, J]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        aj, bj, cj, a0, b0 = theta[:k], theta[k:2 * k], theta[2 * k:3 * k], theta[3 * k], theta[3 * k + 1]
        z = aj * lpj + bj * lsj + cj
        bce = (np.logaddexp(0, z) - yj * z).sum() / n
        r = (expit(z) - yj) / n
        da, db = aj - a0, bj - b0
        value = bce + shrink * (da @ da + db @ db)
        grad = np.concatenate([(r * lpj).sum(0) + 2 * shrink * da, (r * lsj).sum(0) + 2 * shrink * db, r.sum(0),
                               [-2 * shrink * da.sum(), -2 * shrink * db.sum()]])
        return value, grad

    theta0 = np.concatenate([np.ones(k), np.ones(k), np.zeros(k), [1.0, 1.0]])
    from scipy.optimize import minimize  # fitting only: the predict path loads no optimiser

    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    a[J], b[J], c[J] = res.x[:k], res.x[k:2 * k], res.x[2 * k:3 * k]
    fusion = Fusion(list(genres), a, b, c, np.ones(g), settings={
        "shrink": float(shrink), "min_positives": int(min_positives), "threshold_metric": threshold_metric,
        "fitted_on": int(rows.sum()), "fused_genres": [genres[j] for j in J],
        "shared_weights": {"poster": float(res.x[3 * k]), "synopsis": float(res.x[3 * k + 1])}})
    fused = fusion.fuse(p[rows], s[rows])
    thresholds = choose_thresholds(Y[rows], fused, threshold_metric)
    if fallback_thresholds is not None:
        fb = np.asarray(fallback_thresholds, dtype=np.float64)
        thresholds = np.where(fitted, thresholds, fb)
    fusion.thresholds = thresholds
    return fusion


def cross_fitted_fusion(poster_probs: np.ndarray, synopsis_probs: np.ndarray, Y: np.ndarray, genres: Sequence[str],
                        folds: Sequence[tuple[np.ndarray, np.ndarray]], **fit_kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fused probabilities [N, G] and decided genres [N, G] where each fold's fusion and thresholds were fitted
    on the other folds only (the inputs themselves should already be out-of-fold predictions)."""
    from .thresholds import decide

    p = np.asarray(poster_probs, dtype=np.float64)
    fused = p.copy()
    decided = np.zeros(p.shape, dtype=bool)
    for tr, te in folds:
        fusion = fit_fusion(p[tr], synopsis_probs[tr], Y[tr], genres, **fit_kwargs)
        fused[te] = fusion.fuse(p[te], synopsis_probs[te])
        decided[te] = decide(fused[te], fusion.thresholds)
    return fused, decided
