"""Multi-label genre metrics with bootstrap intervals and a prior baseline beside every headline number.

Why the prior: genre frequencies alone already score a non-trivial F1 (Drama is everywhere), so a number
means little until it is set beside what knowing nothing about the poster gives. Why bootstrap: with a few
hundred examples of a rare genre, differences of a point or two are noise; the interval says so.

The bootstrap resamples movies (rows) with replacement. Each resample is expressed as integer weights on the
original rows, so every statistic is a weighted sum over rows computed for all resamples at once with
matrix products, and ROC AUC uses a weighted rank formula on a single sort per genre. 1000 resamples of
18,000 x 25 take seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score

from ..errors import PosterGenreError
from ..jsonsafe import json_safe
from ..model.auc import macro_auc, roc_auc_weighted
from ..model.thresholds import choose_thresholds, decide

__all__ = [
    "HEADLINE",
    "cross_fitted_f1",
    "evaluate_predictions",
    "f1_scores",
    "macro_auc",
    "paired_auc_gain",
    "roc_auc_weighted",
]

HEADLINE = ("macro_auc", "micro_auc", "micro_f1", "macro_f1", "samples_f1", "hit_at_1", "hit_at_3")
"""The numbers reported with a 95% interval and the prior baseline, in display order."""


# ---------------------------------------------------------------------------------- per-row parts
def _row_parts(y: np.ndarray, decided: np.ndarray, probs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-movie quantities whose weighted sums give every set-based metric."""
    tp = (y & decided).astype(np.float64)
    fp = (~y & decided).astype(np.float64)
    fn = (y & ~decided).astype(np.float64)
    denom = 2 * tp.sum(1) + fp.sum(1) + fn.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        samples_f1 = np.where(denom > 0, 2 * tp.sum(1) / np.where(denom > 0, denom, 1), 0.0)
    # Ranks by probability, stable so equal probabilities (the prior) break ties by genre order.
    top = np.argsort(-probs, axis=1, kind="stable")
    rows = np.arange(y.shape[0])[:, None]
    hit1 = y[rows, top[:, :1]].any(axis=1).astype(np.float64)
    hit3 = y[rows, top[:, :3]].any(axis=1).astype(np.float64)
    wrong = (y != decided).sum(axis=1).astype(np.float64)
    return {"tp": tp, "fp": fp, "fn": fn, "samples_f1": samples_f1, "hit1": hit1, "hit3": hit3, "wrong": wrong}


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denom = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 0.0)


def _set_metrics(parts: dict[str, np.ndarray], w: np.ndarray) -> dict[str, np.ndarray]:
    """Set-based metrics for each weight row of w [B, N] (rows = resamples)."""
    tp, fp, fn = w @ parts["tp"], w @ parts["fp"], w @ parts["fn"]  # [B, G]
    total = w.sum(axis=1)
    g = tp.shape[1]
    return {
        "micro_f1": _f1(tp.sum(1), fp.sum(1), fn.sum(1)),
        "macro_f1": _f1(tp, fp, fn).mean(axis=1),
        "samples_f1": (w @ parts["samples_f1"]) / total,
        "hit_at_1": (w @ parts["hit1"]) / total,
        "hit_at_3": (w @ parts["hit3"]) / total,
        "hamming_loss": (w @ parts["wrong"]) / (total * g),
    }


def _precision_recall(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        recall = np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), 0.0)
    return precision, recall


def _point(y: np.ndarray, probs: np.ndarray, thresholds: np.ndarray) -> tuple[dict, dict[str, np.ndarray]]:
    """All point estimates for one set of predictions; also returns the per-row parts for the bootstrap."""
    decided = decide(probs, thresholds)
    parts = _row_parts(y, decided, probs)
    ones = np.ones((1, y.shape[0]))
    flat: dict[str, Any] = {k: float(v[0]) for k, v in _set_metrics(parts, ones).items()}
    tp, fp, fn = parts["tp"].sum(0), parts["fp"].sum(0), parts["fn"].sum(0)
    support = y.sum(axis=0)
    f1 = _f1(tp, fp, fn)
    flat["weighted_f1"] = float((f1 * support).sum() / support.sum()) if support.sum() > 0 else 0.0
    auc = np.array([roc_auc_weighted(y[:, j], probs[:, j]) for j in range(y.shape[1])])
    flat["macro_auc"] = float(np.nanmean(auc)) if np.isfinite(auc).any() else math.nan
    flat["micro_auc"] = float(roc_auc_weighted(y.ravel(), probs.ravel()))
    precision, recall = _precision_recall(tp, fp, fn)
    per = {
        "auc": auc,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": support,
        "decided": decided.sum(axis=0),
    }
    flat["_per"] = per
    flat["mean_genres_decided"] = float(decided.sum(axis=1).mean()) if len(y) else 0.0
    return flat, parts


