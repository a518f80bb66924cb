"""catalog.stats and `postergenre catalog stats` on a small catalog built through the real importers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postergenre.catalog.filters import MovieFilter
from postergenre.catalog.importing import import_catalog_file
from postergenre.catalog.stats import compute_stats
from postergenre.catalog.store import Catalog
from postergenre.cli import app
from postergenre.config import get_paths
from postergenre.errors import EmptySelectionError

OURS = """imdb_id,title,year,genres,poster
tt0000001,A,1985,Drama|Comedy,posters/a.jpg
tt0000002,B,1992,Drama,
tt0000003,C,,,
tt0000004,D,2001,,https://img.example/d.jpg
tt0000005,E,2003,Horror,
"""
KAGGLE = """imdbId,Imdb Link,Title,IMDB Score,Genre,Poster
1,x,A (1985),,Drama|Comedy,
1,x,A (1985),,Drama|Comedy,
"""
API = [
    {
        "id": "tt0000006",
        "title": "F",
        "description": "1990",
        "genres": "Comedy",
        "contentRating": "G",
        "imDbRating": "7.0",
        "image": "https://img.example/f.jpg",
    },
    {
        "id": "tt0000007",
        "title": "G",
        "description": "1994",
        "genres": "Family",
        "contentRating": "Rated PG",
        "imDbRating": "5.0",
    },
]


@pytest.fixture()
def catalog(home: Path, tmp_path: Path):
    files = {"ours.csv": OURS, "MovieGenre.csv": KAGGLE, "api.json": json.dumps({"items": API})}
    with Catalog(get_paths(home).ensure().db) as cat:
        for name, text in files.items():
            (tmp_path / name).write_text(text, encoding="utf-8")
            import_catalog_file(cat, tmp_path / name)
        import_catalog_file(cat, tmp_path / "MovieGenre.csv")  # a re-import must not double the duplicates
        cat.set_poster("tt0000002", sha256="ab" * 32, width=182, height=268, origin="test")
        cat.set_poster_failure("tt0000005", origin="https://img.example/e.jpg", error="HTTP 404")
        yield cat


def test_stats_numbers(catalog: Catalog) -> None:
    s = compute_stats(catalog)
    assert s.movies == 7
    assert [(r.label, r.count) for r in s.missing] == [
        ("missing poster", 3),
        ("missing genres", 2),
        ("missing both", 1),
        ("missing plot", 7),
        ("missing content rating", 5),
        ("missing year", 1),
    ]
    assert s.missing[0].percent == pytest.approx(300 / 7)
    assert (s.posters_stored, s.posters_failed, s.posters_to_fetch) == (1, 1, 3)
    assert s.duplicates_merged == 1 and s.imports == 4
    assert s.genre_counts == [("Comedy", 2), ("Drama", 2), ("Family", 1), ("Horror", 1)]
    assert s.genres_per_movie == [(0, 2), (1, 4), (2, 1)]
    assert s.content_ratings == [("(none)", 5), ("G", 1), ("PG", 1)]
    assert (s.year_min, s.year_max, s.years_missing) == (1985, 2003, 1)
    assert s.decades == [(1980, 1), (1990, 3), (2000, 2)]
    assert (s.imdb_ratings.count, s.imdb_ratings.mean, s.imdb_ratings.minimum) == (2, 6.0, 5.0)


def test_stats_filters(catalog: Catalog) -> None:
    s = compute_stats(catalog, MovieFilter(ratings=frozenset({"G", "PG"})))
    assert s.movies == 2 and s.genre_counts == [("Comedy", 1), ("Family", 1)]
    assert compute_stats(catalog, MovieFilter(year_min=1990, year_max=1999)).movies == 3
    with pytest.raises(EmptySelectionError, match="--year-min 2050"):
        compute_stats(catalog, MovieFilter(year_min=2050))


def test_empty_catalog_says_import_first(home: Path) -> None:
    with Catalog(get_paths(home).ensure().db) as cat, pytest.raises(EmptySelectionError, match="import"):
        compute_stats(cat)


def test_stats_cli(catalog: Catalog) -> None:
    result = CliRunner().invoke(app, ["catalog", "stats"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    missing_line = next(line for line in result.output.splitlines() if "missing poster" in line)
    assert "3" in missing_line and "42.9" in missing_line
    assert "7 movies" in result.output and "duplicates merged 1" in result.output
    assert "1985–2003" in result.output and "mean 6.00" in result.output

    filtered = CliRunner().invoke(app, ["catalog", "stats", "--rating", "pg"], env={"COLUMNS": "200"})
    assert filtered.exit_code == 0, filtered.output
    assert "1 movies" in filtered.output and "Family" in filtered.output and "Drama" not in filtered.output


def test_rating_filters_accept_the_ratings_the_catalog_holds(home: Path, tmp_path: Path) -> None:
    """--rating PD (or a foreign "12A") selects the movies the catalog stores with it, in stats as in similar and
    brief (their filters are parsed before any model loads); a rating the catalog does not hold still fails, named."""
    items = [
        {"id": "tt0000011", "title": "Old", "description": "1925", "genres": "Comedy", "contentRating": "PD"},
        {"id": "tt0000012", "title": "Abroad", "description": "2010", "genres": "Drama", "contentRating": "12A"},
        {"id": "tt0000013", "title": "Kids", "description": "2000", "genres": "Family", "contentRating": "G"},
    ]
    (tmp_path / "api.json").write_text(json.dumps({"items": items}), encoding="utf-8")
    with Catalog(get_paths(home).ensure().db) as cat:
        import_catalog_file(cat, tmp_path / "api.json")
    held = CliRunner().invoke(app, ["catalog", "stats", "--rating", "pd, 12a"], env={"COLUMNS": "200"})
    assert held.exit_code == 0, held.output
    assert "2 movies" in held.output and "Drama" in held.output and "Family" not in held.output
    typo = CliRunner().invoke(app, ["catalog", "stats", "--rating", "PGX"])
    assert "unknown content rating 'PGX'" in str(typo.exception) and "PD" in str(typo.exception)
    poster = tmp_path / "missing.jpg"  # the filter is parsed first: a held rating gets past it, a typo does not
    for command in (["similar", str(poster)], ["brief", str(poster)]):
        passed = CliRunner().invoke(app, [*command, "--rating", "PD"])
        assert "unknown content rating" not in str(passed.exception), passed.exception
        failed = CliRunner().invoke(app, [*command, "--rating", "PGX"])
        assert "unknown content rating 'PGX'" in str(failed.exception), failed.exception
