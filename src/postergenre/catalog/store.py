"""The SQLite catalog: movies, their genres, the collections they came from and the state of their posters.

Every write happens inside a transaction, so a failing import or fetch loses nothing already stored.
Other layers keep their own tables in the same file (features.cache adds embeddings).
A catalog written by an older version is migrated in place when opened (see _MIGRATIONS).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from ..clock import utc_now
from .database import connect, transaction
from .filters import MovieFilter, Selection, normalise_collection
from .records import (
    DEFAULT_COLLECTION,
    MOVIE_FIELDS,
    DuplicateConflict,
    FilterValues,
    Movie,
    MovieRecord,
    RejectedRow,
    UpsertCounts,
)

SCHEMA = """
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
CREATE TABLE IF NOT EXISTS movie_collections (
    imdb_id    TEXT NOT NULL REFERENCES movies(imdb_id) ON DELETE CASCADE,
    collection TEXT NOT NULL,
    PRIMARY KEY (imdb_id, collection)
);
CREATE INDEX IF NOT EXISTS movie_collections_collection ON movie_collections(collection);
CREATE TABLE IF NOT EXISTS catalog_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

SCHEMA_VERSION = 2


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    """Collections: movies imported before them came from the general catalog; imports record theirs."""
    conn.execute(
        "INSERT OR IGNORE INTO movie_collections (imdb_id, collection) SELECT imdb_id, ? FROM movies",
        (DEFAULT_COLLECTION,),
    )
    columns = {row[1] for row in conn.execute("PRAGMA table_info(imports)")}
    if "collection" not in columns:
        conn.execute("ALTER TABLE imports ADD COLUMN collection TEXT")
    if "conflicts" not in columns:
        conn.execute("ALTER TABLE imports ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0")


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    """Titles and plots stored before imports repaired text encoding (catalog.text) get repaired in place."""
    from .text import repair_text

    changed = []
    for imdb_id, title, plot in conn.execute("SELECT imdb_id, title, plot FROM movies").fetchall():
        repaired = (repair_text(title), repair_text(plot))
        if repaired != (title, plot):
            changed.append((*repaired, imdb_id))
    conn.executemany("UPDATE movies SET title = ?, plot = ? WHERE imdb_id = ?", changed)


# version reached -> step from the version before; a file without catalog_meta is version 0 (no collections).
_MIGRATIONS = {1: _migrate_to_1, 2: _migrate_to_2}

_MOVIE_SELECT = f"""
SELECT m.imdb_id, {", ".join("m." + f for f in MOVIE_FIELDS)},
       (SELECT group_concat(genre, '|') FROM (SELECT genre FROM movie_genres g
            WHERE g.imdb_id = m.imdb_id ORDER BY genre)) AS genres,
       (SELECT group_concat(collection, '|') FROM (SELECT collection FROM movie_collections c
            WHERE c.imdb_id = m.imdb_id ORDER BY collection)) AS collections,
       p.sha256, p.status, p.error, p.width, p.height
FROM movies m LEFT JOIN posters p ON p.imdb_id = m.imdb_id
"""


def _row_to_movie(row: sqlite3.Row) -> Movie:
    values = dict(zip(("imdb_id",) + MOVIE_FIELDS, row[: 1 + len(MOVIE_FIELDS)], strict=True))
    genres, collections, sha, status, error, width, height = row[1 + len(MOVIE_FIELDS) :]
    return Movie(
        **values,
        genres=tuple(genres.split("|")) if genres else (),
        collections=tuple(collections.split("|")) if collections else (),
        poster_sha256=sha,
        poster_status=status,
        poster_error=error,
        poster_width=width,
        poster_height=height,
    )


def _insert_movie(conn: sqlite3.Connection, rec: MovieRecord, collection: str) -> None:
    """A movie new to the catalog: its row, genres and first collection."""
    conn.execute(
        f"INSERT INTO movies (imdb_id, {', '.join(MOVIE_FIELDS)}, updated_at) "
        f"VALUES ({', '.join('?' * (len(MOVIE_FIELDS) + 2))})",
        (rec.imdb_id, *(getattr(rec, f) for f in MOVIE_FIELDS), utc_now()),
    )
    conn.executemany("INSERT INTO movie_genres VALUES (?, ?)", [(rec.imdb_id, g) for g in set(rec.genres)])
    conn.execute("INSERT INTO movie_collections VALUES (?, ?)", (rec.imdb_id, collection))


