"""The one way this package opens its SQLite file and runs a transaction (catalog and embedding cache)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, schema: str, *, timeout: float = 60) -> sqlite3.Connection:
    """Open (creating folders and tables) in autocommit mode: writes go through `transaction`.

    WAL lets readers (the service, `similar`) work while a long job (embed, fetch) commits batch by batch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=timeout, check_same_thread=False)
    _use_wal(conn, timeout)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(schema)
    return conn


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is). Connections switching an older file at the same moment each hold
    a read lock and want the write lock, so SQLite answers all but one "database is locked" at once, without its busy
    wait: retry until `timeout`, as the busy wait would."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All-or-nothing: commits on success, rolls back on any exception (a kill leaves the last commit)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
