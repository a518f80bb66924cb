"""Hostile or careless catalog files: a clear error naming the file (and row/field), never a traceback;
conflicting repeated ids listed with both rows, and --on-conflict deciding what is stored."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postergenre.catalog.formats import read_catalog
from postergenre.catalog.importing import DuplicateConflictError, import_catalog_file
from postergenre.catalog.store import Catalog
from postergenre.cli import app
from postergenre.config import get_paths
from postergenre.errors import CatalogFormatError

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
OURS_HEADER = "imdb_id,title,year,genres,poster\n"
API_HEADER = "id,title,description,genres,contentRating,imDbRating,imDbRatingVotes,plot\n"


def _invoke(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})


@pytest.mark.parametrize(
    "year", ["inf", "-inf", "1e400", "Infinity", "99999999999999999999999", "1e5", "1995.5", "-1990"]
)
def test_impossible_years_reject_their_row(tmp_path: Path, year: str) -> None:
    path = tmp_path / "years.csv"
    path.write_text(OURS_HEADER + f"tt0000001,Good,1995,Drama,\ntt0000002,Bad,{year},Drama,\n", encoding="utf-8")
    read = read_catalog(path)
    assert [r.imdb_id for r in read.records] == ["tt0000001"]
    (rejected,) = read.rejected
    assert (rejected.file, rejected.line) == (str(path), 3)
    assert f"year {year!r}" in rejected.reason


@pytest.mark.parametrize(
    "column, value",
    [
        ("imDbRating", "inf"),
        ("imDbRating", "1e400"),
        ("imDbRating", "11"),
        ("imDbRatingVotes", "1e400"),
        ("imDbRatingVotes", "-3"),
        ("imDbRatingVotes", "nan x"),
    ],
)
def test_impossible_numbers_reject_their_row(tmp_path: Path, column: str, value: str) -> None:
    cells = {
        "id": "tt0000002",
        "title": "Bad",
        "description": "1990",
        "genres": "Comedy",
        "contentRating": "PG",
        "imDbRating": "7.0",
        "imDbRatingVotes": "12",
        "plot": "x",
    }
    cells[column] = value
    path = tmp_path / "api.csv"
    path.write_text(
        API_HEADER + "tt0000001,Good,1990,Comedy,G,7.1,10,p\n" + ",".join(cells.values()) + "\n", encoding="utf-8"
    )
    read = read_catalog(path)
    assert [r.imdb_id for r in read.records] == ["tt0000001"]
    (rejected,) = read.rejected
    assert rejected.line == 3 and column in rejected.reason and repr(value) in rejected.reason


def test_json_numbers_that_overflow_reject_their_record(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(
        '{"items": [\n{"id": "tt0000001", "title": "A", "genres": "Drama", "imDbRating": 1e400},\n'
        '{"id": "tt0000002", "title": "B", "title": "C", "genres": "Drama"},\n'
        '{"id": "tt0000003", "title": "D", "genres": "Drama", "imDbRatingVotes": -1e400}\n]}',
        encoding="utf-8",
    )
    read = read_catalog(path)
    assert read.records == []
    reasons = {r.line: r.reason for r in read.rejected}
    assert "imDbRating 'inf'" in reasons[2] and "'title' more than once" in reasons[3]
    assert "imDbRatingVotes '-inf'" in reasons[4]


def test_duplicate_items_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text(
        '{\n"items": [{"id": "tt0000001", "title": "A", "genres": "Drama"}],\n'
        '"errorMessage": "",\n"items": [{"id": "tt0000002", "title": "B", "genres": "Drama"}]\n}',
        encoding="utf-8",
    )
    with pytest.raises(CatalogFormatError, match=r'twice\.json: the key "items" appears 2 times .*line 2 and line 4'):
        read_catalog(path)
    other = tmp_path / "odd.json"  # a non-list "items" first, then the real one: still two "items"
    other.write_text('{"items": 5, "items": [{"id": "tt0000002", "title": "B", "genres": "Drama"}]}', encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=r'odd\.json: the key "items" appears 2 times'):
        read_catalog(other)


@pytest.mark.parametrize(
    "document",
    [
        '{"items": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "[" * 100_000 + "]" * 100_000,
        '[{"id": "tt0000001", "genres": "Drama", "x": ' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + "}]",
    ],
)
def test_deeply_nested_json_is_refused(tmp_path: Path, document: str) -> None:
    path = tmp_path / "deep.json"
    path.write_text(document, encoding="utf-8")
    with pytest.raises(CatalogFormatError, match=r"deep\.json: JSON nested too deeply"):
        read_catalog(path)


def test_bad_files_through_the_installed_command(home: Path, tmp_path: Path) -> None:
    """The real entry point: exit 2, one line per bad file naming it, row rejects listed, no traceback."""
    deep = tmp_path / "deep.json"
    deep.write_text('{"items": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    twice = tmp_path / "twice.json"
    twice.write_text('{"items": [], "items": []}', encoding="utf-8")
    years = tmp_path / "years.csv"
    years.write_text(
        OURS_HEADER + "tt0000001,Good,1995,Drama,\ntt0000002,Bad,inf,Drama,\ntt0000003,Worse,1e400,Drama,\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [POSTERGENRE, "catalog", "import", str(deep), str(twice), str(years)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "deep.json: JSON nested too deeply" in result.stderr and 'twice.json: the key "items"' in result.stderr
    assert f"{years}:3: year 'inf' is not a year" in result.stdout
    assert f"{years}:4: year '1e400' is not a year" in result.stdout
    with Catalog(get_paths(home).db) as catalog:
        assert [m.imdb_id for m in catalog.movies()] == ["tt0000001"]


# -- repeated ids with conflicting values ------------------------------------------------------------

CONFLICTING = OURS_HEADER + (
    "tt0000001,Alpha,1990,Drama,\n"  # line 2
    "tt0000002,Beta,1991,Comedy,\n"  # line 3
    "tt0000001,Alpha II,1990,Drama,\n"  # line 4: title conflicts with line 2
    "tt0000002,Beta,1991,Comedy,\n"  # line 5: an exact repeat, no conflict
    "tt0000003,Gamma,,Horror,\n"  # line 6
    "tt0000003,Gamma,2003,,\n"  # line 7: fills the year, no conflict
    "tt0000001,Alpha III,1992,Drama|War,\n"  # line 8: conflicts with line 4 (title) and line 2 (year, genres)
)


def test_conflicts_are_listed_and_the_last_row_wins(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "conflicts.csv"
    path.write_text(CONFLICTING, encoding="utf-8")
    result = _invoke("catalog", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "repeated ids with conflicting values (2; rule: the later row's value wins" in result.output
    assert (
        f"{path}:4: tt0000001 repeats an earlier row with other values: title 'Alpha' (line 2) vs 'Alpha II'"
        in result.output
    )
    assert (
        f"{path}:8: tt0000001 repeats an earlier row with other values: genres 'Drama' (line 2) vs "
        f"'Drama|War'; title 'Alpha II' (line 4) vs 'Alpha III'; year 1990 (line 2) vs 1992"
    ) in result.output
    with Catalog(get_paths(home).db) as catalog:
        alpha, beta, gamma = catalog.movies()
        imports = catalog.conn.execute("SELECT added, duplicates, conflicts FROM imports").fetchall()
    assert (alpha.title, alpha.year, alpha.genres) == ("Alpha III", 1992, ("Drama", "War"))
    assert (beta.title, gamma.year, gamma.genres) == ("Beta", 2003, ("Horror",))
    assert imports == [(3, 4, 2)]


def test_first_row_wins_on_request(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "conflicts.csv"
    path.write_text(CONFLICTING, encoding="utf-8")
    result = _invoke("catalog", "import", str(path), "--on-conflict", "first")
    assert result.exit_code == 0, result.output
    assert "rule: the earlier row's value wins (--on-conflict first)" in result.output
    # with the first row kept, line 8 conflicts with line 2 on every differing field
    assert (
        f"{path}:8: tt0000001 repeats an earlier row with other values: genres 'Drama' (line 2) vs "
        f"'Drama|War'; title 'Alpha' (line 2) vs 'Alpha III'" in result.output
    )
    with Catalog(get_paths(home).db) as catalog:
        alpha = catalog.get_movie("tt0000001")
        gamma = catalog.get_movie("tt0000003")
    assert (alpha.title, alpha.year, alpha.genres) == ("Alpha", 1990, ("Drama",))
    assert gamma.year == 2003  # an empty cell filled by a later row is not a conflict


def test_reject_refuses_the_file_and_loses_nothing(home: Path, tmp_path: Path) -> None:
    base = tmp_path / "base.csv"
    base.write_text(OURS_HEADER + "tt0000001,Original,1980,Western,\ntt0000009,Kept,1999,Drama,\n", encoding="utf-8")
    with Catalog(get_paths(home).ensure().db) as catalog:
        import_catalog_file(catalog, base, collection="studio")
        before = catalog.movies()
        path = tmp_path / "conflicts.csv"
        path.write_text(CONFLICTING, encoding="utf-8")
        with pytest.raises(DuplicateConflictError) as caught:
            import_catalog_file(catalog, path, on_conflict="reject")
        assert [(c.line, c.imdb_id) for c in caught.value.conflicts] == [(4, "tt0000001"), (8, "tt0000001")]
        assert catalog.movies() == before

    ok = tmp_path / "ok.csv"
    ok.write_text(OURS_HEADER + "tt0000005,Fine,2005,Drama,\n", encoding="utf-8")
    result = subprocess.run(
        [POSTERGENRE, "catalog", "import", "--on-conflict", "reject", str(path), str(ok)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
        timeout=120,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{path}: 2 repeated id(s) with conflicting values and --on-conflict reject" in result.stderr
    assert f"{path}:4: tt0000001 repeats an earlier row" in result.stderr
    with sqlite3.connect(get_paths(home).db) as conn:
        assert conn.execute("SELECT file FROM imports ORDER BY id").fetchall() == [(str(base),), (str(ok),)]
    with Catalog(get_paths(home).db) as catalog:
        assert [m for m in catalog.movies() if m.imdb_id != "tt0000005"] == before


def test_json_repeats_are_located_by_line(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "api.json"
    records = [
        {"id": "tt0000001", "title": "A", "genres": "Drama", "contentRating": "PG"},
        {"id": "tt0000001", "title": "A", "genres": "Drama", "contentRating": "G"},
    ]
    path.write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]", encoding="utf-8")
    with Catalog(get_paths(home).ensure().db) as catalog:
        result = import_catalog_file(catalog, path)
    (conflict,) = result.counts.conflicts
    assert (
        str(conflict) == f"{path}:3: tt0000001 repeats an earlier row with other values: "
        f"content_rating 'PG' (line 2) vs 'G'"
    )
