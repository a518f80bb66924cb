"""Per-genre decision thresholds and the one rule that turns probabilities into decided genres.

Thresholds are chosen on out-of-fold predictions so the numbers reported for a model were not tuned on the
movies they are measured on. `decide` is shared by training, evaluation and the Predictor so a poster gets the
same genres everywhere; its top-1 fallback guarantees every poster at least one genre.
"""

from __future__ import annotations

import re

import numpy as np

from postergenre.errors import PosterGenreError

THRESHOLD_METRICS = ("f1", "f0.5", "f2")
"""Accepted `metric` names; any "f<beta>" with a positive beta also works."""


def decide(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Decided genres as a bool array [N, G]: prob >= threshold, else the single most probable genre.

    The fallback exists because a poster with no genre is useless to a user, and every movie in the
    catalog has at least one genre, so predicting none is always wrong.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        row: np.ndarray = decide(p[None, :], thresholds)[0]
        return row
    t = np.asarray(thresholds, dtype=np.float64)
    if p.shape[1] != t.shape[0]:
        raise PosterGenreError(f"decide: probs have {p.shape[1]} genres but thresholds have {t.shape[0]}")
    out = p >= t[None, :]
    empty = ~out.any(axis=1)
    if empty.any():
        rows = np.flatnonzero(empty)
        out[rows, p[rows].argmax(axis=1)] = True
    return out


def _beta(metric: str) -> float:
    m = re.fullmatch(r"f(\d+(?:\.\d+)?)", metric.strip().lower())
    if m is None or float(m.group(1)) <= 0:
        raise PosterGenreError(
            f"unknown threshold metric {metric!r}; use one of {', '.join(THRESHOLD_METRICS)} (or f<beta>)"
        )
    return float(m.group(1))


def choose_thresholds(y_true: np.ndarray, probs: np.ndarray, metric: str = "f1") -> np.ndarray:
    """One threshold per genre maximising F-beta of that genre on (out-of-fold) predictions.

    Every distinct score is a candidate cut; the threshold is set halfway between the lowest score
    kept positive and the next lower score, so predictions on new data are not decided by a float tie.
    A genre with no positives gets 1.0 (predicted only through the top-1 fallback). Ties in the best
    F-beta go to the higher threshold (fewer positives).
    """
    y = np.asarray(y_true).astype(bool)
    p = np.asarray(probs, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise PosterGenreError(f"choose_thresholds: y_true {y.shape} and probs {p.shape} must be equal [N, G]")
    b2 = _beta(metric) ** 2
    n, g = p.shape
    out = np.ones(g, dtype=np.float64)
    for j in range(g):
        pos = int(y[:, j].sum())
        if pos == 0 or n == 0:
            continue
        order = np.argsort(-p[:, j], kind="stable")
        s = p[order, j]
        tp = np.cumsum(y[order, j])
        k = np.arange(1, n + 1)
        # Only the last index of each run of equal scores is a valid cut.
        last = np.ones(n, dtype=bool)
        last[:-1] = s[:-1] != s[1:]
        tp, k, idx = tp[last], k[last], np.flatnonzero(last)
        # F-beta = (1+b2) TP / ((1+b2) TP + b2 FN + FP) = (1+b2) TP / (b2 * pos + predicted)
        f = (1 + b2) * tp / (b2 * pos + k)
        best = int(np.argmax(f))  # first max = highest threshold
        i = idx[best]
        out[j] = s[i] if i == n - 1 else (s[i] + s[i + 1]) / 2.0
    return out
