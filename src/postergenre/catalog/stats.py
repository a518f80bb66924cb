"""Catalog statistics: what `catalog stats` prints and the dataset report plots.

Plain data only (no rendering), so the CLI table, the HTML report and the tests read the same numbers.
The missing-value table follows the predecessor's notebook: movies missing a poster, missing genres,
and missing both, which are the rows a poster-genre model cannot learn from; then the fields the studio's
work needs: the plot (synopsis model), the content rating (--rating) and the year.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from .filters import FilterStep, MovieFilter
from .records import Movie
from .store import Catalog


@dataclass(frozen=True)
class MissingRow:
    label: str
    count: int
    percent: float


@dataclass(frozen=True)
class RatingSummary:
    """IMDb user ratings (0-10) of the movies that have one."""

    count: int
    mean: float | None
    median: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class CatalogStats:
    movies: int
    missing: list[MissingRow]
    posters_stored: int  # poster in the store and decoded
    posters_failed: int  # a fetch/attach was tried and failed
    posters_to_fetch: int  # no stored poster yet, but a URL or local file is known
    duplicates_merged: int  # repeated ids merged, summed over the latest import of each file
    imports: int  # import runs recorded
    genre_counts: list[tuple[str, int]]  # most frequent first
    genres_per_movie: list[tuple[int, int]]  # (number of genres, movies)
    content_ratings: list[tuple[str, int]]  # "(none)" for movies without one
    year_min: int | None
    year_max: int | None
    years_missing: int
    decades: list[tuple[int, int]]  # (1990, movies released 1990-1999), ascending
    imdb_ratings: RatingSummary
    collections: list[tuple[str, int]] = field(default_factory=list)  # (name, selected movies in it), by name
    removed: tuple[FilterStep, ...] = ()  # what each filter removed and why (empty without filters)


def has_poster_source(movie: Movie) -> bool:
    """A stored poster, or somewhere to get one (URL to fetch, local file to attach)."""
    return movie.poster_status == "ok" or bool(movie.poster_url) or bool(movie.poster_file)


def missing_table(movies: list[Movie]) -> list[MissingRow]:
    """Movies missing a poster (none stored and none to get), missing genres, and both."""
    total = len(movies)
    no_poster = [not has_poster_source(m) for m in movies]
    no_genres = [not m.genres for m in movies]
    counts = {
        "missing poster": sum(no_poster),
        "missing genres": sum(no_genres),
        "missing both": sum(p and g for p, g in zip(no_poster, no_genres, strict=True)),
        "missing plot": sum(not m.plot for m in movies),
        "missing content rating": sum(not m.content_rating for m in movies),
        "missing year": sum(m.year is None for m in movies),
    }
    return [MissingRow(label, n, 100.0 * n / total if total else 0.0) for label, n in counts.items()]


def duplicates_merged(catalog: Catalog) -> tuple[int, int]:
    """(duplicates merged in the latest import of each file, number of import runs)."""
    latest = catalog.conn.execute(
        "SELECT coalesce(sum(duplicates), 0) FROM imports WHERE id IN (SELECT max(id) FROM imports GROUP BY file)"
    ).fetchone()[0]
    runs = catalog.conn.execute("SELECT count(*) FROM imports").fetchone()[0]
    return int(latest), int(runs)


def compute_stats(catalog: Catalog, flt: MovieFilter | None = None) -> CatalogStats:
    """Statistics of the movies `flt` selects (all movies when None); EmptySelectionError if none."""
    selection = catalog.select(flt or MovieFilter())
    return stats_of(selection.movies, *duplicates_merged(catalog), removed=selection.steps)


def stats_of(
    movies: list[Movie], duplicates: int = 0, imports: int = 0, removed: tuple[FilterStep, ...] = ()
) -> CatalogStats:
    """Statistics of an already selected list of movies."""
    genre_counts = Counter(g for m in movies for g in m.genres)
    ratings = Counter(m.content_rating or "(none)" for m in movies)
    years = [m.year for m in movies if m.year is not None]
    decades = Counter(y // 10 * 10 for y in years)
    scores = [m.imdb_rating for m in movies if m.imdb_rating is not None]
    return CatalogStats(
        movies=len(movies),
        missing=missing_table(movies),
        posters_stored=sum(m.poster_status == "ok" for m in movies),
        posters_failed=sum(m.poster_status == "failed" for m in movies),
        posters_to_fetch=sum(m.poster_status != "ok" and has_poster_source(m) for m in movies),
        duplicates_merged=duplicates,
        imports=imports,
        genre_counts=sorted(genre_counts.items(), key=lambda kv: (-kv[1], kv[0])),
        genres_per_movie=sorted(Counter(len(m.genres) for m in movies).items()),
        content_ratings=sorted(ratings.items(), key=lambda kv: (-kv[1], kv[0])),
        year_min=min(years, default=None),
        year_max=max(years, default=None),
        years_missing=len(movies) - len(years),
        decades=sorted(decades.items()),
        imdb_ratings=RatingSummary(
            count=len(scores),
            mean=statistics.fmean(scores) if scores else None,
            median=statistics.median(scores) if scores else None,
            minimum=min(scores, default=None),
            maximum=max(scores, default=None),
        ),
        collections=sorted(Counter(c for m in movies for c in m.collections).items()),
        removed=removed,
    )
