"""ROC AUC with ties counted as 1/2, for one label or many bootstrap resamples at once: the ranking quality the poster
heads stop early on (`heads.MLPHead`) and every report measures (`labelled.metrics`, which adds the intervals)."""

from __future__ import annotations

import numpy as np

_CHUNK_CELLS = 4_000_000  # resamples x rows handled per block: bounds memory to ~100 MB


def roc_auc_weighted(
    y: np.ndarray, score: np.ndarray, weights: np.ndarray | None = None, weight_index: np.ndarray | None = None
) -> np.ndarray:
    """ROC AUC of one label for each row of `weights` [B, M] (or once, unweighted), ties counted as 1/2.

    AUC = sum over positives of w_i * (negative weight scored below i + half the negative weight tied
    with i) / (W_pos * W_neg); NaN when a resample has no positive or no negative. `weight_index` [N]
    maps each scored element to its weight column (micro AUC: every genre cell of a movie shares the
    movie's weight) so the [B, N*G] weight matrix is never materialised.
    """
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    single = weights is None
    w = np.ones((1, s.shape[0])) if single else np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(s, kind="stable")
    ys, ss = y[order], s[order]
    n = ss.shape[0]
    if n == 0:
        out = np.full(w.shape[0], np.nan)
        return out[0] if single else out
    # Tie groups on the sorted scores.
    start = np.ones(n, dtype=bool)
    start[1:] = ss[1:] != ss[:-1]
    group = np.cumsum(start) - 1
    starts = np.flatnonzero(start)
    ends = np.append(starts[1:], n) - 1
    cols = order if weight_index is None else np.asarray(weight_index)[order]
    out = np.empty(w.shape[0])
    step = max(1, _CHUNK_CELLS // n)
    for b0 in range(0, w.shape[0], step):
        ws = w[b0 : b0 + step][:, cols]
        negw = np.where(ys[None, :], 0.0, ws)
        posw = np.where(ys[None, :], ws, 0.0)
        cum = np.cumsum(negw, axis=1)
        before = np.where(starts > 0, cum[:, np.maximum(starts - 1, 0)], 0.0)  # [b, groups]
        within = cum[:, ends] - before
        below = (before + 0.5 * within)[:, group]  # [b, n]
        wpos, wneg = posw.sum(axis=1), cum[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[b0 : b0 + step] = (posw * below).sum(axis=1) / (wpos * wneg)
        out[b0 : b0 + step][(wpos == 0) | (wneg == 0)] = np.nan
    return out[0] if single else out


def macro_auc(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean ROC AUC over the columns that have both classes (0.0 when none has); scores may be logits."""
    y = np.asarray(y)
    aucs = [roc_auc_weighted(y[:, j], scores[:, j]) for j in range(y.shape[1]) if 0 < (y[:, j] > 0.5).sum() < len(y)]
    return float(np.mean(aucs)) if aucs else 0.0
