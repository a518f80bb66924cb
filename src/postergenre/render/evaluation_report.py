"""One self-contained HTML evaluation report (template `evaluation_report.html`): tables, ROC/PR curves, per-genre
bars, reliability plot, quality by segment, the family-genre confusion view and the best/worst poster gallery.

Self-contained (charts and thumbnails are data URLs inside the file, no scripts, no external assets) so the report can
be mailed, archived next to a model, or opened offline. It shows the numbers of `evaluate`'s result and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..evaluation.gallery import THUMB_SIDE, GenreExamples
from ..files import write_atomic
from ..labelled.metrics import HEADLINE
from . import charts
from .environment import render

LABELS = {
    "macro_auc": "Macro ROC AUC",
    "micro_auc": "Micro ROC AUC",
    "micro_f1": "Micro F1",
    "macro_f1": "Macro F1",
    "samples_f1": "Samples F1",
    "hit_at_1": "Hit@1 (a true genre ranked first)",
    "hit_at_3": "Hit@3 (a true genre in the top 3)",
}
MEASURES = {
    "skill": "skill (unseen movies)",
    "memory": "memory (movies the model was trained on)",
    "unknown": "unknown overlap with training",
}


@dataclass(frozen=True)
class ConfusionView:
    """One signal's family-genre confusion: a heatmap and the counts it shows."""

    signal: str
    n_movies: int
    genres: list[str]
    true_counts: list[int]
    counts: list[list[int]]  # rows: true genre, columns: decided genre
    heatmap: str  # data URL


def _headline(result: dict[str, Any]) -> list[tuple[str, dict[str, Any], float | None]]:
    """(metric, its entry, model − prior) per headline metric."""
    rows = []
    for name in HEADLINE:
        h = result["headline"][name]
        rows.append((name, h, None if h["value"] is None or h["prior"] is None else h["value"] - h["prior"]))
    return rows


def _resamples(segments: list[dict[str, Any]]) -> str:
    found = {q.get("bootstrap_resamples") for s in segments for q in s["signals"].values()} - {None}
    return ", ".join(str(r) for r in sorted(found))


def _confusion(confusion: dict[str, Any] | None) -> list[ConfusionView]:
    if not confusion:
        return []
    genres = list(confusion["genres"])
    views = []
    for signal, m in confusion["signals"].items():
        counts, true_counts = np.asarray(m["decided"]), np.asarray(m["true_counts"])
        views.append(
            ConfusionView(
                signal,
                m["n_movies"],
                genres,
                [int(n) for n in true_counts],
                [[int(n) for n in row] for row in counts],
                charts.confusion(genres, counts, true_counts, f"decided genres, {signal}"),
            )
        )
    return views


def write_evaluation_report(
    result: dict,
    y_true: np.ndarray,
    probs: np.ndarray,
    genres: Sequence[str],
    path: Path,
    title: str = "Poster genre model — evaluation",
    notes: Sequence[str] = (),
    relation: str | None = None,
    gallery: Sequence[GenreExamples] = (),
    held_out: bool = False,
) -> Path:
    """Write the HTML report for `result` (from `evaluate_predictions` on the same y_true/probs) to `path`.

    `notes` are extra lines shown under the title (e.g. which model, which split). `relation` says how the
    evaluated movies relate to the training data (`evaluate.relation_to_training`, as a sentence); unless
    `held_out` (none of them trained the model: `result["model"]["held_out"]`), a red banner opens the report and
    the headline is labelled as training-data numbers.
    `gallery` (from `gallery.best_and_worst`) adds poster thumbnails per genre. `result["segments"]` and
    `result["confusion"]` (from `evaluate_model`), when present, add quality by segment and the family-genre
    confusion view. Written atomically.
    """
    y = np.asarray(y_true).astype(int)
    p = np.asarray(probs, dtype=np.float64)
    reliability, ece = charts.reliability(y, p)
    figures = {
        "genre_quality": charts.genre_quality(result["per_genre"]),
        "roc": charts.curves(y, p, genres, "roc"),
        "pr": charts.curves(y, p, genres, "pr"),
        "reliability": reliability,
    }
    text = render(
        "evaluation_report.html",
        title=title,
        result=result,
        notes=list(notes),
        relation=relation,
        held_out=relation is None or held_out,
        headline=_headline(result),
        charts=figures,
        ece=ece,
        resamples=_resamples(result.get("segments") or []),
        confusion=_confusion(result.get("confusion")),
        gallery=list(gallery),
        thumb_side=THUMB_SIDE,
        labels=LABELS,
        measures=MEASURES,
    )
    return write_atomic(path, text)
