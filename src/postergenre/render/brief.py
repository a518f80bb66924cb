"""The campaign brief as one self-contained HTML file (template `brief.html`): readable on screen, printing to 1–3 A4
pages for up to three variants. Posters and heatmaps are inlined as data URLs and the charts are plain HTML bars, so
the file loads nothing from anywhere (no script at all, no style or font from another host) and can be mailed as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._version import __version__
from ..dataurl import image_data_url
from ..predict.brief import Brief, BriefVariant
from ..predict.heatmaps import LEGEND, blended
from .bars import Bar, in_reading_order, strength_bars
from .environment import render

POSTER_HEIGHT = 190  # CSS pixels of a poster on the page; images are inlined at twice that for sharp print
HEAT_HEIGHT = 96
BARS = 6  # bars per variant: the targets, then the other genres in reading order (more targets: one bar each)


@dataclass(frozen=True)
class BriefCard:
    """What one variant's card shows: the variant itself plus what the page draws from it."""

    variant: BriefVariant
    poster: str | None  # data URL
    bars: list[Bar]
    unintended: list[str]  # decided genres that are not targets, in reading order
    heatmaps: list[tuple[str, str]]  # (genre, data URL)


def _card(v: BriefVariant, brief: Brief) -> BriefCard:
    s = v.score
    reading = s.prediction.reading
    genres = [*brief.targets, *in_reading_order(reading, leave_out=brief.targets)]
    bars = strength_bars(reading, genres[: max(BARS, len(brief.targets))], brief.targets)
    poster = image_data_url(s.image, "JPEG", max_side=POSTER_HEIGHT * 2, quality=82) if s.image is not None else None
    heatmaps = (
        [
            (genre, image_data_url(blended(s.image, heat, max_side=HEAT_HEIGHT * 2), "JPEG", quality=80))
            for genre, heat in s.heatmaps.items()
        ]
        if s.heatmaps and s.image is not None
        else []
    )
    unintended = [g for g in in_reading_order(reading) if g in s.unintended]
    return BriefCard(v, poster, bars, unintended, heatmaps)


def render_brief(brief: Brief) -> str:
    """The brief's HTML text."""
    return render(
        "brief.html", brief=brief, cards=[_card(v, brief) for v in brief.variants], legend=LEGEND, version=__version__
    )