def _merge_movie(conn: sqlite3.Connection, rec: MovieRecord, old: Movie, collection: str, counts: UpsertCounts) -> None:
    """A known movie: the record's non-empty values over the stored ones (see Catalog.upsert_movies), counted as
    updated, unchanged or (a poster path moved to another folder only) relocated."""
    changes = {
        f: getattr(rec, f) for f in MOVIE_FIELDS if getattr(rec, f) is not None and getattr(rec, f) != getattr(old, f)
    }
    moved = (
        "poster_file" in changes
        and old.poster_file is not None
        and rec.poster_file is not None
        and Path(old.poster_file).name == Path(rec.poster_file).name
    )
    new_genres = bool(rec.genres) and sorted(set(rec.genres)) != sorted(old.genres)
    joins = collection not in old.collections
    if changes:
        assignments = ", ".join(f"{f} = ?" for f in changes)
        conn.execute(
            f"UPDATE movies SET {assignments}, updated_at = ? WHERE imdb_id = ?",
            (*changes.values(), utc_now(), rec.imdb_id),
        )
    if new_genres:
        conn.execute("DELETE FROM movie_genres WHERE imdb_id = ?", (rec.imdb_id,))
        conn.executemany("INSERT INTO movie_genres VALUES (?, ?)", [(rec.imdb_id, g) for g in set(rec.genres)])
    if joins:
        conn.execute("INSERT INTO movie_collections VALUES (?, ?)", (rec.imdb_id, collection))
    if new_genres or joins or set(changes) - ({"poster_file"} if moved else set()):
        counts.updated += 1
    else:
        counts.unchanged += 1
        counts.relocated += moved


def _record_import(conn: sqlite3.Connection, source: str, fmt: str, collection: str, counts: UpsertCounts) -> None:
    """One row of the imports table: what an import of `source` did."""
    conn.execute(
        "INSERT INTO imports (file, format, added, updated, unchanged, rejected, duplicates, at, collection,"
        " conflicts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            source,
            fmt,
            counts.added,
            counts.updated,
            counts.unchanged,
            counts.rejected,
            counts.duplicates_merged,
            utc_now(),
            collection,
            len(counts.conflicts),
        ),
    )


