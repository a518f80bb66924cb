"""The reports' charts: matplotlib figures on the object API (no pyplot state, no display), inlined as PNG data URLs
by the one image encoder (`dataurl.image_data_url`), so a report stays one file.

Each function draws what its data says: counts, curves and bins computed here are only what the chart plots.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..catalog.records import Movie
from ..dataurl import image_data_url

BAR_COLOUR = "#4c72b0"


def png(fig: Figure) -> str:
    """A figure as a PNG data URL (90 dpi, trimmed to what is drawn)."""
    return image_data_url(fig, "PNG", dpi=90)


# -- dataset report ------------------------------------------------------------------------------------------------


def bars(labels: list[str], values: list[int], title: str, horizontal: bool = False) -> str:
    fig = Figure(figsize=(8, max(3, 0.28 * len(labels))) if horizontal else (8, 3.5))
    ax = fig.subplots()
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color=BAR_COLOUR)
    else:
        ax.bar(labels, values, color=BAR_COLOUR)
        ax.tick_params(axis="x", rotation=45)
    ax.set_title(title)
    return png(fig)


def cooccurrence(movies: list[Movie], genres: list[str]) -> str:
    """Heatmap of how often two genres label the same movie (diagonal: the genre's own count)."""
    index = {g: i for i, g in enumerate(genres)}
    matrix = np.zeros((len(genres), len(genres)), dtype=np.int64)
    for m in movies:
        ids = [index[g] for g in m.genres if g in index]
        for i in ids:
            for j in ids:
                matrix[i, j] += 1
    fig = Figure(figsize=(11, 9.5))
    ax = fig.subplots()
    image = ax.imshow(np.log1p(matrix), cmap="viridis")
    ax.set_xticks(range(len(genres)), genres, rotation=90)
    ax.set_yticks(range(len(genres)), genres)
    if len(genres) <= 30:
        for i in range(len(genres)):
            for j in range(len(genres)):
                if matrix[i, j]:
                    ax.text(
                        j,
                        i,
                        str(matrix[i, j]),
                        ha="center",
                        va="center",
                        fontsize=5,
                        color="white" if matrix[i, j] < matrix.max() / 4 else "black",
                    )
    fig.colorbar(image, ax=ax, label="log(1 + movies)")
    ax.set_title("Genre co-occurrence (movies with both genres)")
    return png(fig)


def years(movies: list[Movie]) -> str:
    known = [m.year for m in movies if m.year is not None]
    fig = Figure(figsize=(8, 3.5))
    ax = fig.subplots()
    if known:
        ax.hist(known, bins=range(min(known), max(known) + 2), color=BAR_COLOUR)
    ax.set_title("Release years")
    ax.set_xlabel("year")
    ax.set_ylabel("movies")
    return png(fig)


def poster_sizes(movies: list[Movie]) -> tuple[str | None, list[tuple[str, int]]]:
    """A bubble per distinct stored poster size (most posters share a few), and the 10 commonest sizes; (None, [])
    when no poster is stored."""
    sizes = [
        (m.poster_width, m.poster_height)
        for m in movies
        if m.poster_status == "ok" and m.poster_width and m.poster_height
    ]
    if not sizes:
        return None, []
    counts = Counter(sizes)
    (widths, heights), n = np.array(list(counts)).T, np.array(list(counts.values()))
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    ax.scatter(widths, heights, s=20 + 400 * np.sqrt(n / n.max()), alpha=0.5, color=BAR_COLOUR)
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title(f"Poster sizes ({len(sizes)} stored posters; bubble area ~ count)")
    return png(fig), [(f"{w}×{h}", c) for (w, h), c in counts.most_common(10)]


# -- evaluation report ---------------------------------------------------------------------------------------------


def _grid(n: int, cols: int = 5) -> tuple[Figure, np.ndarray]:
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(cols * 2.3, rows * 2.2))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes


