"""The studio's IMDb-API export imported as it is, beside the general movies.csv: collections, plots, odd
ratings, filters by collection, what each filter removed, and re-imports that change nothing."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
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
from sampling import spread

runner = CliRunner()


@pytest.fixture(scope="module")
def studio_file(shared_data: Path) -> Path:
    path = shared_data / "studio-catalog" / "imdb_api_export.csv"
    if not path.is_file():
        pytest.skip(f"studio export not found at {path}")
    return path


@pytest.fixture(scope="module")
def studio_rows(studio_file: Path) -> list[dict]:
    with open(studio_file, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def both_home(tmp_path_factory: pytest.TempPathFactory, studio_file: Path, shared_data: Path) -> Path:
    """movies.csv (general) and the studio export (studio) imported through the CLI. Read-only for tests."""
    home = tmp_path_factory.mktemp("both") / "home"
    for args in (["--collection", "studio", str(studio_file)], [str(shared_data / "movies.csv")]):
        result = runner.invoke(app, ["catalog", "import", *args, "--home", str(home)], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    return home


def _cli(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "250"})


def test_studio_export_imports_every_row(both_home: Path, studio_rows: list[dict], shared_rows: list[dict]) -> None:
    with Catalog(get_paths(both_home).db) as catalog:
        studio = catalog.movies(MovieFilter(collections=frozenset({"studio"})))
        assert catalog.collections() == {"general": len(shared_rows), "studio": len(studio_rows)}
        everything = catalog.movies()
    assert len(studio_rows) == 3_050 and len(studio) == 3_050
    assert {m.imdb_id for m in studio} == {row["id"] for row in studio_rows}
    assert all(m.collections == ("studio",) for m in studio)
    assert sum(m.collections == ("general",) for m in everything) == len(shared_rows)
    by_id = {m.imdb_id: m for m in studio}
    for row in studio_rows:  # every plot is stored, as written apart from spacing
        movie = by_id[row["id"]]
        assert (movie.plot or "").split() == ([] if row["plot"] in ("", "None") else row["plot"].split())
        assert movie.title == row["title"] and movie.genres and movie.imdb_votes is not None


def test_plots_keep_their_paragraphs(both_home: Path, studio_rows: list[dict]) -> None:
    multi = [row for row in studio_rows if "\n" in row["plot"]]
    assert len(multi) == 2  # the export's two multi-line quoted plots
    with Catalog(get_paths(both_home).db) as catalog:
        for row in multi:
            plot = catalog.get_movie(row["id"]).plot
            assert plot.split("\n\n") == [" ".join(p.split()) for p in row["plot"].split("\n\n")]


def test_odd_ratings_and_missing_year(both_home: Path, studio_rows: list[dict], shared_rows: list[dict]) -> None:
    with Catalog(get_paths(both_home).db) as catalog:
        studio = catalog.movies(MovieFilter(collections=frozenset({"studio"})))
        values = catalog.filter_values(["studio"])
    ratings = Counter(m.content_rating for m in studio)
    raw = Counter(row["contentRating"] for row in studio_rows)
    assert ratings["PD"] == raw["PD"] == 1 and ratings["TV-14"] == raw["TV-14"]
    assert ratings["Not Rated"] == raw["Not Rated"] and ratings["Unrated"] == raw["Unrated"]
    assert ratings[None] == raw["None"] == 1  # the text "None" is no rating, not a rating called None
    assert ratings["G"] == raw["G"] and ratings["PG"] == raw["PG"]
    (no_year,) = [row["id"] for row in studio_rows if row["description"] == "None"]
    assert {m.imdb_id for m in studio if m.year is None} == {no_year}
    # what a filter UI is offered for the studio collection
    assert values.movies == 3_050 and values.unrated == 1
    assert values.ratings == {k: v for k, v in ratings.items() if k is not None}
    assert (values.year_min, values.year_max) == (1990, 2023)
    assert values.collections == {"general": len(shared_rows), "studio": 3_050}
    assert values.genres["Family"] == sum("Family" in m.genres for m in studio)


def test_filter_values_of_the_whole_catalog(both_home: Path, shared_rows: list[dict]) -> None:
    with Catalog(get_paths(both_home).db) as catalog:
        values = catalog.filter_values()
    years = [int(r["year"]) for r in shared_rows if r["year"]]
    assert values.movies == len(shared_rows) + 3_050 and values.unrated == len(shared_rows) + 1  # + the studio's "None"
    assert values.year_min == min(years) and values.year_max == 2023


def test_removal_counts_say_why(both_home: Path, shared_rows: list[dict]) -> None:
    general, everything = len(shared_rows), len(shared_rows) + 3_050
    with Catalog(get_paths(both_home).db) as catalog:
        selection = catalog.select(MovieFilter(ratings=frozenset({"G", "PG"}), year_min=1995))
        studio = catalog.movies(MovieFilter(collections=frozenset({"studio"})))
    rating_step, year_step = selection.steps
    assert rating_step.before == everything
    assert dict(rating_step.reasons)["have no rating"] == general + 1  # + the studio's one "None"
    assert dict(rating_step.reasons)["are rated PG-13"] == sum(m.content_rating == "PG-13" for m in studio)
    assert rating_step.removed == everything - sum(m.content_rating in ("G", "PG") for m in studio)
    kept_gpg = [m for m in studio if m.content_rating in ("G", "PG")]
    assert year_step.before == len(kept_gpg)
    assert dict(year_step.reasons) == {
        "are from before 1995": sum(m.year < 1995 for m in kept_gpg if m.year),
        "have no year": sum(m.year is None for m in kept_gpg),
    }
    assert len(selection.movies) == len(kept_gpg) - year_step.removed
    assert str(rating_step).startswith(
        f"--rating G,PG removed {rating_step.removed:,} of {everything:,} movies: {general + 1:,} have no rating"
    )


def test_stats_cli_by_collection_and_rating(both_home: Path, shared_rows: list[dict]) -> None:
    general = len(shared_rows)
    result = _cli("catalog", "stats", "--rating", "G,PG", "--home", str(both_home))
    assert result.exit_code == 0, result.output
    assert "--rating G,PG removed" in result.output and f"{general + 1:,} have no rating" in result.output
    cells = [line.split("\t") for line in result.output.splitlines() if "\t" in line]  # piped: tab-separated rows
    missing = {row[0]: int(row[1]) for row in cells if row and row[0].startswith("missing ")}
    with Catalog(get_paths(both_home).db) as catalog:
        gpg = catalog.movies(MovieFilter(ratings=frozenset({"G", "PG"})))
    assert missing["missing plot"] == sum(not m.plot for m in gpg) > 0
    assert missing["missing year"] == sum(m.year is None for m in gpg)
    assert missing["missing content rating"] == 0

    studio = _cli("catalog", "stats", "--collection", "Studio", "--home", str(both_home))
    assert studio.exit_code == 0, studio.output
    assert (
        f"--collection studio removed {general:,} of {general + 3_050:,} movies: {general:,} are in general"
        in studio.output
    )
    assert "3050 movies" in studio.output

    unknown = _cli("catalog", "stats", "--collection", "studoi", "--home", str(both_home))
    assert unknown.exit_code != 0
    assert isinstance(unknown.exception, EmptySelectionError)
    assert "general, studio" in str(unknown.exception)


def test_compute_stats_collections(both_home: Path, shared_rows: list[dict]) -> None:
    general, everything = len(shared_rows), len(shared_rows) + 3_050
    with Catalog(get_paths(both_home).db) as catalog:
        s = compute_stats(catalog, MovieFilter(collections=frozenset({"general", "studio"})))
        with pytest.raises(EmptySelectionError, match=f"--collection nowhere removed {everything:,} of {everything:,}"):
            compute_stats(catalog, MovieFilter(collections=frozenset({"nowhere"})))
    assert s.movies == everything and s.collections == [("general", general), ("studio", 3_050)]
    assert not any(step.removed for step in s.removed)


def test_reimports_report_unchanged(
    both_home: Path, studio_file: Path, shared_data: Path, shared_rows: list[dict], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(both_home, home)
    with Catalog(get_paths(home).db) as catalog:
        before = catalog.movies()
        again = import_catalog_file(catalog, studio_file, collection="studio")
        general = import_catalog_file(catalog, shared_data / "movies.csv")
        assert (again.counts.added, again.counts.updated, again.counts.unchanged) == (0, 0, 3_050)
        assert (general.counts.added, general.counts.updated, general.counts.unchanged) == (0, 0, len(shared_rows))
        assert catalog.movies() == before
        # the studio file imported into a second collection: every movie joins it, nothing else changes
        joined = import_catalog_file(catalog, studio_file, collection="favourites")
        assert (joined.counts.updated, joined.counts.unchanged) == (3_050, 0)
        assert catalog.collections()["favourites"] == 3_050
        assert catalog.get_movie("tt0099785").collections == ("favourites", "studio")


def test_reimport_from_another_folder_is_unchanged(
    home: Path, shared_data: Path, shared_rows: list[dict], tmp_path: Path
) -> None:
    """The same catalog file read from another place (a fresh clone's ../shared/data, a moved data folder):
    its rows are unchanged; only the stored poster paths follow the file."""
    rows = spread(shared_rows, 36)
    for place in ("old", "new"):
        (tmp_path / place / "posters").mkdir(parents=True)
        with open(tmp_path / place / "movies.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    with Catalog(get_paths(home).ensure().db) as catalog:
        first = import_catalog_file(catalog, tmp_path / "old" / "movies.csv")
        moved = import_catalog_file(catalog, tmp_path / "new" / "movies.csv")
        movies = catalog.movies()
    assert first.counts.added == len(rows)
    assert (moved.counts.updated, moved.counts.unchanged, moved.counts.relocated) == (0, len(rows), len(rows))
    assert all(m.poster_file.startswith(str((tmp_path / "new").resolve())) for m in movies)


def test_collection_names_are_checked(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "ours.csv"
    path.write_text("imdb_id,title,year,genres,poster\ntt0000001,A,1990,Drama,\n", encoding="utf-8")
    result = _cli("catalog", "import", str(path), "--collection", "a b")
    assert result.exit_code != 0 and "bad collection name 'a b'" in str(result.exception)
    with Catalog(get_paths(home).ensure().db) as catalog:
        assert catalog.count() == 0
