"""The decision rules of a genre reading, in one place: how strongly a genre is signalled, at which level, in which
order genres are shown, how poster variants rank and which step of the ranking decided, the bar scale, the limits.

Every face gets these answers from here: the model core and compare/brief (predict/), the CLI, the service and,
through the service (`GET /v1/rules` and the decided values in every answer), the page, which draws them and holds
no rule or constant of its own. Pure functions on plain values: no I/O and no numpy, so the service's settings
module can read the limits without loading the model.

One scale says how strongly a poster (a synopsis, or both together) signals a genre: its **strength**, the
probability ÷ the genre's decision line (its threshold, tuned by cross-validation). 1.0 means "just decided" for a
rare genre (line 0.1) and a common one (line 0.4) alike, so strengths compare across genres where probabilities
do not (Comedy at 40 % can signal more than Drama at 60 %). Every face writes it the same way ("2.0×"), beside a
level word; probabilities and thresholds stay in the exact numbers (the page's "Exact numbers", the JSON fields).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# -- strength and its levels ----------------------------------------------------------------------------------

DECISION_LINE = 1.0
"""Strength at which a genre is decided (probability = its threshold)."""
READS_AS = 1.5
"""Strength from which a decided genre *reads as* that genre; decided genres below it only *hint at* it. With
per-genre F1 thresholds a held-out poster gets ~3.7 decided genres against ~2.1 true ones: the strongest carry the
message, the rest are hints."""
STRENGTH_DECIMALS = 1
STRENGTH_UNIT = "×"


@dataclass(frozen=True)
class Level:
    """One level of the strength scale: its code (in JSON and the page's classes), the verb phrase sentences use
    ("reads as Family") and the legend's words."""

    code: str
    words: str
    legend: str


READS = Level("reads", "reads as", f"reads as: decided, {READS_AS:g}× its line or more")
HINTS = Level("hints", "hints at", f"hints at: decided, under {READS_AS:g}× its line")
FAINT = Level("faint", "does not read as", "below its line: not decided")
LEVELS = (READS, HINTS, FAINT)


def strength(probability: float, threshold: float) -> float:
    """probability ÷ the decision line; a zero line is treated as a tiny one (never a division by zero)."""
    return float(probability) / max(float(threshold), 1e-9)


def level(strength_value: float, decided: bool) -> Level:
    """A genre's level in a reading: reads as (decided, strength ≥ READS_AS), hints at (decided, weaker) or faint
    (not decided). Decided-ness comes first: the top-1 fallback and `--top-k` decide genres below the line."""
    if not decided:
        return FAINT
    return READS if strength_value >= READS_AS else HINTS


def reads_as(decided: Sequence[str], strengths: Mapping[str, float]) -> tuple[list[str], list[str]]:
    """(decided genres that read as, decided genres it only hints at), each strongest first. A reading whose decided
    genres are all weak reads as no genre clearly (no fallback to the top one: a genre just over its line is not
    yet what a viewer takes the poster for)."""
    ordered = sorted(decided, key=lambda g: -strengths[g])
    return (
        [g for g in ordered if level(strengths[g], True) is READS],
        [g for g in ordered if level(strengths[g], True) is HINTS],
    )


def reading_order(decided: Sequence[str], strengths: Mapping[str, float]) -> list[str]:
    """The order genres are shown in (bars, tables, heatmap choices): decided genres strongest first, then the
    others strongest first. Ties keep the order of `strengths`."""
    chosen = set(decided)
    ordered = sorted(strengths, key=lambda g: -strengths[g])
    return [g for g in ordered if g in chosen] + [g for g in ordered if g not in chosen]


def levels(decided: Sequence[str], strengths: Mapping[str, float]) -> dict[str, str]:
    """{genre: level code} for every genre, in reading order."""
    chosen = set(decided)
    return {g: level(strengths[g], g in chosen).code for g in reading_order(decided, strengths)}


def strength_text(value: float) -> str:
    """Strength as every face writes it: "2.0×", rounded down, so the number shown never crosses a level's bound
    the strength has not reached (a hint at 1.47 shows "1.4×", not the reads-as "1.5×"; 0.97 shows "0.9×")."""
    scale = 10**STRENGTH_DECIMALS
    return f"{math.floor(float(value) * scale + 1e-9) / scale:.{STRENGTH_DECIMALS}f}{STRENGTH_UNIT}"


# -- the bar scale --------------------------------------------------------------------------------------------

SCALE_MAX = 2.5
"""Bars draw strength on 0..SCALE_MAX, so the decision line (1.0) sits at the same place (40 %) for every genre;
a stronger genre fills its bar."""


def bar_fraction(value: float) -> float:
    """How much of a bar a strength fills (0..1)."""
    return min(max(float(value), 0.0), SCALE_MAX) / SCALE_MAX


LINE_FRACTION = bar_fraction(DECISION_LINE)
READS_FRACTION = bar_fraction(READS_AS)

# -- limits -----------------------------------------------------------------------------------------------------

DEFAULT_HEATMAPS = 3
"""Heatmaps drawn when none are asked for: the decided genres in reading order, at most this many."""
MAX_BRIEF_VARIANTS = 6
MIN_COMPARE_VARIANTS = 2
MAX_COMPARE_VARIANTS = 8


def heatmap_genres(
    decided: Sequence[str], strengths: Mapping[str, float], requested: Sequence[str] | None = None
) -> list[str]:
    """Which genres get heatmaps: the ones asked for, else the decided ones in reading order (at most
    DEFAULT_HEATMAPS), so the first heatmap offered is the genre the reading leads with."""
    if requested:
        return list(requested)
    return reading_order(decided, {g: strengths[g] for g in decided})[:DEFAULT_HEATMAPS]


# -- ranking poster variants ------------------------------------------------------------------------------------


def target_score(target_strengths: Iterable[float]) -> float:
    """How strongly a variant signals all targets together: the geometric mean of their strengths (1.0 = just
    decided). It rewards a variant that signals every target and punishes one that signals a single target strongly
    and misses another, which a brief ("Family and Comedy") asks for. 0.0 without targets."""
    values = [max(float(s), 1e-9) for s in target_strengths]
    return math.exp(sum(math.log(s) for s in values) / len(values)) if values else 0.0


@dataclass(frozen=True)
class Standing:
    """What the ranking reads of one variant: its upload position, whether it looks like a poster, the targets it
    misses (not decided), the unintended genres it reads as, and its target score."""

    index: int
    is_poster: bool
    missed: tuple[str, ...]
    also_reads_as: tuple[str, ...]
    score: float
    has_targets: bool = True

    @property
    def fits(self) -> bool:
        """Every target decided, and the input looks like a poster: only then may it be called a fit."""
        return self.has_targets and not self.missed and self.is_poster


def rank_key(s: Standing) -> tuple[Any, ...]:
    """The one ranking rule, in order:

    1. posters before images flagged as not being posters;
    2. fewer missed targets, so a variant that misses a target is never above one that hits them all (a strong genre
       cannot carry a missing one, as the target score alone would let it);
    3. fewer unintended genres that *read as*: the variant that signals the targets "most clearly and least of
       anything else", on the line the words already draw. (A ratio of target score ÷ strongest unintended strength
       was rejected: a very strong target would buy an unintended genre that reads as clearly, which the words would
       then contradict.) Unintended hints do not count: they are the model's usual noise;
    4. the higher target score; 5. upload order.
    Without targets only 1 and 5 apply.
    """
    unintended = len(s.also_reads_as) if s.has_targets else 0
    return (not s.is_poster, len(s.missed), unintended, -s.score, s.index)


STEPS = ("poster", "missed", "unintended", "stronger", "order")
"""The steps of `rank_key`, as codes (`deciding_step`), in order."""


def deciding_step(a: Standing, b: Standing) -> str:
    """The code of the step of `rank_key` that puts `a` above `b`."""
    if a.is_poster != b.is_poster:
        return "poster"
    if len(a.missed) != len(b.missed):
        return "missed"
    if a.has_targets and len(a.also_reads_as) != len(b.also_reads_as):
        return "unintended"
    if a.score != b.score:
        return "stronger"
    return "order"


def is_best(rank: int, standing: Standing) -> bool:
    """The variant marked as the one to run: first in the ranking, and a fit (a variant that misses a target, or
    an image that is no poster, is never marked, even when it ranks first)."""
    return rank == 1 and standing.fits


def ranked(standings: Sequence[Standing]) -> list[int]:
    """Positions in `standings` best first (the ranking rule, `rank_key`)."""
    return sorted(range(len(standings)), key=lambda i: rank_key(standings[i]))


# -- what the page draws ----------------------------------------------------------------------------------------


def rules() -> dict[str, Any]:
    """The scale, its levels and the limits, as the service serves them to the page (`GET /v1/rules`)."""
    return {
        "scale": {
            "max": SCALE_MAX,
            "line": DECISION_LINE,
            "line_fraction": LINE_FRACTION,
            "reads_as": READS_AS,
            "unit": STRENGTH_UNIT,
            "decimals": STRENGTH_DECIMALS,
            "rounding": "down",
            "levels": [{"code": lv.code, "words": lv.words, "legend": lv.legend} for lv in LEVELS],
        },
        "limits": {
            "brief_max_variants": MAX_BRIEF_VARIANTS,
            "compare_min_variants": MIN_COMPARE_VARIANTS,
            "compare_max_variants": MAX_COMPARE_VARIANTS,
            "default_heatmaps": DEFAULT_HEATMAPS,
        },
    }
