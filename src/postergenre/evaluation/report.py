"""One self-contained HTML evaluation report: tables, ROC/PR curves, per-genre bars, reliability plot.

Self-contained (plots are base64 PNGs inside the file, no scripts, no external assets) so the report can be
mailed, archived next to a model, or opened offline. Figures are drawn with matplotlib's object API on the
Agg canvas, which never touches pyplot's global state or a display.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from ..files import write_atomic
from ..labelled.metrics import HEADLINE
from .gallery import GenreExamples, THUMB_SIDE
from .segments import confusion_section, segments_section

_LABELS = {
    "macro_auc": "Macro ROC AUC",
    "micro_auc": "Micro ROC AUC",
    "micro_f1": "Micro F1",
    "macro_f1": "Macro F1",
    "samples_f1": "Samples F1",
    "hit_at_1": "Hit@1 (a true genre ranked first)",
    "hit_at_3": "Hit@3 (a true genre in the top 3)",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1d1d1f;padding:0 1rem}
h1{font-size:1.6rem}h2{margin-top:2.2rem;border-bottom:1px solid #ddd;padding-bottom:.3rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}th{background:#f4f4f6}
td:first-child,th:first-child{text-align:left}
.better{color:#0a7d32}.worse{color:#b3261e}.note{color:#555;font-size:.9rem}
img{max-width:100%;height:auto;border:1px solid #eee}
.memory{background:#b3261e;color:#fff;padding:1rem 1.2rem;border-radius:6px;font-size:1.1rem;margin:1rem 0}
.memory b{font-size:1.25rem;display:block;margin-bottom:.3rem}
.held-out{background:#e7f4ea;border:1px solid #0a7d32;padding:.6rem 1rem;border-radius:6px}
.gallery{display:grid;grid-template-columns:9rem 1fr 1fr;gap:.4rem 1rem;align-items:start}
.gallery h3{margin:.6rem 0 0;font-size:1rem}
.strip{display:flex;gap:.5rem;flex-wrap:wrap}
figure{margin:0;width:{THUMB}px;font-size:.72rem;line-height:1.25}
figure img{width:auto;max-width:{THUMB}px;max-height:{THUMB}px;border:2px solid #ccc}
figure.correct img{border-color:#0a7d32}figure.missed img,figure.false-alarm img{border-color:#b3261e}
table.confusion td.hit{background:#e7f4ea;font-weight:600}
.noimg{width:80px;height:110px;background:#eee;display:flex;align-items:center;justify-content:center;color:#888}
"""


def _memory_banner(relation: str) -> str:
    return ('<div class="memory" id="memory-warning" role="alert"><b>These numbers measure memory, not skill.</b>'
            f"{html.escape(relation)}. Every number below is a training-data number: it says how well the model "
            "remembers posters it has seen, not how it does on new ones. For skill, train with <code>--holdout</code> "
            "and evaluate with the same <code>--holdout</code>, or read the model card's cross-validated metrics.</div>")


def _figure(e) -> str:
    caption = (f"<b>{html.escape(e.title or e.imdb_id)}</b><br>{html.escape(', '.join(e.true_genres) or '—')}"
               f"<br>{e.kind}: p = {e.probability:.2f}")
    img = (f'<img alt="poster of {html.escape(e.title or e.imdb_id)}" src="{e.thumbnail}">' if e.thumbnail
           else '<div class="noimg">no image</div>')
    return f'<figure class="{e.kind.replace(" ", "-")}">{img}<figcaption>{caption}</figcaption></figure>'


def _gallery(examples: Sequence[GenreExamples], held_out: bool) -> str:
    which = "held-out posters" if held_out else "posters (used in training, so flattering)"
    rows = ['<div class="gallery"><div></div><div><b>most confident correct</b></div>'
            '<div><b>worst (missed true genre, or false alarm)</b></div>']
    for g in examples:
        rows.append(f"<h3>{html.escape(g.genre)}</h3>"
                    f'<div class="strip">{"".join(_figure(e) for e in g.best)}</div>'
                    f'<div class="strip">{"".join(_figure(e) for e in g.worst)}</div>')
    rows.append("</div>")
    return (f'<h2 id="gallery">Best and worst {which} per genre</h2>'
            '<p class="note">Per genre: the true posters with the highest probability, and the posters with the '
            "highest loss for that genre (a true genre scored low, or a wrong genre scored high). Probabilities are "
            "the model's for that genre; compare them with the genre's threshold in the table above.</p>"
            + "\n".join(rows))


