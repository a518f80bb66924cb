"""`postergenre catalog import` on a real SQLite file: counts, idempotence, rejected rows, failures."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postergenre.catalog.importing import import_catalog_file
from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.cli import app
from postergenre.config import get_paths

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
runner = CliRunner()


def _invoke(*args: str):
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def _imports(home: Path) -> list[tuple]:
    with sqlite3.connect(get_paths(home).db) as conn:
        return conn.execute(
            "SELECT format, added, updated, unchanged, rejected, duplicates FROM imports ORDER BY id"
        ).fetchall()


def _dump(home: Path) -> list:
    with Catalog(get_paths(home).db) as catalog:
        return catalog.movies()


def test_import_movies_csv_twice(home: Path, shared_data: Path, shared_rows: list[dict]) -> None:
    result = _invoke("catalog", "import", str(shared_data / "movies.csv"))
    assert result.exit_code == 0, result.output
    n = len(shared_rows)
    assert f"catalog now holds {n} movies" in result.output
    movies = _dump(home)
    assert len(movies) == n
    assert Counter(g for m in movies for g in m.genres) == Counter(
        g for row in shared_rows for g in row["genres"].split("|")
    )
    posters = {row["imdb_id"]: str((shared_data / row["poster"]).resolve()) for row in shared_rows}
    assert {m.imdb_id: m.poster_file for m in movies} == posters

    again = _invoke("catalog", "import", str(shared_data / "movies.csv"))
    assert again.exit_code == 0, again.output
    assert _imports(home) == [("ours", n, 0, 0, 0, 0), ("ours", 0, 0, n, 0, 0)]
    assert _dump(home) == movies


def test_import_imdb_api_sample(home: Path, shared_data: Path) -> None:
    result = _invoke("catalog", "import", str(shared_data / "seed-catalog" / "imdb_api_sample.csv"))
    assert result.exit_code == 0, result.output
    movies = _dump(home)
    assert len(movies) == 30
    assert all(m.content_rating in {"G", "PG"} for m in movies)
    assert all(m.poster_url and m.poster_url.startswith("https://") for m in movies)
    assert all(m.genres and m.year == 1990 and m.plot for m in movies)
    assert "imdb-api-csv" in result.output


def test_later_import_merges_without_erasing(home: Path, tmp_path: Path) -> None:
    """Our CSV (no ratings) imported after the IMDb-API export keeps the ratings and updates genres."""
    api = tmp_path / "api.json"
    api.write_text(
        '[{"id": "tt0099785", "title": "Home Alone", "genres": "Comedy, Family", '
        '"contentRating": "PG", "image": "https://img.example/h.jpg"}]',
        encoding="utf-8",
    )
    ours = tmp_path / "ours.csv"
    ours.write_text(
        "imdb_id,title,year,genres,poster\ntt0099785,Home Alone,1990,Comedy,posters/h.jpg\n", encoding="utf-8"
    )
    assert _invoke("catalog", "import", str(api), str(ours)).exit_code == 0
    (movie,) = _dump(home)
    assert movie.content_rating == "PG" and movie.poster_url == "https://img.example/h.jpg"
    assert movie.genres == ("Comedy",) and movie.year == 1990
    assert movie.poster_file == str(tmp_path / "posters" / "h.jpg")
    assert [row[:4] for row in _imports(home)] == [("imdb-api-json", 1, 0, 0), ("ours", 0, 1, 0)]


def test_rejected_rows_are_listed_with_file_and_line(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "many-bad.csv"
    rows = ["imdb_id,title,year,genres,poster", "tt0000001,Good,1990,Drama,"]
    rows += [f"tt{1000 + i:07d},Bad {i},1990,Superhero," for i in range(60)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = _invoke("catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "rejected rows (60)" in result.output
    assert f"{path}:3: unknown genre 'Superhero'" in result.output
    assert f"{path}:52: unknown genre" in result.output  # the 50th rejected row is shown
    assert f"{path}:53:" not in result.output
    assert "and 10 more" in result.output
    assert _imports(home) == [("ours", 1, 0, 0, 60, 0)]


def test_unreadable_file_changes_nothing_and_exits_2(home: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("imdb_id,title,year,genres,poster\ntt0000001,Good,1990,Drama,\n", encoding="utf-8")
    junk = tmp_path / "junk.csv"
    junk.write_text("name,age\nbob,3\n", encoding="utf-8")
    result = subprocess.run(
        [POSTERGENRE, "catalog", "import", str(junk), str(good), str(tmp_path / "gone.csv")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "junk.csv" in result.stderr and "gone.csv" in result.stderr
    assert [m.imdb_id for m in _dump(home)] == ["tt0000001"]


def test_usage_errors_are_clean(home: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [POSTERGENRE, "catalog", "import", "--format", "xml", str(tmp_path / "x.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr and "--format" in result.stderr


def test_failing_upsert_rolls_back_the_whole_file(home: Path, tmp_path: Path) -> None:
    """A failure part-way through one file's upsert leaves the catalog exactly as it was."""
    path = tmp_path / "base.csv"
    path.write_text(
        "imdb_id,title,year,genres,poster\ntt0000001,One,1990,Drama,\ntt0000002,Two,1991,Comedy,\n", encoding="utf-8"
    )
    with Catalog(get_paths(home).db) as catalog:
        import_catalog_file(catalog, path)
        before = catalog.movies()

        def records():
            yield MovieRecord("tt0000001", title="Changed", genres=("Horror",), content_rating="R")
            yield MovieRecord("tt0000003", title="New")
            raise OSError("disk went away")

        with pytest.raises(OSError):
            catalog.upsert_movies(records(), source="broken", fmt="ours")
        assert catalog.movies() == before
    assert len(_imports(home)) == 1


def test_kaggle_and_json_through_the_cli(home: Path, tmp_path: Path) -> None:
    kaggle = tmp_path / "MovieGenre.csv"
    kaggle.write_bytes(
        (
            "imdbId,Imdb Link,Title,IMDB Score,Genre,Poster\n"
            "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Comedy,"
            "https://img.example/t.jpg\n"
            "114709,http://www.imdb.com/title/tt114709,Toy Story (1995),8.3,Animation|Comedy,"
            "https://img.example/t.jpg\n"
            "113041,x,Père Noël (1982),7.0,Comedy,\n"
        ).encode("latin-1")
    )
    result = _invoke("catalog", "import", str(kaggle))
    assert result.exit_code == 0, result.output
    movies = {m.imdb_id: m for m in _dump(home)}
    assert movies["tt0113041"].title == "Père Noël" and movies["tt0114709"].year == 1995
    assert _imports(home)[0][0] == "kaggle" and _imports(home)[0][5] == 1  # one duplicate merged
