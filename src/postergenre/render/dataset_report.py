"""The dataset report: one self-contained HTML file (template `dataset_report.html`) describing the catalog a model
would learn from.

Charts are inlined as PNG data URLs so the file can be mailed or archived on its own. The numbers come from
catalog.stats, the same place `catalog stats` reads them, so the report and the CLI cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog.filters import MovieFilter
from ..catalog.records import Movie
from ..catalog.stats import CatalogStats, duplicates_merged, stats_of
from ..catalog.store import Catalog
from ..clock import utc_now
from ..files import write_atomic
from . import charts
from .environment import render

TITLE = "postergenre dataset report"


def _rating_line(stats: CatalogStats) -> str:
    r = stats.imdb_ratings
    if not r.count:
        return "No IMDb ratings."
    return (
        f"{r.count} movies with an IMDb rating: mean {r.mean:.2f}, median {r.median:.1f}, "
        f"range {r.minimum:.1f}–{r.maximum:.1f}"
    )


def render_dataset_report(movies: list[Movie], stats: CatalogStats, title: str = TITLE) -> str:
    """The report's HTML for already selected movies and their statistics."""
    genres = [g for g, _ in stats.genre_counts]
    sizes_chart, common_sizes = charts.poster_sizes(movies)
    per_movie = stats.genres_per_movie
    chart_urls = {
        "genres": charts.bars(genres, [n for _, n in stats.genre_counts], "Movies per genre", horizontal=True)
        if genres
        else None,
        "cooccurrence": charts.cooccurrence(movies, genres) if genres else None,
        "genres_per_movie": charts.bars([str(k) for k, _ in per_movie], [n for _, n in per_movie], "Genres per movie"),
        "years": charts.years(movies),
        "ratings": charts.bars(
            [r for r, _ in stats.content_ratings], [n for _, n in stats.content_ratings], "Content ratings"
        ),
        "sizes": sizes_chart,
    }
    return render(
        "dataset_report.html",
        title=title,
        stats=stats,
        genres=genres,
        written=utc_now(),
        charts=chart_urls,
        missing=[(r.label, r.count, f"{r.percent:.1f}") for r in stats.missing],
        genre_rows=[(g, n, f"{100 * n / stats.movies:.1f}") for g, n in stats.genre_counts],
        decades=[(f"{d}s", n) for d, n in stats.decades],
        common_sizes=common_sizes,
        rating_line=_rating_line(stats),
        years=f"{stats.year_min}–{stats.year_max}" if stats.year_min is not None else "none",
    )


def write_dataset_report(catalog: Catalog, path: Path, flt: MovieFilter | None = None) -> Path:
    """Write the report for the movies `flt` selects to `path` atomically; returns the path."""
    movies = catalog.movies(flt or MovieFilter())
    stats = stats_of(movies, *duplicates_merged(catalog))
    return write_atomic(path, render_dataset_report(movies, stats))