class Catalog:
    """A catalog database file. Use as a context manager or call close()."""

    def __init__(self, db_path: Path | str):
        self.path = Path(db_path)
        self.conn = connect(self.path, SCHEMA, timeout=30)
        self._migrate()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """All-or-nothing: commits on success, rolls back on any exception."""
        return transaction(self.conn)

    def schema_version(self) -> int:
        row = self.conn.execute("SELECT value FROM catalog_meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring a catalog written by an older version up to SCHEMA_VERSION, one transaction per step."""
        while self.schema_version() < SCHEMA_VERSION:
            with self.transaction() as conn:
                version = self.schema_version()  # re-read under the write lock: another process may have migrated
                if version >= SCHEMA_VERSION:
                    break
                _MIGRATIONS[version + 1](conn)
                conn.execute(
                    "INSERT OR REPLACE INTO catalog_meta (key, value) VALUES ('schema_version', ?)", (str(version + 1),)
                )

    # -- movies ---------------------------------------------------------------------------------

    def upsert_movies(
        self,
        records: Iterable[MovieRecord],
        *,
        collection: str = DEFAULT_COLLECTION,
        source: str = "",
        fmt: str = "",
        rejected: Sequence[RejectedRow] = (),
        duplicates: int = 0,
        conflicts: Sequence[DuplicateConflict] = (),
    ) -> UpsertCounts:
        """Insert or merge records into `collection` in one transaction.

        Merging keeps stored values where the new record has none (importing our CSV after the
        IMDb-API export must not erase content ratings); a non-empty genre list replaces the old one.
        A movie keeps the collections it was in and joins `collection` (joining counts as an update).
        A local poster path that differs only by folder (the same catalog file read from another place)
        is updated without counting the movie as updated: its data did not change (`relocated`).
        `rejected`, `duplicates` and `conflicts` (what the reader and the duplicate merge found) are only
        counted and recorded in the imports table; a repeated id in `records` is merged and counted too.
        """
        collection = normalise_collection(collection)
        counts = UpsertCounts(
            rejected=len(rejected), rejections=list(rejected), duplicates_merged=duplicates, conflicts=list(conflicts)
        )
        seen: set[str] = set()
        with self.transaction() as conn:
            for rec in records:
                if rec.imdb_id in seen:
                    counts.duplicates_merged += 1
                seen.add(rec.imdb_id)
                old = self.get_movie(rec.imdb_id)
                if old is None:
                    _insert_movie(conn, rec, collection)
                    counts.added += 1
                else:
                    _merge_movie(conn, rec, old, collection, counts)
            _record_import(conn, source, fmt, collection, counts)
        return counts

    def get_movie(self, imdb_id: str) -> Movie | None:
        row = self.conn.execute(_MOVIE_SELECT + " WHERE m.imdb_id = ?", (imdb_id,)).fetchone()
        return _row_to_movie(row) if row else None

    def movies(self, flt: MovieFilter | None = None) -> list[Movie]:
        """All movies, ordered by id, narrowed by `flt` (see MovieFilter.select for error messages)."""
        return self.select(flt).movies if flt is not None else self._all_movies()

    def select(self, flt: MovieFilter | None = None) -> Selection:
        """The movies `flt` selects, with what each filter removed and why (Selection.removal_lines)."""
        return (flt or MovieFilter()).select(self._all_movies())

    def _all_movies(self) -> list[Movie]:
        rows = self.conn.execute(_MOVIE_SELECT + " ORDER BY m.imdb_id").fetchall()
        return [_row_to_movie(r) for r in rows]

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM movies").fetchone()[0]

    def collections(self) -> dict[str, int]:
        """Collection name -> number of movies in it, by name."""
        rows = self.conn.execute(
            "SELECT collection, count(*) FROM movie_collections GROUP BY collection ORDER BY collection"
        ).fetchall()
        return dict(rows)

    def filter_values(self, collections: Iterable[str] | None = None) -> FilterValues:
        """The values a filter UI can offer: collections (always all), and the content ratings, year range
        and genres of the movies in `collections` (every movie when None)."""
        names = sorted({normalise_collection(c) for c in collections}) if collections else []
        where = ""
        params: tuple[str, ...] = ()
        if names:
            where = (
                f" WHERE m.imdb_id IN (SELECT imdb_id FROM movie_collections WHERE collection IN "
                f"({', '.join('?' * len(names))}))"
            )
            params = tuple(names)
        movies, unrated, year_min, year_max = self.conn.execute(
            "SELECT count(*), sum(m.content_rating IS NULL), min(m.year), max(m.year) FROM movies m" + where, params
        ).fetchone()
        ratings = self.conn.execute(
            "SELECT m.content_rating, count(*) AS n FROM movies m"
            + (where or " WHERE 1")
            + " AND m.content_rating IS NOT NULL GROUP BY m.content_rating ORDER BY n DESC, m.content_rating",
            params,
        ).fetchall()
        genres = self.conn.execute(
            "SELECT g.genre, count(*) AS n FROM movie_genres g JOIN movies m ON m.imdb_id = g.imdb_id"
            + where
            + " GROUP BY g.genre ORDER BY n DESC, g.genre",
            params,
        ).fetchall()
        return FilterValues(
            movies=movies,
            collections=self.collections(),
            ratings=dict(ratings),
            unrated=unrated or 0,
            year_min=year_min,
            year_max=year_max,
            genres=dict(genres),
        )

    # -- posters --------------------------------------------------------------------------------

    def set_poster(self, imdb_id: str, *, sha256: str, width: int, height: int, origin: str) -> None:
        self.set_posters([(imdb_id, sha256, width, height, origin)])

    def set_poster_failure(self, imdb_id: str, *, origin: str, error: str) -> None:
        """Record why a poster could not be had; an earlier good poster is kept."""
        self.set_poster_failures([(imdb_id, origin, error)])

    def set_posters(self, rows: Iterable[tuple[str, str, int, int, str]]) -> None:
        """Batch set_poster: (imdb_id, sha256, width, height, origin) rows in one transaction.

        Bulk attach/fetch write thousands of rows; one transaction per row would dominate their time.
        """
        now = utc_now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO posters (imdb_id, status, sha256, width, height, origin, error, updated_at)"
                " VALUES (?, 'ok', ?, ?, ?, ?, NULL, ?)",
                [(*row, now) for row in rows],
            )

    def set_poster_failures(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Batch set_poster_failure: (imdb_id, origin, error) rows in one transaction."""
        now = utc_now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO posters (imdb_id, status, origin, error, updated_at) VALUES (?, 'failed', ?, ?, ?)"
                " ON CONFLICT(imdb_id) DO UPDATE SET error = excluded.error, updated_at = excluded.updated_at,"
                " origin = CASE WHEN posters.status = 'ok' THEN posters.origin ELSE excluded.origin END",
                [(*row, now) for row in rows],
            )

    def poster_states(self) -> dict[str, tuple[str, str | None, str | None]]:
        """imdb_id -> (status, origin, sha256) for every movie with a poster attempt (resume checks)."""
        rows = self.conn.execute("SELECT imdb_id, status, origin, sha256 FROM posters").fetchall()
        return {imdb_id: (status, origin, sha) for imdb_id, status, origin, sha in rows}
