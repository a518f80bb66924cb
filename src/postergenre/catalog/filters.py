"""Filters shared by every command that selects movies (train, evaluate, embed, stats, reports).

Each filter is one step; the selection keeps, per step, how many movies it removed and why, so every
command can tell the user what a filter cost (e.g. "--rating G,PG removed 18,000 of 21,050 movies:
18,000 have no rating").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import EmptySelectionError, PosterGenreError

if TYPE_CHECKING:
    from .records import Movie

_COLLECTION_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_REASONS_SHOWN = 4  # reasons listed per step; the rest are summed up as "other"


def normalise_collection(name: str) -> str:
    """A collection name as stored: trimmed, lower case, letters/digits/._- only (commas separate names)."""
    cleaned = name.strip().lower()
    if not _COLLECTION_RE.match(cleaned):
        raise PosterGenreError(
            f"bad collection name {name!r}: use letters, digits, '.', '_' or '-' (up to 64 characters), e.g. studio"
        )
    return cleaned


def parse_collections(text: str | Iterable[str] | None) -> frozenset[str] | None:
    """'studio,general' (or a list of names) -> {'general', 'studio'}; None/empty selects every collection."""
    if text is None:
        return None
    names = frozenset(normalise_collection(p) for p in _parts(text) if p.strip())
    return names or None


def _parts(text: str | Iterable[str]) -> list[str]:
    return text.split(",") if isinstance(text, str) else [p for t in text for p in t.split(",")]


def parse_ratings(text: str | Iterable[str] | None, held: Iterable[str] = ()) -> frozenset[str] | None:
    """'g, pg' (or a list) -> {'G', 'PG'}: content ratings in the catalog's spelling (`normalise_rating`, so case and
    "Rated PG-13" do not matter), the one parser of every command and route. None/blank: not asked (None); "all":
    every rating, said so (an empty set, which filters keep everything with, and the brief tells from "not asked").
    A value that is no known rating (genres.RATINGS, or one of `held`, ratings a catalog stores as written) raises,
    naming it and listing the known ones: a typo must not silently keep nothing."""
    from .genres import RATINGS, normalise_rating

    if text is None:
        return None
    parts = [p.strip() for p in _parts(text) if p.strip()]
    if [p.lower() for p in parts] == ["all"]:
        return frozenset()
    known = {r.lower(): r for r in (*held, *RATINGS)}  # a held "PD" is found as "pd" too
    names = [known.get((normalise_rating(p) or p).lower(), p) for p in parts]
    unknown = [p for p, name in zip(parts, names, strict=True) if name.lower() not in known]
    if unknown:
        listed = ", ".join(in_rating_order(known.values()))
        raise PosterGenreError(
            f"unknown content rating{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; known ratings: {listed}, or all"
        )
    return frozenset(names) or None


def _rank(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    return lambda name: (order.index(name) if name in order else len(order), name)


def in_rating_order(ratings: Iterable[str]) -> list[str]:
    """Ratings in the canonical order (genres.RATINGS, then those a catalog holds as written, alphabetically)."""
    from .genres import RATINGS

    return sorted(ratings, key=_rank(RATINGS))


def parse_genres(text: str | Iterable[str] | None) -> frozenset[str] | None:
    """'family, comedy' (or a list) -> {'Comedy', 'Family'} in the catalog's spelling; an unknown name raises,
    naming it; None/empty keeps every genre."""
    from .genres import UnknownGenreError, normalise_genre

    if text is None:
        return None
    try:
        names = frozenset(g for p in _parts(text) if p.strip() for g in [normalise_genre(p)] if g)
    except UnknownGenreError as exc:
        raise PosterGenreError(f"unknown genre {str(exc)!r} in the genre filter") from None
    return names or None


@dataclass(frozen=True)
class FilterStep:
    """What one filter removed from the movies that reached it."""

    name: str  # as the user wrote it: "--rating G,PG"
    before: int
    removed: int
    reasons: tuple[tuple[str, int], ...]  # ("have no rating", 18000), most frequent first

    def __str__(self) -> str:
        text = f"{self.name} removed {self.removed:,} of {self.before:,} movies"
        if not self.removed:
            return text
        shown = list(self.reasons[:_REASONS_SHOWN])
        rest = sum(n for _, n in self.reasons[_REASONS_SHOWN:])
        if rest:
            shown.append(("for other reasons", rest))
        return text + ": " + ", ".join(f"{n:,} {reason}" for reason, n in shown)


@dataclass(frozen=True)
class Selection:
    """The movies a filter kept and, step by step, what it removed."""

    movies: list[Movie]
    total: int  # movies before any filter
    steps: tuple[FilterStep, ...] = field(default=())

    def removal_lines(self) -> list[str]:
        """One line per filter that removed something, for any command to print."""
        return [str(step) for step in self.steps if step.removed]


_Step = tuple[str, Callable[["Movie"], bool], Callable[["Movie"], str]]


@dataclass(frozen=True)
class MovieFilter:
    """Which movies and genres a job uses. Empty fields select everything."""

    ratings: frozenset[str] | None = None  # normalised content ratings, e.g. {"G", "PG"}
    year_min: int | None = None
    year_max: int | None = None
    require_poster: bool = False  # only movies whose poster is stored and decodes
    require_genres: bool = False
    collections: frozenset[str] | None = None  # e.g. {"studio"}; a movie in any of them is kept

    @classmethod
    def parse(
        cls,
        *,
        rating: str | Iterable[str] | None = None,
        collection: str | Iterable[str] | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        held_ratings: Iterable[str] = (),
        **extra: bool,
    ) -> MovieFilter:
        """The filter options as users write them (`--rating pg --collection Studio`, a query string) -> the filter:
        the one parser every command and route uses, so any spelling of a rating or collection selects the same.
        `held_ratings`: ratings the catalog stores beyond the known ones (`parse_ratings`)."""
        return cls(
            ratings=parse_ratings(rating, held_ratings),
            year_min=year_min,
            year_max=year_max,
            collections=parse_collections(collection),
            **extra,
        )

    def _steps(self) -> list[_Step]:
        """(name shown to users, keep, why a removed movie was removed) in the order they apply."""
        steps: list[_Step] = []
        collections, ratings, year_min, year_max = self.collections, self.ratings, self.year_min, self.year_max
        if collections:
            steps.append(
                (
                    f"--collection {','.join(sorted(collections))}",
                    lambda m: not collections.isdisjoint(m.collections),
                    lambda m: f"are in {', '.join(m.collections)}" if m.collections else "are in no collection",
                )
            )
        if ratings:
            steps.append(
                (
                    f"--rating {','.join(sorted(ratings))}",
                    lambda m: m.content_rating in ratings,
                    lambda m: f"are rated {m.content_rating}" if m.content_rating else "have no rating",
                )
            )
        if year_min is not None:
            steps.append(
                (
                    f"--year-min {year_min}",
                    lambda m: m.year is not None and m.year >= year_min,
                    lambda m: "have no year" if m.year is None else f"are from before {year_min}",
                )
            )
        if year_max is not None:
            steps.append(
                (
                    f"--year-max {year_max}",
                    lambda m: m.year is not None and m.year <= year_max,
                    lambda m: "have no year" if m.year is None else f"are from after {year_max}",
                )
            )
        if self.require_poster:
            steps.append(
                (
                    "movies with a stored poster",
                    lambda m: m.poster_status == "ok",
                    lambda m: (
                        "have a poster that failed to attach/fetch"
                        if m.poster_status == "failed"
                        else "have no poster attached or fetched yet"
                    ),
                )
            )
        if self.require_genres:
            steps.append(("movies with genres", lambda m: bool(m.genres), lambda m: "have no genres"))
        return steps

    def select(self, movies: Sequence[Movie]) -> Selection:
        """Narrow step by step, counting per step what was removed and why.

        EmptySelectionError names the filter that emptied the selection and what it removed.
        """
        selected = list(movies)
        if not selected:
            raise EmptySelectionError("the catalog is empty: import a catalog file first (postergenre catalog import)")
        total = len(selected)
        done: list[FilterStep] = []
        for name, keep, why in self._steps():
            kept: list[Movie] = []
            reasons: Counter[str] = Counter()
            for movie in selected:
                if keep(movie):
                    kept.append(movie)
                else:
                    reasons[why(movie)] += 1
            step = FilterStep(
                name,
                len(selected),
                len(selected) - len(kept),
                tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            )
            done.append(step)
            if not kept:
                hint = ""
                if name.startswith("--collection"):
                    known = sorted({c for m in movies for c in m.collections})
                    hint = f" (the catalog's collections: {', '.join(known) or 'none'})"
                raise EmptySelectionError(f"no movies left: {step}{hint}")
            selected = kept
        return Selection(selected, total, tuple(done))

    def apply(self, movies: Sequence[Movie]) -> list[Movie]:
        """The selected movies only (see select)."""
        return self.select(movies).movies


def frequent_genres(movies: Sequence[Movie], min_examples: int) -> tuple[list[str], dict[str, int]]:
    """Genres with at least `min_examples` movies (sorted), and the counts of those left out."""
    counts = Counter(g for m in movies for g in m.genres)
    kept = sorted(g for g, n in counts.items() if n >= min_examples)
    dropped = {g: n for g, n in sorted(counts.items()) if n < min_examples}
    if not kept:
        raise EmptySelectionError(
            f"no genre has at least {min_examples} examples (--min-examples); "
            f"the largest has {max(counts.values(), default=0)}"
        )
    return kept, dropped
