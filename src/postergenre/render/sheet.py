"""The compare sheet: poster variants side by side in one self-contained HTML file (template `sheet.html`, images
inlined as data URLs).

One column per variant, best first: the poster, its verdict, strength bars for the target genres, the unintended
genres it signals and a few other genres (the one scale of `model/decisions.py`, coloured by level, in reading
order), Grad-CAM overlays of the targets, and a footnote of exact numbers (probabilities, decision lines, target
score). The file opens in any browser offline and can be mailed as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..dataurl import image_data_url
from ..files import write_atomic
from ..predict.compare import RANKING, SCORING, SYNOPSIS_NOTE, CompareResult, VariantScore
from ..predict.heatmaps import LEGEND, blended
from .bars import Bar, in_reading_order, strength_bars
from .environment import render

THUMB_HEIGHT = 360  # CSS pixels of a poster on the sheet
HEAT_HEIGHT = 180
OTHERS = 4  # other genres drawn per variant, in reading order


@dataclass(frozen=True)
class SheetCard:
    variant: VariantScore
    poster: str | None  # data URL
    targets: list[Bar]
    unintended: list[Bar]  # decided genres that are not targets, in reading order
    others: list[Bar]  # the strongest of the rest, in reading order
    heatmaps: list[tuple[str, str]]  # (genre, data URL)

    @property
    def bars(self) -> list[Bar]:
        """Every bar on the card (the exact numbers list them)."""
        return [*self.targets, *self.unintended, *self.others]


def _data_url(image, height: int) -> str:
    return image_data_url(image, "JPEG", max_side=round(height * max(1.0, image.width / image.height)), quality=85)


def _card(v: VariantScore) -> SheetCard:
    reading = v.prediction.reading
    targets = list(v.target_strength)
    unintended = [g for g in in_reading_order(reading) if g in v.unintended]
    others = in_reading_order(reading, leave_out=[*targets, *unintended])[:OTHERS]
    poster = _data_url(v.image, THUMB_HEIGHT) if v.image is not None else None
    heatmaps = (
        [(genre, _data_url(blended(v.image, heat), HEAT_HEIGHT)) for genre, heat in v.heatmaps.items()]
        if v.heatmaps and v.image is not None
        else []
    )
    return SheetCard(
        v,
        poster,
        strength_bars(reading, targets, targets),
        strength_bars(reading, unintended),
        strength_bars(reading, others),
        heatmaps,
    )


def render_sheet(result: CompareResult, *, title: str = "Poster variants") -> str:
    """The sheet's HTML text."""
    return render(
        "sheet.html",
        result=result,
        title=title,
        cards=[_card(v) for v in result.variants],
        ranking=RANKING,
        scoring=SCORING,
        synopsis_note=SYNOPSIS_NOTE,
        legend=LEGEND,
    )


def write_sheet(result: CompareResult, path: Path, *, title: str = "Poster variants") -> Path:
    """Write the sheet atomically (temporary file + rename); returns `path`."""
    return write_atomic(path, render_sheet(result, title=title))
