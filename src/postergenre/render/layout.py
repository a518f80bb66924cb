"""Presentational values the data objects do not carry yet, each in one small function.

The strength-bar scale (`SCALE_MAX`), the number of bars per brief variant (`BARS`) and which variant gets the
"best" frame are decisions that belong to the core's decision module; until it serves them, they live here (and only
here) so that each function can read them from there without touching a template.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..predict.brief import Brief, BriefVariant
    from ..predict.compare import CompareResult

BARS = 6  # genres drawn per brief variant: the targets, then the other decided genres, then the strongest others
SCALE_MAX = 2.5  # strength drawn on 0..2.5, so the decision line (1.0) sits at 40 % for every genre


def strength_width(strength: float) -> str:
    """The `strength_width` filter: a strength bar's fill as a CSS percentage of the scale (capped at its end)."""
    return f"{min(strength, SCALE_MAX) / SCALE_MAX * 100:.1f}"


def brief_bar_genres(variant: BriefVariant, targets: list[str]) -> list[str]:
    """The genres a brief variant draws bars for: the targets, its other decided genres, then its strongest others."""
    reading = variant.score.prediction.reading
    genres = list(targets) + [g for g in reading.decided if g not in targets]
    genres += [g for g in sorted(reading.strength, key=lambda g: -reading.strength[g]) if g not in genres]
    return genres[:max(BARS, len(targets))]


def is_recommended(brief: Brief, variant: BriefVariant) -> bool:
    """The brief frames the variant its recommendation names, when that variant fits the targets."""
    return bool(brief.recommendation.get("label") == variant.label and brief.recommendation.get("fits"))


def is_best_of_sheet(result: CompareResult, index: int) -> bool:
    """The sheet frames the first-ranked variant when it fits the targets."""
    return index == 0 and result.variants[index].fits
