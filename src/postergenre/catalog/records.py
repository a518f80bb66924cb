"""Plain records passed between catalog readers, the SQLite store and everything above."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class MovieRecord:
    """One movie as read from a catalog file, already normalised (see catalog.genres)."""

    imdb_id: str
    title: str | None = None
    year: int | None = None
    genres: tuple[str, ...] = ()
    content_rating: str | None = None  # normalised content rating ("G", "PG", "Not Rated", "PD", ...)
    plot: str | None = None  # the synopsis; paragraphs kept as "\n\n", whitespace in a line collapsed
    imdb_rating: float | None = None
    imdb_votes: int | None = None
    poster_url: str | None = None
    poster_file: str | None = None  # absolute path of a local poster named by the catalog file


MOVIE_FIELDS = tuple(f.name for f in fields(MovieRecord) if f.name not in ("imdb_id", "genres"))

DEFAULT_COLLECTION = "general"


@dataclass(frozen=True)
class Movie(MovieRecord):
    """A movie as stored, with the state of its poster and the collections it was imported into."""

    collections: tuple[str, ...] = ()  # sorted names, e.g. ("general", "studio")
    poster_sha256: str | None = None
    poster_status: str | None = None  # None (never tried), "ok" or "failed"
    poster_error: str | None = None
    poster_width: int | None = None
    poster_height: int | None = None


@dataclass(frozen=True)
class RejectedRow:
    """A catalog row that could not be imported, located precisely for the user."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True)
class FieldConflict:
    """One field that two rows of the same id in one file give different values."""

    field: str
    earlier_line: int  # the row that gave the value held before this row
    earlier: Any
    later: Any


@dataclass(frozen=True)
class DuplicateConflict:
    """A row repeating an id seen earlier in the same file with different values."""

    file: str
    line: int
    imdb_id: str
    fields: tuple[FieldConflict, ...]

    def __str__(self) -> str:
        diffs = "; ".join(
            f"{c.field} {_shown(c.earlier)} (line {c.earlier_line}) vs {_shown(c.later)}" for c in self.fields
        )
        return f"{self.file}:{self.line}: {self.imdb_id} repeats an earlier row with other values: {diffs}"


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        value = "|".join(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…'"


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates_merged: int = 0  # the same id seen more than once in one import
    relocated: int = 0  # unchanged movies whose local poster file is now named under another folder
    rejections: list[RejectedRow] = field(default_factory=list)
    conflicts: list[DuplicateConflict] = field(default_factory=list)


@dataclass(frozen=True)
class FilterValues:
    """What a filter UI can offer: the values present in the catalog (or in some of its collections)."""

    movies: int
    collections: dict[str, int]  # every collection of the catalog, with its movie count
    ratings: dict[str, int]  # content rating -> movies, most frequent first; unrated movies not included
    unrated: int
    year_min: int | None
    year_max: int | None
    genres: dict[str, int]  # genre -> movies, most frequent first