def curves(y: np.ndarray, p: np.ndarray, genres: Sequence[str], kind: str) -> str:
    """ROC (`kind` "roc") or precision-recall small multiples: all genres (micro) first, then each genre, with the
    chance line (ROC) or the prior's precision (PR) dashed."""
    from sklearn.metrics import precision_recall_curve, roc_curve  # the evaluation report only, not the dataset's

    panels = [("all genres (micro)", y.ravel(), p.ravel())] + [(genres[j], y[:, j], p[:, j]) for j in range(y.shape[1])]
    fig, axes = _grid(len(panels))
    for ax, (name, yt, ps) in zip(axes, panels, strict=False):  # the grid's spare axes stay blank
        ax.set_title(name, fontsize=8)
        ax.tick_params(labelsize=6)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        if yt.sum() == 0 or yt.sum() == len(yt):
            ax.text(0.5, 0.5, "one class only", ha="center", fontsize=7)
            continue
        if kind == "roc":
            fpr, tpr, _ = roc_curve(yt, ps)
            ax.plot(fpr, tpr, lw=1.2, color="#1f5fbf")
            ax.plot([0, 1], [0, 1], lw=0.8, ls="--", color="#999")
        else:
            prec, rec, _ = precision_recall_curve(yt, ps)
            ax.plot(rec, prec, lw=1.2, color="#b35c00")
            ax.axhline(yt.mean(), lw=0.8, ls="--", color="#999")
    xlabel, ylabel = ("false positive rate", "true positive rate") if kind == "roc" else ("recall", "precision")
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    fig.tight_layout()
    return png(fig)


def genre_quality(per_genre: list[dict[str, Any]]) -> str:
    """Per-genre ROC AUC and F1 (most supported first) beside the prior (AUC 0.5; F1 of predicting the genre for
    everyone)."""
    rows = sorted(per_genre, key=lambda r: -r["support"])
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(7, 0.45 * len(rows) + 2), 6.5))
    ax1, ax2 = fig.subplots(2, 1, sharex=True)

    def val(v: float | None) -> float:
        return float("nan") if v is None else v

    ax1.bar(x, [val(r["roc_auc"]) for r in rows], color="#1f5fbf", label="model")
    ax1.axhline(0.5, color="#999", ls="--", lw=1, label="prior (0.5)")
    ax1.set_ylabel("ROC AUC")
    ax1.set_ylim(0.3, 1)
    ax1.legend(fontsize=8, loc="lower right")
    ax2.bar(x - 0.2, [val(r["f1"]) for r in rows], width=0.4, color="#b35c00", label="model F1")
    ax2.bar(x + 0.2, [val(r["prior_f1"]) for r in rows], width=0.4, color="#bbb", label="prior F1")
    ax2.set_ylabel("F1 at threshold")
    ax2.set_ylim(0, 1)
    ax2.legend(fontsize=8, loc="upper right")
    ax2.set_xticks(x, [r["genre"] for r in rows], rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    return png(fig)


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[str, float]:
    """Predicted probability vs observed frequency over all genre cells, and how many cells fall in each bin; with
    the expected calibration error the plot's title states."""
    yt, ps = y.ravel().astype(float), p.ravel()
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(ps, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_p = np.bincount(which, weights=ps, minlength=bins) / np.maximum(count, 1)
    frac = np.bincount(which, weights=yt, minlength=bins) / np.maximum(count, 1)
    ece = float((count * np.abs(mean_p - frac)).sum() / max(count.sum(), 1))
    fig = Figure(figsize=(9, 4))
    ax1, ax2 = fig.subplots(1, 2)
    ok = count > 0
    ax1.plot([0, 1], [0, 1], ls="--", color="#999", lw=1, label="perfectly calibrated")
    ax1.plot(mean_p[ok], frac[ok], marker="o", color="#1f5fbf", label="model")
    ax1.set_xlabel("mean predicted probability")
    ax1.set_ylabel("observed frequency")
    ax1.set_xlim(0, 1)
    ax1.set_ylim(0, 1)
    ax1.legend(fontsize=8)
    ax1.set_title(f"reliability (all genres), ECE {ece:.3f}", fontsize=10)
    ax2.bar((edges[:-1] + edges[1:]) / 2, count, width=1 / bins * 0.9, color="#888")
    ax2.set_yscale("log")
    ax2.set_xlabel("predicted probability")
    ax2.set_ylabel("genre cells (log)")
    ax2.set_title("how many predictions fall in each bin", fontsize=10)
    fig.tight_layout()
    return png(fig), ece


def confusion(genres: list[str], counts: np.ndarray, true_counts: np.ndarray, title: str) -> str:
    """Rows: true genre (with its count); columns: decided genre; colour: share of the row's movies; text: count."""
    share = counts / np.maximum(true_counts[:, None], 1)
    k = len(genres)
    fig = Figure(figsize=(1.1 * k + 2.4, 0.8 * k + 1.6))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if share[i, j] > 0.55 else "#1d1d1f",
            )
    ax.set_xticks(range(k), genres, rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(k), [f"{g} ({int(n)})" for g, n in zip(genres, true_counts, strict=True)], fontsize=9)
    ax.set_xlabel("decided genre")
    ax.set_ylabel("true genre (movies)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row's movies")
    fig.tight_layout()
    return png(fig)