# ----------------------------------------------------------------------------------------- bootstrap
def _bootstrap(
    y: np.ndarray, probs: np.ndarray, parts: dict[str, np.ndarray], resamples: int, seed: int, auc_resamples: int
) -> dict[str, np.ndarray]:
    """Bootstrap distributions of the headline numbers (AUCs on the first `auc_resamples` resamples)."""
    n, g = y.shape
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)  # [B, N] row counts
    dist = _set_metrics(parts, w)
    wa = w[:auc_resamples]
    per_genre = np.stack([roc_auc_weighted(y[:, j], probs[:, j], wa) for j in range(g)], axis=1)  # [B, G]
    finite = np.isfinite(per_genre)
    counts = finite.sum(axis=1)
    sums = np.where(finite, per_genre, 0.0).sum(axis=1)
    dist["macro_auc"] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    dist["micro_auc"] = roc_auc_weighted(y.ravel(), probs.ravel(), wa, np.repeat(np.arange(n), g))
    return dist


# ----------------------------------------------------------------------------------------- public
def _checked(
    y_true: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, genres: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels as bool [N, G], probabilities, thresholds), or PosterGenreError naming what does not fit."""
    y = np.asarray(y_true)
    p = np.asarray(probs, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if y.ndim != 2 or p.shape != y.shape:
        raise PosterGenreError(f"evaluate: y_true {y.shape} and probs {p.shape} must both be [N, G]")
    if t.shape != (y.shape[1],) or len(genres) != y.shape[1]:
        raise PosterGenreError(
            f"evaluate: {y.shape[1]} genres in the labels, {t.shape} thresholds and {len(genres)} genre names"
        )
    if y.shape[0] == 0:
        raise PosterGenreError("evaluate: no movies to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise PosterGenreError("evaluate: y_true must contain only 0 and 1")
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).any(axis=1).sum())
        raise PosterGenreError(f"evaluate: {bad} movies have missing (NaN/inf) probabilities")
    return y.astype(bool), p, t


def _headline(point: dict[str, Any], prior_point: dict[str, Any], dist: dict[str, np.ndarray]) -> dict[str, Any]:
    """Each headline number with its 95% percentile interval (when resampled) and the prior baseline's value."""
    headline = {}
    for name in HEADLINE:
        entry = {
            "value": json_safe(point[name]),
            "ci_low": None,
            "ci_high": None,
            "prior": json_safe(prior_point[name]),
        }
        if name in dist:
            d = dist[name][np.isfinite(dist[name])]
            if d.size:
                entry["ci_low"], entry["ci_high"] = (json_safe(v) for v in np.percentile(d, [2.5, 97.5]))
        headline[name] = entry
    return headline


def _per_genre(
    y: np.ndarray,
    p: np.ndarray,
    t: np.ndarray,
    genres: list[str],
    per: dict[str, np.ndarray],
    pper: dict[str, np.ndarray],
) -> list[dict[str, Any]]:
    """One JSON-safe row per genre: support, threshold, ROC AUC, average precision, precision, recall, F1 (and the
    prior's F1 and average precision beside them)."""
    n, g = y.shape
    ap = [average_precision_score(y[:, j], p[:, j]) if 0 < y[:, j].sum() < n else math.nan for j in range(g)]
    return [
        {
            "genre": genres[j],
            "support": int(per["support"][j]),
            "prevalence": json_safe(per["support"][j] / n),
            "threshold": json_safe(t[j]),
            "roc_auc": json_safe(per["auc"][j]),
            "average_precision": json_safe(ap[j]),
            "precision": json_safe(per["precision"][j]),
            "recall": json_safe(per["recall"][j]),
            "f1": json_safe(per["f1"][j]),
            "decided": int(per["decided"][j]),
            "prior_f1": json_safe(pper["f1"][j]),
            "prior_average_precision": json_safe(per["support"][j] / n),
        }
        for j in range(g)
    ]


