"""Plain records passed between catalog readers, the SQLite store and everything above."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class MovieRecord:
    """One movie as read from a catalog file, already normalised (see catalog.genres)."""

    imdb_id: str
    title: str | None = None
    year: int | None = None
    genres: tuple[str, ...] = ()
    content_rating: str | None = None
    plot: str | None = None
    imdb_rating: float | None = None
    imdb_votes: int | None = None
    poster_url: str | None = None
    poster_file: str | None = None  # absolute path of a local poster named by the catalog file


MOVIE_FIELDS = tuple(f.name for f in fields(MovieRecord) if f.name not in ("imdb_id", "genres"))


@dataclass(frozen=True)
class Movie(MovieRecord):
    """A movie as stored, with the state of its poster."""

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


@dataclass
class UpsertCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates_merged: int = 0  # the same id seen more than once in one import
    rejections: list[RejectedRow] = field(default_factory=list)