def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _png(fig: Figure) -> str:
    """Figure -> <img> tag with the PNG inlined as base64."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _grid(n: int, cols: int = 5) -> tuple[Figure, np.ndarray]:
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(cols * 2.3, rows * 2.2))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig, axes


def _curves(y: np.ndarray, p: np.ndarray, genres: Sequence[str], kind: str) -> Figure:
    """Small multiples: 'all genres (micro)' first, then each genre; chance line for reference."""
    panels = [("all genres (micro)", y.ravel(), p.ravel())] + [
        (genres[j], y[:, j], p[:, j]) for j in range(y.shape[1])
    ]
    fig, axes = _grid(len(panels))
    for ax, (name, yt, ps) in zip(axes, panels):
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
            ax.axhline(yt.mean(), lw=0.8, ls="--", color="#999")  # the prior's precision
    xlabel, ylabel = ("false positive rate", "true positive rate") if kind == "roc" else ("recall", "precision")
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    fig.tight_layout()
    return fig


def _bars(result: dict) -> Figure:
    """Per-genre ROC AUC and F1 beside the prior (AUC 0.5, F1 of predicting the genre for everyone)."""
    rows = sorted(result["per_genre"], key=lambda r: -r["support"])
    names = [r["genre"] for r in rows]
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
    ax2.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    return fig


def _reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[Figure, float]:
    """Predicted probability vs observed frequency over all genre cells, with the expected calibration error."""
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
    return fig, ece


def _headline_table(result: dict) -> str:
    out = ["<table><tr><th>metric</th><th>model</th><th>95% interval</th><th>prior baseline</th>"
           "<th>model − prior</th></tr>"]
    for name in HEADLINE:
        h = result["headline"][name]
        diff = None if h["value"] is None or h["prior"] is None else h["value"] - h["prior"]
        cls = "" if diff is None else ("better" if diff > 0 else "worse")
        ci = "–" if h["ci_low"] is None else f"{_fmt(h['ci_low'])} – {_fmt(h['ci_high'])}"
        out.append(
            f"<tr><td>{html.escape(_LABELS.get(name, name))}</td><td><b>{_fmt(h['value'])}</b></td><td>{ci}</td>"
            f"<td>{_fmt(h['prior'])}</td><td class=\"{cls}\">{'' if diff is None else f'{diff:+.3f}'}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def _other_table(result: dict) -> str:
    prior = result["prior"]
    rows = [
        ("Weighted F1", result["f1"]["weighted"], prior["weighted_f1"]),
        ("Hamming loss (lower is better)", result["hamming_loss"], prior["hamming_loss"]),
        ("Genres decided per poster", result["mean_genres_decided"], prior["mean_genres_decided"]),
    ]
    body = "".join(f"<tr><td>{html.escape(n)}</td><td>{_fmt(v)}</td><td>{_fmt(b)}</td></tr>" for n, v, b in rows)
    return (f"<table><tr><th>metric</th><th>model</th><th>prior baseline</th></tr>{body}"
            f"<tr><td>True genres per poster</td><td colspan=2>{_fmt(result['mean_genres_true'])}</td></tr></table>")


def _genre_table(result: dict) -> str:
    cols = ["genre", "support", "prevalence", "threshold", "ROC AUC", "avg precision", "(prior AP)",
            "precision", "recall", "F1", "(prior F1)"]
    out = ["<table><tr>" + "".join(f"<th>{c}</th>" for c in cols) + "</tr>"]
    for r in sorted(result["per_genre"], key=lambda r: -r["support"]):
        cells = [html.escape(r["genre"]), str(r["support"]), _fmt(r["prevalence"]), _fmt(r["threshold"]),
                 _fmt(r["roc_auc"]), _fmt(r["average_precision"]), _fmt(r["prior_average_precision"]),
                 _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), _fmt(r["prior_f1"])]
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


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
    genres = list(genres)
    reliability, ece = _reliability(y, p)
    b = result["bootstrap"]
    intro = [
        f"{result['n_movies']:,} posters, {result['n_genres']} genres. Genres are decided as: "
        f"{html.escape(result['decision_rule'])}.",
        f"95% intervals: {b['resamples']} bootstrap resamples of movies ({b['auc_resamples']} for ROC AUC), "
        f"seed {b['seed']}.",
        "Prior baseline: every poster gets the genre frequencies as probabilities, thresholds chosen the "
        "same way (for F1 that means predicting every genre), so ROC AUC per genre is 0.5.",
        *[html.escape(n) for n in notes],
    ]
    held_out = relation is None or held_out
    status = (_memory_banner(relation) if not held_out
              else f'<p class="held-out">{html.escape(relation)}.</p>' if relation else "")
    headline_title = ("Headline metrics" if held_out
                      else "Headline metrics — training-data numbers (memory, not skill)")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS.replace('{THUMB}', str(THUMB_SIDE))}</style></head><body>",
        status,
        f"<h1>{html.escape(title)}</h1>",
        *[f'<p class="note">{line}</p>' for line in intro],
        f'<h2 id="headline">{html.escape(headline_title)}</h2>',
        _headline_table(result),
        _other_table(result),
        '<h2 id="per-genre">Per genre</h2>',
        _genre_table(result),
        '<h2 id="bars">Per-genre ROC AUC and F1 against the prior</h2>',
        _png(_bars(result)),
        '<h2 id="roc">ROC curves</h2>',
        '<p class="note">Dashed: chance (the prior).</p>',
        _png(_curves(y, p, genres, "roc")),
        '<h2 id="pr">Precision–recall curves</h2>',
        '<p class="note">Dashed: the genre\'s prevalence (the precision of the prior).</p>',
        _png(_curves(y, p, genres, "pr")),
        '<h2 id="calibration">Reliability (calibration)</h2>',
        f'<p class="note">Expected calibration error over all genre cells: {ece:.3f}.</p>',
        _png(reliability),
        segments_section(result["segments"], bool(result.get("model", {}).get("studio_extensions")))
        if result.get("segments") else "",
        confusion_section(result.get("confusion"), _png),
        _gallery(gallery, held_out) if gallery else "",
        "</body></html>",
    ]
    return write_atomic(path, "\n".join(parts))
