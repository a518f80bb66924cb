"""The campaign brief as one self-contained HTML file: readable on screen, printing to 1–3 A4 pages for up to
three variants. Posters and heatmaps are inlined as data URLs and the charts are plain HTML bars, so the file loads
nothing from anywhere (no script at all, no style or font from another host) and can be mailed as is.
"""

from __future__ import annotations

import html

from .._version import __version__
from ..dataurl import image_data_url
from .brief import Brief, BriefVariant
from .heatmaps import LEGEND, blended

POSTER_HEIGHT = 190
HEAT_HEIGHT = 96
BARS = 6  # genres drawn per variant: the targets, then the other decided genres, then the strongest others
SCALE_MAX = 2.5  # strength drawn on 0..2.5, so the decision line (1.0) sits at 40 % for every genre

_CSS = """
@page { size: A4; margin: 11mm 10mm; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #1d2330; margin: 24px auto;
       max-width: 1000px; padding: 0 16px; font-size: 13px; line-height: 1.4; }
h1 { font-size: 21px; margin: 0 0 2px; } h2 { font-size: 15px; margin: 16px 0 6px; border-bottom: 1px solid #dfe2e8; }
h2 small { font-weight: normal; font-size: 11px; } h3 { font-size: 13px; margin: 10px 0 4px; } p { margin: 0 0 6px; } .sub { color: #636b7a; margin-bottom: 10px; }
.rec { border: 2px solid #1f8a5b; background: #eef8f2; border-radius: 8px; padding: 8px 12px; }
.rec.miss { border-color: #b26a00; background: #fff6e5; } .rec .lead { font-size: 15px; font-weight: 600; }
ul { margin: 4px 0 6px; padding-left: 18px; } li { margin: 1px 0; }
.grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; }
.card { border: 1px solid #dfe2e8; border-radius: 8px; padding: 8px; break-inside: avoid; page-break-inside: avoid; }
.card.best { border: 2px solid #1f8a5b; } .card.flagged { background: #f6f6f6; }
.card .head { display: flex; justify-content: space-between; font-weight: 600; }
.card .name { color: #636b7a; font-weight: normal; overflow-wrap: anywhere; }
.card img.poster { display: block; max-height: 190px; max-width: 100%; margin: 6px auto; border-radius: 4px; }
.verdict { font-weight: 600; color: #1f8a5b; } .verdict.miss { color: #8c1d18; }
.warn { color: #8c1d18; } .muted { color: #636b7a; }
.bar { display: grid; grid-template-columns: 74px 1fr 34px; gap: 4px; align-items: center; font-size: 11px; }
.track { position: relative; height: 9px; background: #eceef2; border-radius: 3px; }
.fill { position: absolute; left: 0; top: 0; bottom: 0; background: #9aa8c7; border-radius: 3px; }
.fill.target { background: #3558d6; } .fill.unintended { background: #e08a00; }
.line { position: absolute; left: 40%; top: -2px; bottom: -2px; width: 2px; background: #1d2330; }
.heat { display: flex; gap: 6px; flex-wrap: wrap; } .heat figure { margin: 0; text-align: center; font-size: 10px; }
.heat img { height: 96px; display: block; border-radius: 3px; }
table { border-collapse: collapse; width: 100%; font-size: 11.5px; } td, th { text-align: left; padding: 2px 6px 2px 0;
  border-bottom: 1px solid #eceef2; vertical-align: top; } th { color: #636b7a; font-weight: normal; }
.group { break-inside: avoid; page-break-inside: avoid; }
.chip { display: inline-block; background: #dbe3fb; border-radius: 999px; padding: 0 7px; margin: 1px 2px 1px 0; }
a { color: #3558d6; text-decoration: none; }
footer { color: #636b7a; font-size: 11px; margin-top: 14px; }
@media print { body { margin: 0; max-width: none; padding: 0; font-size: 10.5px; } h2 { margin-top: 8px; }
  .card img.poster { max-height: 130px; } .heat img { height: 66px; } table { font-size: 10px; } }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _bar(genre: str, strength: float, css: str) -> str:
    width = min(strength, SCALE_MAX) / SCALE_MAX * 100
    return (f'<div class="bar"><span>{_e(genre)}</span><span class="track"><span class="fill {css}" '
            f'style="width:{width:.1f}%"></span><span class="line"></span></span><span>{strength:.1f}×</span></div>')


def _bars(v: BriefVariant, targets: list[str]) -> str:
    reading = v.score.prediction.reading
    genres = list(targets) + [g for g in reading.decided if g not in targets]
    genres += [g for g in sorted(reading.strength, key=lambda g: -reading.strength[g]) if g not in genres]
    rows = []
    for g in genres[:max(BARS, len(targets))]:
        css = "target" if g in targets else "unintended" if g in v.score.unintended else ""
        rows.append(_bar(g, reading.strength[g], css))
    return "".join(rows)


def _card(v: BriefVariant, brief: Brief) -> str:
    s, prediction = v.score, v.score.prediction
    best = brief.recommendation.get("label") == v.label and brief.recommendation.get("fits")
    out = [f'<div class="card{" best" if best else ""}{"" if s.is_poster else " flagged"}">'
           f'<div class="head"><span>{_e(v.label)} <span class="name">{_e(v.name)}</span></span>'
           f'<span>#{s.rank}</span></div>']
    if s.image is not None:
        url = image_data_url(s.image, "JPEG", max_side=POSTER_HEIGHT * 2, quality=82)
        out.append(f'<img class="poster" src="{url}" alt="{_e(v.name)}">')
    if not s.is_poster:
        out.append(f'<p class="warn">⚠ {_e(prediction.poster_check.get("message") or "Not poster-like.")}</p>')
    if s.verdicts:
        out.append(f'<p class="verdict{"" if s.fits else " miss"}">{_e(s.verdict)}</p>')
    out.append(f'<p>{_e(prediction.summary["text"])}</p>')
    out.append(_bars(v, brief.targets))
    unintended = ", ".join(s.unintended) or "none"
    out.append(f'<p class="muted">Unintended genres: {_e(unintended)}</p>')
    if v.over_promised or v.under_sold:
        parts = ([f"under-sells {', '.join(v.under_sold)}"] if v.under_sold else []) + \
                ([f"promises {', '.join(v.over_promised)}"] if v.over_promised else [])
        out.append(f'<p class="muted">Against the story: {_e("; ".join(parts))}</p>')
    if s.heatmaps and s.image is not None:
        out.append('<div class="heat">')
        for genre, heat in s.heatmaps.items():
            url = image_data_url(blended(s.image, heat, max_side=HEAT_HEIGHT * 2), "JPEG", quality=80)
            out.append(f'<figure><img src="{url}" alt="Where the poster shows {_e(genre)}">'
                       f'<figcaption>{_e(genre)}</figcaption></figure>')
        out.append("</div>")
    out.append("</div>")
    return "".join(out)


def _audiences(brief: Brief) -> str:
    a = brief.audiences
    out = ["<h2>Audiences to aim at</h2>"]
    if not a.get("available"):
        return "".join(out) + f"<p>{_e(a.get('note', ''))}</p>"
    out.append(f'<p class="muted">{_e(a.get("basis", ""))} {_e(a.get("note", ""))}</p>')
    for group in brief.groups:
        out.append(f'<div class="group"><h3>Fans of {_e(group.genre)} titles like these</h3>')
        if not group.titles:
            out.append('<p class="muted">No catalog title with this genre passes the rating filter.</p></div>')
            continue
        out.append("<table><tr><th>Title</th><th>Rating</th><th>Genres</th><th>Catalog</th><th>Look</th></tr>")
        for t in group.titles:
            out.append(f'<tr><td><a href="{_e(t.imdb_url)}">{_e(t.display_title)}</a></td><td>{_e(t.rating or "—")}</td>'
                       f'<td>{_e(", ".join(t.genres))}</td><td>{_e(", ".join(t.collections))}</td>'
                       f'<td>{_e(t.match)}</td></tr>')
        out.append("</table>")
        if group.keywords:
            chips = "".join(f'<span class="chip">{_e(k)}</span>' for k in group.keywords)
            out.append(f'<p>Keyword seeds (from {group.keywords_from} plots): {chips}</p>')
        out.append("</div>")
    return "".join(out)


def render_brief(brief: Brief) -> str:
    """The brief's HTML text."""
    title = brief.title or "Untitled film"
    rec = brief.recommendation
    targets = ", ".join(brief.targets) or "none given"
    source = brief.target_words
    n = len(brief.variants)
    body = [f"<h1>Campaign brief: {_e(title)}</h1>",
            f'<p class="sub">Targets: <b>{_e(targets)}</b> ({_e(source)}) · {n} poster variant{"s" if n != 1 else ""} '
            f"of one film · from the model and the catalog, nothing invented</p>",
            f'<div class="rec{"" if rec.get("fits") else " miss"}"><p class="lead">{_e(rec["text"])}</p>']
    if rec.get("why"):
        body.append("<ul>" + "".join(f"<li>{_e(w)}</li>" for w in rec["why"]) + "</ul>")
    body.append("</div>")
    if brief.story:
        body.append("<h2>Story vs poster</h2>")
        body.append(f"<p>{_e(brief.story['text'])}</p><ul>" +
                    "".join(f"<li>{_e(line)}</li>" for line in brief.story["lines"]) + "</ul>")
    body.append('<h2>The variants <small class="muted">bars: strength = probability ÷ the genre\'s decision line '
                f'(black mark; past it = decided); blue = target, orange = unintended. Heatmaps: {_e(LEGEND)}.'
                '</small></h2>')
    body.append('<div class="grid">' + "".join(_card(v, brief) for v in brief.variants) + "</div>")
    for failure in brief.failures:
        body.append(f'<p class="warn">✗ {_e(failure.error)}</p>')
    body.append(_audiences(brief))
    if brief.how_sure:
        body.append("<h2>How sure the model is</h2><ul>" +
                    "".join(f"<li>{_e(h['text'])}</li>" for h in brief.how_sure) + "</ul>")
    body.append(f"<footer>postergenre {_e(__version__)} · genres and numbers from the model and its cross-validation, "
                "titles and plots from your catalog.</footer>")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>Campaign brief: {_e(title)}</title><style>{_CSS}</style></head><body>{''.join(body)}</body></html>")

