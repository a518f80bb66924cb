"""The dataset report: one self-contained HTML file describing the catalog a model would learn from.

Plots are embedded as base64 PNGs so the file can be mailed or archived on its own. The numbers come
from catalog.stats, the same place `catalog stats` reads them, so the report and the CLI cannot disagree.
"""

from __future__ import annotations

import base64
import html
import io
from collections import Counter
from ..clock import utc_now
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..catalog.filters import MovieFilter  # noqa: E402
from ..catalog.records import Movie  # noqa: E402
from ..catalog.stats import CatalogStats, duplicates_merged, stats_of  # noqa: E402
from ..catalog.store import Catalog  # noqa: E402
from ..files import write_atomic  # noqa: E402

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; } section { margin-bottom: 2rem; }
.flex { display: flex; gap: 2rem; flex-wrap: wrap; align-items: flex-start; }
"""


def _png(fig: plt.Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _table(columns: tuple[str, ...], rows: list[tuple], table_id: str = "") -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar(labels: list[str], values: list[int], title: str, horizontal: bool = False) -> str:
    fig, ax = plt.subplots(figsize=(8, max(3, 0.28 * len(labels))) if horizontal else (8, 3.5))
    if horizontal:
        ax.barh(labels[::-1], values[::-1], color="#4c72b0")
    else:
        ax.bar(labels, values, color="#4c72b0")
        ax.tick_params(axis="x", rotation=45)
    ax.set_title(title)
    return _png(fig)


def _cooccurrence(movies: list[Movie], genres: list[str]) -> str:
    """Heatmap of how often two genres label the same movie (diagonal: the genre's own count)."""
    index = {g: i for i, g in enumerate(genres)}
    matrix = np.zeros((len(genres), len(genres)), dtype=np.int64)
    for m in movies:
        ids = [index[g] for g in m.genres if g in index]
        for i in ids:
            for j in ids:
                matrix[i, j] += 1
    fig, ax = plt.subplots(figsize=(11, 9.5))
    image = ax.imshow(np.log1p(matrix), cmap="viridis")
    ax.set_xticks(range(len(genres)), genres, rotation=90)
    ax.set_yticks(range(len(genres)), genres)
    if len(genres) <= 30:
        for i in range(len(genres)):
            for j in range(len(genres)):
                if matrix[i, j]:
                    ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=5,
                            color="white" if matrix[i, j] < matrix.max() / 4 else "black")
    fig.colorbar(image, ax=ax, label="log(1 + movies)")
    ax.set_title("Genre co-occurrence (movies with both genres)")
    return _png(fig)


def _years(movies: list[Movie]) -> str:
    years = [m.year for m in movies if m.year is not None]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    if years:
        ax.hist(years, bins=range(min(years), max(years) + 2), color="#4c72b0")
    ax.set_title("Release years")
    ax.set_xlabel("year")
    ax.set_ylabel("movies")
    return _png(fig)


def _poster_sizes(movies: list[Movie]) -> tuple[str, list[tuple]]:
    sizes = [(m.poster_width, m.poster_height) for m in movies
             if m.poster_status == "ok" and m.poster_width and m.poster_height]
    if not sizes:
        return "<p>No posters stored yet (postergenre posters attach / fetch).</p>", []
    counts = Counter(sizes)
    (widths, heights), n = np.array(list(counts)).T, np.array(list(counts.values()))
    fig, ax = plt.subplots(figsize=(6, 5))  # one bubble per distinct size: most posters share a few sizes
    ax.scatter(widths, heights, s=20 + 400 * np.sqrt(n / n.max()), alpha=0.5, color="#4c72b0")
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title(f"Poster sizes ({len(sizes)} stored posters; bubble area ~ count)")
    common = [(f"{w}×{h}", c) for (w, h), c in counts.most_common(10)]
    return _png(fig), common


def render_dataset_report(movies: list[Movie], stats: CatalogStats, title: str) -> str:
    """The report's HTML for already selected movies and their statistics."""
    genres = [g for g, _ in stats.genre_counts]
    sizes_plot, common_sizes = _poster_sizes(movies)
    ratings = stats.imdb_ratings
    rating_line = (f"{ratings.count} movies with an IMDb rating: mean {ratings.mean:.2f}, median {ratings.median:.1f}, "
                   f"range {ratings.minimum:.1f}–{ratings.maximum:.1f}" if ratings.count else "No IMDb ratings.")
    years = f"{stats.year_min}–{stats.year_max}" if stats.year_min is not None else "none"
    sections = [
        ("Missing values", _table(("", "movies", "%"), [(r.label, r.count, f"{r.percent:.1f}") for r in stats.missing],
                                  "missing")
         + f"<p>Posters stored: {stats.posters_stored} · failed: {stats.posters_failed} · still to fetch/attach: "
           f"{stats.posters_to_fetch} · duplicate ids merged: {stats.duplicates_merged}</p>"),
        ("Genre counts", '<div class="flex">'
         + _table(("genre", "movies", "%"),
                  [(g, n, f"{100 * n / stats.movies:.1f}") for g, n in stats.genre_counts], "genre-counts")
         + (_bar(genres, [n for _, n in stats.genre_counts], "Movies per genre", horizontal=True) if genres else "")
         + "</div>"),
        ("Genre co-occurrence", _cooccurrence(movies, genres) if genres else "<p>No genres.</p>"),
        ("Genres per movie", '<div class="flex">' + _table(("genres", "movies"), stats.genres_per_movie)
         + _bar([str(k) for k, _ in stats.genres_per_movie], [n for _, n in stats.genres_per_movie],
                "Genres per movie") + "</div>"),
        (f"Years ({years}; no year: {stats.years_missing})", _years(movies)
         + _table(("decade", "movies"), [(f"{d}s", n) for d, n in stats.decades])),
        ("Content ratings", '<div class="flex">' + _table(("rating", "movies"), stats.content_ratings)
         + _bar([r for r, _ in stats.content_ratings], [n for _, n in stats.content_ratings], "Content ratings")
         + f"</div><p>{html.escape(rating_line)}</p>"),
        ("Poster sizes", '<div class="flex">' + sizes_plot
         + (_table(("size", "posters"), common_sizes) if common_sizes else "") + "</div>"),
    ]
    now = utc_now()
    body = "".join(f"<section><h2>{html.escape(h)}</h2>{content}</section>" for h, content in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<p class="meta">{stats.movies} movies · {len(genres)} genres · written {now}</p>{body}</body></html>')


def write_dataset_report(catalog: Catalog, path: Path, flt: MovieFilter | None = None) -> Path:
    """Write the report for the movies `flt` selects to `path` atomically; returns the path."""
    movies = catalog.movies(flt or MovieFilter())
    stats = stats_of(movies, *duplicates_merged(catalog))
    text = render_dataset_report(movies, stats, "postergenre dataset report")
    return write_atomic(path, text)
