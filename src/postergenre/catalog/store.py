"""The SQLite catalog: movies, their genres and the state of their posters.

Every write happens inside a transaction, so a failing import or fetch loses nothing already stored.
Other layers keep their own tables in the same file (features.cache adds embeddings).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from pathlib import Path

from .database import connect, transaction
from .filters import MovieFilter
from .records import MOVIE_FIELDS, Movie, MovieRecord, RejectedRow, UpsertCounts

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
"""

_MOVIE_SELECT = f"""
SELECT m.imdb_id, {", ".join("m." + f for f in MOVIE_FIELDS)},
       (SELECT group_concat(genre, '|') FROM (SELECT genre FROM movie_genres g
            WHERE g.imdb_id = m.imdb_id ORDER BY genre)) AS genres,
       p.sha256, p.status, p.error, p.width, p.height
FROM movies m LEFT JOIN posters p ON p.imdb_id = m.imdb_id
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _row_to_movie(row: sqlite3.Row) -> Movie:
    values = dict(zip(("imdb_id",) + MOVIE_FIELDS, row[: 1 + len(MOVIE_FIELDS)]))
    genres, sha, status, error, width, height = row[1 + len(MOVIE_FIELDS):]
    return Movie(
        **values,
        genres=tuple(genres.split("|")) if genres else (),
        poster_sha256=sha, poster_status=status, poster_error=error,
        poster_width=width, poster_height=height,
    )


class Catalog:
    """A catalog database file. Use as a context manager or call close()."""

    def __init__(self, db_path: Path | str):
        self.path = Path(db_path)
        self.conn = connect(self.path, SCHEMA, timeout=30)

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """All-or-nothing: commits on success, rolls back on any exception."""
        return transaction(self.conn)

    # -- movies ---------------------------------------------------------------------------------

    def upsert_movies(self, records: Iterable[MovieRecord], *, source: str = "", fmt: str = "",
                      rejected: Sequence[RejectedRow] = ()) -> UpsertCounts:
        """Insert or merge records in one transaction.

        Merging keeps stored values where the new record has none (importing our CSV after the
        IMDb-API export must not erase content ratings); a non-empty genre list replaces the old one.
        `rejected` (the reader's bad rows) is only counted and recorded in the imports table.
        """
        counts = UpsertCounts(rejected=len(rejected), rejections=list(rejected))
        seen: set[str] = set()
        with self.transaction() as conn:
            for rec in records:
                if rec.imdb_id in seen:
                    counts.duplicates_merged += 1
                seen.add(rec.imdb_id)
                old = self.get_movie(rec.imdb_id)
                if old is None:
                    conn.execute(
                        f"INSERT INTO movies (imdb_id, {', '.join(MOVIE_FIELDS)}, updated_at) "
                        f"VALUES ({', '.join('?' * (len(MOVIE_FIELDS) + 2))})",
                        (rec.imdb_id, *(getattr(rec, f) for f in MOVIE_FIELDS), _now()),
                    )
                    conn.executemany("INSERT INTO movie_genres VALUES (?, ?)", [(rec.imdb_id, g) for g in set(rec.genres)])
                    counts.added += 1
                    continue
                changes = {f: getattr(rec, f) for f in MOVIE_FIELDS
                           if getattr(rec, f) is not None and getattr(rec, f) != getattr(old, f)}
                new_genres = bool(rec.genres) and sorted(set(rec.genres)) != sorted(old.genres)
                if not changes and not new_genres:
                    counts.unchanged += 1
                    continue
                if changes:
                    assignments = ", ".join(f"{f} = ?" for f in changes)
                    conn.execute(f"UPDATE movies SET {assignments}, updated_at = ? WHERE imdb_id = ?",
                                 (*changes.values(), _now(), rec.imdb_id))
                if new_genres:
                    conn.execute("DELETE FROM movie_genres WHERE imdb_id = ?", (rec.imdb_id,))
                    conn.executemany("INSERT INTO movie_genres VALUES (?, ?)", [(rec.imdb_id, g) for g in set(rec.genres)])
                counts.updated += 1
            conn.execute(
                "INSERT INTO imports (file, format, added, updated, unchanged, rejected, duplicates, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source, fmt, counts.added, counts.updated, counts.unchanged, counts.rejected,
                 counts.duplicates_merged, _now()),
            )
        return counts

    def get_movie(self, imdb_id: str) -> Movie | None:
        row = self.conn.execute(_MOVIE_SELECT + " WHERE m.imdb_id = ?", (imdb_id,)).fetchone()
        return _row_to_movie(row) if row else None

    def movies(self, flt: MovieFilter | None = None) -> list[Movie]:
        """All movies, ordered by id, narrowed by `flt` (see MovieFilter.apply for error messages)."""
        rows = self.conn.execute(_MOVIE_SELECT + " ORDER BY m.imdb_id").fetchall()
        movies = [_row_to_movie(r) for r in rows]
        return flt.apply(movies) if flt is not None else movies

    def count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM movies").fetchone()[0]

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
        now = _now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO posters (imdb_id, status, sha256, width, height, origin, error, updated_at)"
                " VALUES (?, 'ok', ?, ?, ?, ?, NULL, ?)",
                [(*row, now) for row in rows],
            )

    def set_poster_failures(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """Batch set_poster_failure: (imdb_id, origin, error) rows in one transaction."""
        now = _now()
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
