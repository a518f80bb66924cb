"""A self-contained HTML sheet comparing poster variants side by side (one file, images inlined as base64).

One column per variant, best first: the poster, its score, probability bars for the target genres with the
decision threshold marked, the unintended genres it signals, the top genres overall, and Grad-CAM overlays
of the targets. The file opens in any browser offline and can be mailed as is.
"""

from __future__ import annotations

import html
from pathlib import Path

from ..dataurl import image_data_url
from ..files import write_atomic
from .compare import SCORING, SYNOPSIS_NOTE, CompareResult, VariantScore
from .heatmaps import LEGEND, blended

THUMB_HEIGHT = 360
HEAT_HEIGHT = 180

_CSS = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 24px; color: #1d1d1f; }
h1 { font-size: 20px; margin: 0 0 4px; } .sub { color: #555; margin: 0 0 20px; font-size: 14px; }
.grid { display: flex; gap: 20px; align-items: flex-start; overflow-x: auto; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 12px; width: 280px; flex: none; }
.card.best { border-color: #2e7d32; box-shadow: 0 0 0 2px #2e7d3233; }
.card img.poster { display: block; max-width: 100%; max-height: 360px; margin: 0 auto 8px; }
.name { font-weight: 600; word-break: break-all; font-size: 13px; } .score { font-size: 13px; color: #333; margin: 4px 0 10px; }
.bar { position: relative; height: 16px; background: #eee; border-radius: 3px; margin: 2px 0 8px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; background: #1565c0; border-radius: 3px; }
.fill.other { background: #9e9e9e; } .fill.unintended { background: #e65100; }
.thr { position: absolute; top: -3px; bottom: -3px; width: 2px; background: #000; }
.label { font-size: 12px; display: flex; justify-content: space-between; }
h3 { font-size: 13px; margin: 12px 0 4px; } .heat { display: flex; flex-wrap: wrap; gap: 6px; }
.heat figure { margin: 0; font-size: 11px; text-align: center; } .heat img { height: 180px; display: block; }
.none { font-size: 12px; color: #777; } .warn { color: #b71c1c; font-size: 12px; }
.verdict { font-size: 13px; margin: 0 0 8px; } .verdict.miss { color: #b71c1c; } .headline { font-size: 15px; margin: 0 0 8px; }
.fail { color: #b71c1c; font-size: 13px; }
"""


def _data_uri(image, height: int) -> str:
    return image_data_url(image, "JPEG", max_side=round(height * max(1.0, image.width / image.height)), quality=85)


def _bar(genre: str, prob: float, threshold: float, css: str = "") -> str:
    return (f'<div class="label"><span>{html.escape(genre)}</span><span>{prob:.0%}'
            f' <small>(threshold {threshold:.0%})</small></span></div>'
            f'<div class="bar"><div class="fill {css}" style="width:{prob * 100:.1f}%"></div>'
            f'<div class="thr" style="left:{threshold * 100:.1f}%"></div></div>')


def _card(v: VariantScore, best: bool) -> str:
    p = v.prediction
    parts = [f'<div class="card{" best" if best else ""}">']
    if v.image is not None:
        parts.append(f'<img class="poster" src="{_data_uri(v.image, THUMB_HEIGHT)}" alt="">')
    parts.append(f'<div class="name">#{v.rank} {html.escape(v.source)}</div>')
    decided = ", ".join(v.targets_decided) or "none"
    parts.append(f'<div class="score">target score {v.score:.2f} · targets decided: {html.escape(decided)}</div>')
    parts.append(f'<p class="verdict{"" if v.fits else " miss"}">{html.escape(v.verdict)}</p>')
    if not p.poster_check.get("is_poster", True):
        parts.append(f'<div class="warn">⚠ {html.escape(p.poster_check.get("message") or "not poster-like")}</div>')
    parts.append("<h3>Target genres</h3>")
    parts += [_bar(g, prob, p.thresholds[g]) for g, prob in v.target_probabilities.items()]
    parts.append("<h3>Unintended genres signalled</h3>")
    if v.unintended:
        parts += [_bar(g, prob, p.thresholds[g], "unintended") for g, prob in v.unintended.items()]
    else:
        parts.append('<div class="none">none</div>')
    others = [(g, prob) for g, prob in p.top(8) if g not in v.target_probabilities and g not in v.unintended][:4]
    if others:
        parts.append("<h3>Other likely genres</h3>")
        parts += [_bar(g, prob, p.thresholds[g], "other") for g, prob in others]
    if v.heatmaps and v.image is not None:
        parts.append('<h3>Where the network looked (targets)</h3><div class="heat">')
        for genre, heat in v.heatmaps.items():
            parts.append(f'<figure><img src="{_data_uri(blended(v.image, heat), HEAT_HEIGHT)}" alt="">'
                         f'<figcaption>{html.escape(genre)}</figcaption></figure>')
        parts.append("</div>")
    parts.append("</div>")
    return "".join(parts)


def render_sheet(result: CompareResult, *, title: str = "Poster variants") -> str:
    """The sheet's HTML text."""
    cards = "".join(_card(v, i == 0 and v.fits) for i, v in enumerate(result.variants))
    fails = "".join(f'<p class="fail">✗ {html.escape(f.error)}</p>' for f in result.failures)
    targets = ", ".join(result.targets)
    note = " " + html.escape(SYNOPSIS_NOTE) if result.synopsis_given else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}: {html.escape(targets)}</h1>"
            f'<p class="headline">{html.escape(result.headline)}</p>'
            f'<p class="sub">{html.escape(SCORING)} Black marks: thresholds. Heatmaps: {html.escape(LEGEND)}.'
            f'{note}</p>'
            f'<div class="grid">{cards}</div>{fails}</body></html>')


def write_sheet(result: CompareResult, path: Path, *, title: str = "Poster variants") -> Path:
    """Write the sheet atomically (temporary file + rename); returns `path`."""
    return write_atomic(path, render_sheet(result, title=title))
