"""The campaign and team tables inside the catalog's SQLite file, and their migrations.

They have their own version (`campaign_meta.schema_version`), apart from the catalog's, so either side can change
without the other. A file written before campaigns existed is version 0; opening it creates the tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from ..catalog.database import connect, transaction

META = "CREATE TABLE IF NOT EXISTS campaign_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"

_V1 = (
    """CREATE TABLE campaigns (
    id         TEXT PRIMARY KEY,
    title      TEXT NOT NULL,
    synopsis   TEXT,
    intended   TEXT NOT NULL,          -- JSON list of genres
    ratings    TEXT,                   -- JSON list of content ratings; NULL = the studio's own, [] = every rating
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at TEXT NOT NULL
)""",
    """CREATE TABLE campaign_variants (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL,
    name        TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    added_by    TEXT NOT NULL,
    added_at    TEXT NOT NULL,
    UNIQUE (campaign_id, sha256)
)""",
    """CREATE INDEX campaign_variants_sha256 ON campaign_variants(sha256)""",
    """CREATE TABLE campaign_readings (
    variant_id  INTEGER PRIMARY KEY REFERENCES campaign_variants(id) ON DELETE CASCADE,
    model       TEXT NOT NULL,         -- fingerprint of the model (and runtime) that made the reading
    model_label TEXT NOT NULL,         -- the same for people: when the model was made, which runtime
    synopsis    TEXT,                  -- sha256 of the synopsis fused into `combined` (NULL: none)
    poster      TEXT NOT NULL,         -- JSON: the poster's reading alone (what the ranking uses)
    combined    TEXT,                  -- JSON: the reading fused with the synopsis
    embedding   BLOB NOT NULL,         -- float32 poster embedding: comparable titles need no re-embedding
    width       INTEGER NOT NULL,
    height      INTEGER NOT NULL,
    read_at     TEXT NOT NULL
)""",
    """CREATE TABLE campaign_changes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign_id TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    member      TEXT NOT NULL,
    action      TEXT NOT NULL,
    at          TEXT NOT NULL
)""",
    """CREATE INDEX campaign_changes_campaign ON campaign_changes(campaign_id)""",
    """CREATE TABLE campaign_deletions (
    campaign_id TEXT NOT NULL,         -- who deleted what, when: the campaign's own rows are gone
    member      TEXT NOT NULL,
    at          TEXT NOT NULL,
    variants    INTEGER NOT NULL,
    files       INTEGER NOT NULL
)""",
    """CREATE TABLE team_members (
    name       TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,   -- sha256 of the token, which is shown once and never stored
    added_by   TEXT NOT NULL,
    added_at   TEXT NOT NULL
)""",
    """CREATE TABLE team_sessions (
    id_hash    TEXT PRIMARY KEY,       -- sha256 of the session cookie's value
    member     TEXT NOT NULL REFERENCES team_members(name) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
)""",
    """CREATE INDEX team_sessions_member ON team_sessions(member)""",
)


def _to_1(conn: sqlite3.Connection) -> None:
    for statement in _V1:  # one by one: executescript would commit the migration's transaction half-way
        conn.execute(statement)


SCHEMA_VERSION = 1
# version reached -> the step from the version before (one transaction each)
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _to_1}


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM campaign_meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def open_database(db_path: Path) -> sqlite3.Connection:
    """The SQLite file (WAL, foreign keys, autocommit; writes through `transaction`) with the campaign tables at
    SCHEMA_VERSION. Several processes may open it at once: each step re-reads the version under the write lock."""
    conn = connect(db_path, META, timeout=60)
    while schema_version(conn) < SCHEMA_VERSION:
        with transaction(conn):
            version = schema_version(conn)
            if version >= SCHEMA_VERSION:
                break
            _MIGRATIONS[version + 1](conn)
            conn.execute(
                "INSERT OR REPLACE INTO campaign_meta (key, value) VALUES ('schema_version', ?)", (str(version + 1),)
            )
    return conn
