"""Strength bars, as the brief and the compare sheet draw them: which genres, in which order, at which level.

The scale, the line, the written strength and the levels are `model/decisions.py`'s (the templates read them through
the environment's `bar_percent` and `strength` filters); a reading's `levels` give the order (reading order) and each
bar's level, so a bar is coloured by what the words say of its genre.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..predict.results import GenreReading


@dataclass(frozen=True)
class Bar:
    """One genre's bar: its strength, its level code ("reads", "hints", "faint": the fill's colour), and whether it
    is a target (its name is set in bold)."""

    genre: str
    strength: float
    level: str
    probability: float
    threshold: float
    target: bool = False


def strength_bars(reading: GenreReading, genres: Iterable[str], targets: Sequence[str] = ()) -> list[Bar]:
    """Bars for `genres` of `reading`, in the order given."""
    levels = reading.levels
    return [
        Bar(g, reading.strength[g], levels[g], reading.probabilities[g], reading.thresholds[g], g in targets)
        for g in genres
    ]


def in_reading_order(reading: GenreReading, leave_out: Iterable[str] = ()) -> list[str]:
    """The reading's genres in reading order (decided strongest first, then the rest strongest first), less
    `leave_out`."""
    skipped = set(leave_out)
    return [g for g in reading.levels if g not in skipped]
