"""A catalog written before collections existed is migrated when opened: its movies become `general`."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from typer.testing import CliRunner

from postergenre.catalog.filters import MovieFilter
from postergenre.catalog.store import SCHEMA_VERSION, Catalog
from postergenre.cli import app
from postergenre.config import get_paths

# The schema of the catalog before collections (commit 878d57e, src/postergenre/catalog/store.py), frozen here:
# the file a user's existing home holds.
SCHEMA_V0 = """
CREATE TABLE IF NOT EXISTS movies (
    imdb_id        TEXT PRIMARY KEY,
    title          TEXT,
    year           INTEGER,
    content_rating TEXT,
    plot           TEXT,
    imdb_rating    REAL,
    imdb_votes     INTEGER,
    poster_url     TEXT,
    poster_file    TEXT,
    updated_at     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS movie_genres (
    imdb_id TEXT NOT NULL REFERENCES movies(imdb_id) ON DELETE CASCADE,
    genre   TEXT NOT NULL,
    PRIMARY KEY (imdb_id, genre)
);
CREATE INDEX IF NOT EXISTS movie_genres_genre ON movie_genres(genre);
CREATE TABLE IF NOT EXISTS posters (
    imdb_id    TEXT PRIMARY KEY REFERENCES movies(imdb_id) ON DELETE CASCADE,
    status     TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    sha256     TEXT,
    width      INTEGER,
    height     INTEGER,
    origin     TEXT,
    error      TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS posters_sha256 ON posters(sha256);
CREATE TABLE IF NOT EXISTS imports (
    id         INTEGER PRIMARY KEY,
    file       TEXT NOT NULL,
    format     TEXT NOT NULL,
    added      INTEGER NOT NULL,
    updated    INTEGER NOT NULL,
    unchanged  INTEGER NOT NULL,
    rejected   INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    at         TEXT NOT NULL
);
"""


def _old_catalog(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA_V0)
        conn.executemany(
            "INSERT INTO movies (imdb_id, title, year, content_rating, plot, poster_file, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 'then')",
            [
                ("tt0000001", "One", 1990, "PG", "A plot.", "/old/posters/tt0000001.jpg"),
                ("tt0000002", "Two", 1991, None, None, None),
            ],
        )
        conn.executemany(
            "INSERT INTO movie_genres VALUES (?, ?)",
            [("tt0000001", "Drama"), ("tt0000001", "Family"), ("tt0000002", "Comedy")],
        )
        conn.execute(
            "INSERT INTO posters (imdb_id, status, sha256, width, height, origin, updated_at) "
            "VALUES ('tt0000001', 'ok', ?, 182, 268, 'attach', 'then')",
            ("ab" * 32,),
        )
        conn.execute(
            "INSERT INTO imports (file, format, added, updated, unchanged, rejected, duplicates, at) "
            "VALUES ('movies.csv', 'ours', 2, 0, 0, 0, 1, 'then')"
        )


def test_old_catalog_is_migrated_and_keeps_everything(home: Path, tmp_path: Path) -> None:
    db = get_paths(home).ensure().db
    _old_catalog(db)
    with Catalog(db) as catalog:
        assert catalog.schema_version() == SCHEMA_VERSION
        one, two = catalog.movies()
        assert catalog.collections() == {"general": 2}
        # the old row's imports record gained the new columns with neutral values
        assert catalog.conn.execute("SELECT collection, conflicts, duplicates FROM imports").fetchall() == [
            (None, 0, 1)
        ]
    assert (one.imdb_id, one.title, one.year, one.content_rating, one.plot) == (
        "tt0000001",
        "One",
        1990,
        "PG",
        "A plot.",
    )
    assert one.genres == ("Drama", "Family") and one.collections == ("general",)
    assert one.poster_status == "ok" and one.poster_sha256 == "ab" * 32
    assert two.collections == ("general",) and two.genres == ("Comedy",)

    # The migrated catalog works like a new one: a studio import, filters by collection, stats.
    studio = tmp_path / "studio.csv"
    studio.write_text(
        "imdb_id,title,year,genres,poster\ntt0000002,Two,1991,Comedy,\ntt0000003,Three,2001,Family,\n", encoding="utf-8"
    )
    result = CliRunner().invoke(
        app, ["catalog", "import", str(studio), "--collection", "studio"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    with Catalog(db) as catalog:
        assert catalog.collections() == {"general": 2, "studio": 2}
        assert [m.imdb_id for m in catalog.movies(MovieFilter(collections=frozenset({"studio"})))] == [
            "tt0000002",
            "tt0000003",
        ]
        assert catalog.get_movie("tt0000002").collections == ("general", "studio")
        assert catalog.conn.execute("SELECT collection FROM imports ORDER BY id").fetchall() == [(None,), ("studio",)]
    stats = CliRunner().invoke(app, ["catalog", "stats", "--collection", "general"], env={"COLUMNS": "200"})
    assert stats.exit_code == 0 and "--collection general removed 1 of 3 movies: 1 are in studio" in stats.output


def test_migration_runs_once_even_when_opened_concurrently(home: Path) -> None:
    db = get_paths(home).ensure().db
    _old_catalog(db)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            with Catalog(db) as catalog:
                assert catalog.schema_version() == SCHEMA_VERSION
        except BaseException as exc:  # collected: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with Catalog(db) as catalog:
        assert catalog.conn.execute("SELECT count(*) FROM movie_collections").fetchone()[0] == 2
        assert catalog.collections() == {"general": 2}


def test_new_catalog_starts_at_the_current_version(home: Path) -> None:
    with Catalog(get_paths(home).ensure().db) as catalog:
        assert catalog.schema_version() == SCHEMA_VERSION and catalog.collections() == {}
