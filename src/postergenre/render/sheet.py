"""The compare sheet: poster variants side by side in one self-contained HTML file (template `sheet.html`, images
inlined as data URLs).

One column per variant, best first: the poster, its score, probability bars for the target genres with the decision
threshold marked, the unintended genres it signals, the top genres overall, and Grad-CAM overlays of the targets. The
file opens in any browser offline and can be mailed as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..dataurl import image_data_url
from ..files import write_atomic
from ..predict.compare import SCORING, SYNOPSIS_NOTE, CompareResult, VariantScore
from ..predict.heatmaps import LEGEND, blended
from .environment import render
from .layout import is_best_of_sheet

THUMB_HEIGHT = 360  # CSS pixels of a poster on the sheet
HEAT_HEIGHT = 180
OTHERS = 4  # "other likely genres" per variant, from its top 8


@dataclass(frozen=True)
class SheetCard:
    variant: VariantScore
    best: bool
    poster: str | None  # data URL
    others: list[tuple[str, float]]  # likely genres that are neither targets nor unintended
    heatmaps: list[tuple[str, str]]  # (genre, data URL)


def _data_url(image, height: int) -> str:
    return image_data_url(image, "JPEG", max_side=round(height * max(1.0, image.width / image.height)), quality=85)


def _card(result: CompareResult, index: int) -> SheetCard:
    v = result.variants[index]
    others = [(g, prob) for g, prob in v.prediction.top(8)
              if g not in v.target_probabilities and g not in v.unintended][:OTHERS]
    poster = _data_url(v.image, THUMB_HEIGHT) if v.image is not None else None
    heatmaps = ([(genre, _data_url(blended(v.image, heat), HEAT_HEIGHT)) for genre, heat in v.heatmaps.items()]
                if v.heatmaps and v.image is not None else [])
    return SheetCard(v, is_best_of_sheet(result, index), poster, others, heatmaps)


def render_sheet(result: CompareResult, *, title: str = "Poster variants") -> str:
    """The sheet's HTML text."""
    cards = [_card(result, i) for i in range(len(result.variants))]
    return render("sheet.html", result=result, title=title, cards=cards, scoring=SCORING, synopsis_note=SYNOPSIS_NOTE,
                  legend=LEGEND)


def write_sheet(result: CompareResult, path: Path, *, title: str = "Poster variants") -> Path:
    """Write the sheet atomically (temporary file + rename); returns `path`."""
    return write_atomic(path, render_sheet(result, title=title))
