"""Report sections for quality by segment and the family-genre confusion view (HTML pieces for report.py).

Both read what `evaluate.evaluate_model` put in its result (`segments`, `confusion`), so the HTML shows the
numbers of the JSON and nothing else. The heatmap is a matplotlib figure on the Agg canvas (no pyplot state);
the same counts are also given as a table, which screen readers and tests can read.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure

_MEASURES = {"skill": "skill (unseen movies)", "memory": "memory (movies the model was trained on)",
             "unknown": "unknown overlap with training"}


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def segment_table(segments: list[dict[str, Any]]) -> str:
    """One row per segment and signal: segment, signal, n, macro ROC AUC with 95% interval, Family AUC, micro-F1."""
    head = ["segment", "signal", "n", "macro ROC AUC", "95% interval", "Family ROC AUC", "micro-F1", "measures"]
    rows = ['<table id="segment-table"><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for seg in segments:
        signals = list(seg["signals"].items())
        for i, (signal, q) in enumerate(signals):
            first = (f'<td rowspan="{len(signals)}">{html.escape(seg["segment"])}</td>' if i == 0 else "")
            last = (f'<td rowspan="{len(signals)}" class="{"worse" if seg["measures"] == "memory" else ""}">'
                    f'{html.escape(_MEASURES.get(seg["measures"], seg["measures"]))}</td>' if i == 0 else "")
            if "macro_auc" not in q:
                cells = f'<td>{q["n_movies"]:,}</td><td colspan="4">{html.escape(q.get("note", ""))}</td>'
            else:
                auc = q["macro_auc"]
                ci = "–" if auc["ci_low"] is None else f"{_fmt(auc['ci_low'])} – {_fmt(auc['ci_high'])}"
                cells = (f'<td>{q["n_movies"]:,}</td><td><b>{_fmt(auc["value"])}</b></td><td>{ci}</td>'
                         f'<td>{_fmt(q["family_auc"])}</td><td>{_fmt(q["micro_f1"]["value"])}</td>')
            rows.append(f"<tr>{first}<td>{html.escape(signal)}</td>{cells}{last}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def segments_section(segments: list[dict[str, Any]], has_synopsis: bool) -> str:
    resamples = {q.get("bootstrap_resamples") for s in segments for q in s["signals"].values()} - {None}
    notes = [
        "Collections are the catalog's (a movie imported into several counts in each); G/PG is the content rating.",
        "<i>poster</i>: what a poster alone gets (for a model with studio extensions, the general head corrected "
        "for the studio's films), decided with the model's thresholds."
        + (" <i>poster + synopsis</i>: the combined estimate a user gets with the synopsis, on the segment's movies "
           "that have one, decided with the fusion's thresholds; <i>poster, films with a synopsis</i> is the poster "
           "alone on those same movies." if has_synopsis else
           " This model has no synopsis head, so every number is poster-only."),
        f"Intervals: {', '.join(str(r) for r in sorted(resamples)) or 'no'} bootstrap resamples of movies per row.",
    ]
    return ('<h2 id="segments">Quality by segment</h2>' + "".join(f'<p class="note">{n}</p>' for n in notes)
            + segment_table(segments))


def _heatmap(genres: list[str], counts: np.ndarray, true_counts: np.ndarray, title: str) -> Figure:
    """Rows: true genre (with its count); columns: decided genre; colour: share of the row's movies; text: count."""
    share = counts / np.maximum(true_counts[:, None], 1)
    k = len(genres)
    fig = Figure(figsize=(1.1 * k + 2.4, 0.8 * k + 1.6))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.55 else "#1d1d1f")
    ax.set_xticks(range(k), genres, rotation=35, ha="right", fontsize=9)
    ax.set_yticks(range(k), [f"{g} ({int(n)})" for g, n in zip(genres, true_counts)], fontsize=9)
    ax.set_xlabel("decided genre")
    ax.set_ylabel("true genre (movies)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the row's movies")
    fig.tight_layout()
    return fig


def _count_table(genres: list[str], counts: np.ndarray, true_counts: np.ndarray, signal: str) -> str:
    head = "".join(f"<th>{html.escape(g)}</th>" for g in genres)
    rows = [f'<table class="confusion" data-signal="{html.escape(signal)}"><tr><th>true \\ decided</th>'
            f"<th>movies</th>{head}</tr>"]
    for i, g in enumerate(genres):
        hit = ' class="hit"'
        cells = "".join(f"<td{hit if i == j else ''}>{int(counts[i, j])}</td>" for j in range(len(genres)))
        rows.append(f"<tr><th>{html.escape(g)}</th><td>{int(true_counts[i])}</td>{cells}</tr>")
    rows.append("</table>")
    return "".join(rows)


def confusion_section(confusion: dict[str, Any] | None, png) -> str:
    """The family-genre confusion view: a heatmap and a count table per signal. `png` turns a figure into <img>."""
    if not confusion:
        return ""
    genres = list(confusion["genres"])
    parts = ['<h2 id="confusion">Which family genres the model mixes up</h2>',
             '<p class="note">For the movies of each true genre (rows), how many get each genre decided (columns). '
             "The diagonal counts hits; off the diagonal a cell counts only movies that do <i>not</i> have the "
             "column's genre, so every number there is a mix-up (a false alarm of that genre). Colour: share of the "
             "row's movies.</p>"]
    for signal, m in confusion["signals"].items():
        counts, true_counts = np.asarray(m["decided"]), np.asarray(m["true_counts"])
        parts.append(f"<h3>{html.escape(signal)} ({m['n_movies']:,} movies)</h3>")
        parts.append(png(_heatmap(genres, counts, true_counts, f"decided genres, {signal}")))
        parts.append(_count_table(genres, counts, true_counts, signal))
    return "\n".join(parts)