def evaluate_predictions(
    y_true: np.ndarray,
    probs: np.ndarray,
    thresholds: np.ndarray,
    genres: Sequence[str],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    auc_bootstrap: int | None = 200,
    prior: np.ndarray | None = None,
    threshold_metric: str = "f1",
) -> dict:
    """Every reported metric for predictions `probs` [N, G] against 0/1 labels `y_true` [N, G] (JSON-safe).

    Decided genres come from `decide` (thresholds + top-1 fallback), exactly as the Predictor decides them.
    `bootstrap` resamples of movies give 95% percentile intervals on the headline numbers; the ROC AUC
    intervals use the first `auc_bootstrap` of them (None = all) because AUC needs a sort per resample.
    The prior baseline gives every movie the genre frequencies (`prior`, e.g. training-set frequencies;
    default the frequencies of `y_true`) with thresholds chosen by the same rule (`threshold_metric`)
    on `y_true` — which flatters the baseline, not the model.
    """
    y, p, t = _checked(y_true, probs, thresholds, genres)
    genres = list(genres)
    n, g = y.shape

    point, parts = _point(y, p, t)
    freq = y.mean(axis=0) if prior is None else np.asarray(prior, dtype=np.float64)
    prior_probs = np.broadcast_to(freq, (n, g)).copy()
    prior_thresholds = choose_thresholds(y, prior_probs, threshold_metric)
    prior_point, _ = _point(y, prior_probs, prior_thresholds)

    dist: dict[str, np.ndarray] = {}
    auc_b = 0
    if bootstrap > 0:
        auc_b = bootstrap if auc_bootstrap is None else max(1, min(bootstrap, auc_bootstrap))
        dist = _bootstrap(y, p, parts, bootstrap, seed, auc_b)
    headline = _headline(point, prior_point, dist)
    per_genre = _per_genre(y, p, t, genres, point.pop("_per"), prior_point.pop("_per"))
    flat_keys = (
        "micro_f1",
        "macro_f1",
        "weighted_f1",
        "samples_f1",
        "micro_auc",
        "macro_auc",
        "hamming_loss",
        "hit_at_1",
        "hit_at_3",
        "mean_genres_decided",
    )
    return {
        "n_movies": int(n),
        "n_genres": int(g),
        "genres": genres,
        "headline": headline,
        "f1": {k: json_safe(point[f"{k}_f1"]) for k in ("micro", "macro", "weighted", "samples")},
        "roc_auc": {"micro": json_safe(point["micro_auc"]), "macro": json_safe(point["macro_auc"])},
        "hamming_loss": json_safe(point["hamming_loss"]),
        "hit_at_1": json_safe(point["hit_at_1"]),
        "hit_at_3": json_safe(point["hit_at_3"]),
        "mean_genres_true": float(y.sum(axis=1).mean()),
        "mean_genres_decided": json_safe(point["mean_genres_decided"]),
        "per_genre": per_genre,
        "prior": {
            **{k: json_safe(prior_point[k]) for k in flat_keys},
            "frequencies": [json_safe(v) for v in freq],
            "thresholds": [json_safe(v) for v in prior_thresholds],
        },
        "bootstrap": {
            "resamples": int(bootstrap),
            "auc_resamples": int(auc_b),
            "seed": int(seed),
            "confidence": 0.95,
            "method": "percentile, movies resampled with replacement",
        },
        "decision_rule": "probability >= per-genre threshold, else the single most probable genre",
    }


def cross_fitted_f1(
    Y: np.ndarray, P: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], metric: str
) -> dict[str, float]:
    """Micro/macro F1 when each fold's thresholds come only from the other folds' predictions.

    The headline F1 uses thresholds tuned on all out-of-fold predictions (as the shipped model does); this
    number shows how much that tuning flatters it.
    """
    decided = np.zeros(Y.shape, dtype=bool)
    for _, te in folds:
        rest = np.setdiff1d(np.arange(len(Y)), te)
        decided[te] = decide(P[te], choose_thresholds(Y[rest], P[rest], metric))
    return f1_scores(Y, decided)


def f1_scores(Y: np.ndarray, decided: np.ndarray) -> dict[str, float]:
    """Micro F1 (over all genre decisions) and macro F1 (mean of per-genre F1) of decided genres [N, G]."""
    y, d = np.asarray(Y).astype(bool), np.asarray(decided).astype(bool)
    tp, fp, fn = (y & d).sum(0), (~y & d).sum(0), (y & ~d).sum(0)
    return {"micro_f1": float(_f1(tp.sum(), fp.sum(), fn.sum())), "macro_f1": float(_f1(tp, fp, fn).mean())}


def paired_auc_gain(
    Y: np.ndarray, base: np.ndarray, new: np.ndarray, genres: Sequence[str], *, resamples: int = 500, seed: int = 0
) -> dict[str, Any]:
    """ROC AUC of `new` minus `base` on the same films, per genre and macro, with 95% paired-bootstrap intervals."""
    Y = np.asarray(Y).astype(bool)
    n, g = Y.shape
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    cols = [j for j in range(g) if 0 < Y[:, j].sum() < n]
    per, dist = [], []
    for j in cols:
        d_point = roc_auc_weighted(Y[:, j], new[:, j]) - roc_auc_weighted(Y[:, j], base[:, j])
        d = roc_auc_weighted(Y[:, j], new[:, j], w) - roc_auc_weighted(Y[:, j], base[:, j], w)
        dist.append(d)
        lo, hi = np.nanpercentile(d, [2.5, 97.5])
        per.append(
            {
                "genre": genres[j],
                "support": int(Y[:, j].sum()),
                "base_auc": float(roc_auc_weighted(Y[:, j], base[:, j])),
                "new_auc": float(roc_auc_weighted(Y[:, j], new[:, j])),
                "gain": float(d_point),
                "ci_low": float(lo),
                "ci_high": float(hi),
            }
        )
    macro = np.nanmean(np.stack(dist), axis=0)
    lo, hi = np.nanpercentile(macro, [2.5, 97.5])
    return {
        "macro_gain": float(np.mean([p["gain"] for p in per])),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "per_genre": per,
        "resamples": resamples,
    }
