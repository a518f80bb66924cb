"""Filters shared by every command that selects movies (train, evaluate, embed, stats)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import EmptySelectionError

if TYPE_CHECKING:
    from .records import Movie


@dataclass(frozen=True)
class MovieFilter:
    """Which movies and genres a job uses. Empty fields select everything."""

    ratings: frozenset[str] | None = None  # normalised content ratings, e.g. {"G", "PG"}
    year_min: int | None = None
    year_max: int | None = None
    require_poster: bool = False  # only movies whose poster is stored and decodes
    require_genres: bool = False

    def apply(self, movies: Sequence["Movie"]) -> list["Movie"]:
        """Narrow step by step so that an empty result names the filter that emptied it."""
        selected = list(movies)
        if not selected:
            raise EmptySelectionError("the catalog is empty: import a catalog file first (postergenre catalog import)")
        steps = []
        if self.ratings:
            steps.append((f"--rating {','.join(sorted(self.ratings))}", lambda m: m.content_rating in self.ratings))
        if self.year_min is not None:
            steps.append((f"--year-min {self.year_min}", lambda m: m.year is not None and m.year >= self.year_min))
        if self.year_max is not None:
            steps.append((f"--year-max {self.year_max}", lambda m: m.year is not None and m.year <= self.year_max))
        if self.require_poster:
            steps.append(("movies with a stored poster", lambda m: m.poster_status == "ok"))
        if self.require_genres:
            steps.append(("movies with genres", lambda m: bool(m.genres)))
        for name, keep in steps:
            before = len(selected)
            selected = [m for m in selected if keep(m)]
            if not selected:
                raise EmptySelectionError(f"no movies left after filter {name} (it removed all {before})")
        return selected


def frequent_genres(movies: Sequence["Movie"], min_examples: int) -> tuple[list[str], dict[str, int]]:
    """Genres with at least `min_examples` movies (sorted), and the counts of those left out."""
    counts = Counter(g for m in movies for g in m.genres)
    kept = sorted(g for g, n in counts.items() if n >= min_examples)
    dropped = {g: n for g, n in sorted(counts.items()) if n < min_examples}
    if not kept:
        raise EmptySelectionError(
            f"no genre has at least {min_examples} examples (--min-examples); the largest has {max(counts.values(), default=0)}"
        )
    return kept, dropped
