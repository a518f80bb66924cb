"""Campaigns, their variants and stored readings: every change in one SQLite transaction, poster files written and
removed so that a kill at any moment leaves no half-written campaign and no stray file.

Adding variants: under the database's write lock (BEGIN IMMEDIATE) the poster files are written (durably, temp +
rename) and the rows inserted; the commit makes them visible. A kill before the commit leaves at most a complete
poster file no row refers to, or a temporary of a dead writer. Deleting: the rows go in one transaction; the files
no row refers to any more are removed after it, again under the write lock. A kill between leaves unreferenced files.
`sweep` (run whenever a store is opened) removes both kinds: under the write lock no other writer can be between
writing a file and committing its row, so a file no row refers to is a leftover, never work in flight.
Two members adding variants at once are serialised by the write lock (each waits up to the busy timeout).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.database import transaction
from ..clock import utc_now
from ..errors import ConflictError, NotFoundError, PosterGenreError
from .posterfiles import CampaignPosterFiles, fault, sha256_of
from .records import Added, Campaign, CampaignSummary, Change, NewVariant, Removal, StoredReading, Sweep, Variant
from .schema import open_database

MAX_TITLE_CHARS = 200
MAX_SYNOPSIS_CHARS = 5000
MAX_NAME_CHARS = 255
HISTORY = 50  # changes returned with a campaign, newest first
UNSET: Any = object()
"""`update`'s default for a field left as it is (None is a value: no synopsis, the studio's ratings)."""

_VARIANT_COLUMNS = (
    "v.id, v.campaign_id, v.sha256, v.name, v.bytes, v.added_by, v.added_at, r.model, "
    "r.model_label, r.poster, r.embedding, r.width, r.height, r.read_at, r.synopsis, r.combined"
)


def new_campaign_id() -> str:
    """12 hex digits: unguessable enough that ids do not tell how many campaigns exist, and safe in a URL or shell."""
    return secrets.token_hex(6)


def _text(value: str | None, field: str, limit: int) -> str | None:
    """`value` stripped (None when blank), refused when longer than `limit`."""
    text = (value or "").strip()
    if len(text) > limit:
        raise PosterGenreError(f"the campaign's {field} is {len(text):,} characters; at most {limit:,} are kept")
    return text or None


def _required_text(value: str | None, field: str, limit: int) -> str:
    """As _text, and refused when blank."""
    text = _text(value, field, limit)
    if text is None:
        raise PosterGenreError(f"a campaign needs a {field}")
    return text


def _reading_values(reading: StoredReading) -> tuple:
    return (
        reading.model,
        reading.model_label,
        json.dumps(reading.poster),
        np.asarray(reading.embedding, dtype="<f4").tobytes(),
        reading.width,
        reading.height,
        reading.read_at,
        reading.synopsis,
        None if reading.combined is None else json.dumps(reading.combined),
    )


def _reading_from(row: Sequence[Any]) -> StoredReading | None:
    model, label, poster, embedding, width, height, read_at, synopsis, combined = row
    if model is None:
        return None
    return StoredReading(
        model=model,
        model_label=label,
        poster=json.loads(poster),
        embedding=np.frombuffer(embedding, dtype="<f4").copy(),
        width=width,
        height=height,
        read_at=read_at,
        synopsis=synopsis,
        combined=None if combined is None else json.loads(combined),
    )


def _variant_from(row: Sequence[Any]) -> Variant:
    variant_id, campaign_id, sha256, name, size, added_by, added_at = row[:7]
    return Variant(variant_id, campaign_id, sha256, name, size, added_by, added_at, reading=_reading_from(row[7:]))


class CampaignStore:
    """The campaign tables of the SQLite file `db_path` and the poster files under `posters_root`."""

    def __init__(self, db_path: Path | str, posters_root: Path | str, *, sweep: bool = True):
        self.conn = open_database(Path(db_path))
        self.files = CampaignPosterFiles(posters_root)
        self.last_sweep = self.sweep() if sweep else Sweep([], 0)

    def __enter__(self) -> CampaignStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- reading ------------------------------------------------------------------------------------------

    def campaigns(self) -> list[CampaignSummary]:
        rows = self.conn.execute(
            "SELECT c.id, c.title, (SELECT count(*) FROM campaign_variants v WHERE v.campaign_id = c.id), "
            "c.updated_by, c.updated_at FROM campaigns c ORDER BY c.updated_at DESC, c.id"
        ).fetchall()
        return [CampaignSummary(*row) for row in rows]

    def get(self, campaign_id: str) -> Campaign:
        """The campaign with its variants (oldest first, each with its stored reading) and recent changes."""
        row = self.conn.execute(
            "SELECT id, title, synopsis, intended, ratings, created_by, created_at, updated_by, "
            "updated_at FROM campaigns WHERE id = ?",
            (campaign_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no campaign {campaign_id!r} (see `postergenre campaign list`)")
        variants = [
            _variant_from(r)
            for r in self.conn.execute(
                f"SELECT {_VARIANT_COLUMNS} FROM campaign_variants v "
                "LEFT JOIN campaign_readings r ON r.variant_id = v.id WHERE v.campaign_id = ? ORDER BY v.id",
                (campaign_id,),
            )
        ]
        changes = [
            Change(*r)
            for r in self.conn.execute(
                "SELECT member, action, at FROM campaign_changes WHERE campaign_id = ? ORDER BY id DESC LIMIT ?",
                (campaign_id, HISTORY),
            )
        ]
        stored_id, title, synopsis, intended, ratings, created_by, created_at, updated_by, updated_at = row
        return Campaign(
            stored_id,
            title,
            synopsis,
            json.loads(intended),
            None if ratings is None else json.loads(ratings),
            created_by,
            created_at,
            updated_by,
            updated_at,
            variants=variants,
            changes=changes,
        )

    def variant(self, campaign_id: str, variant_id: int) -> Variant:
        found = [v for v in self.get(campaign_id).variants if v.id == variant_id]
        if not found:
            raise NotFoundError(f"campaign {campaign_id} has no variant {variant_id}")
        return found[0]

    def poster_path(self, sha256: str) -> Path:
        path = self.files.path(sha256)
        if path is None:
            raise NotFoundError(f"the poster file {sha256} is missing from {self.files.root}")
        return path

    # -- writing ------------------------------------------------------------------------------------------

    def _log(self, conn: sqlite3.Connection, campaign_id: str, member: str, action: str, at: str) -> None:
        conn.execute(
            "INSERT INTO campaign_changes (campaign_id, member, action, at) VALUES (?, ?, ?, ?)",
            (campaign_id, member, action, at),
        )
        conn.execute("UPDATE campaigns SET updated_by = ?, updated_at = ? WHERE id = ?", (member, at, campaign_id))

    def _require(self, conn: sqlite3.Connection, campaign_id: str) -> None:
        if conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone() is None:
            raise NotFoundError(f"no campaign {campaign_id!r} (see `postergenre campaign list`)")

    def create(
        self, title: str, *, synopsis: str | None, intended: Sequence[str], ratings: Sequence[str] | None, by: str
    ) -> Campaign:
        title = _required_text(title, "title", MAX_TITLE_CHARS)
        synopsis = _text(synopsis, "synopsis", MAX_SYNOPSIS_CHARS)
        campaign_id, now = new_campaign_id(), utc_now()
        with transaction(self.conn) as conn:
            conn.execute(
                "INSERT INTO campaigns (id, title, synopsis, intended, ratings, created_by, created_at, "
                "updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    campaign_id,
                    title,
                    synopsis,
                    json.dumps(list(intended)),
                    None if ratings is None else json.dumps(list(ratings)),
                    by,
                    now,
                    by,
                    now,
                ),
            )
            self._log(conn, campaign_id, by, "created the campaign", now)
        return self.get(campaign_id)

    def update(
        self,
        campaign_id: str,
        *,
        by: str,
        title: str | None = UNSET,
        synopsis: str | None = UNSET,
        intended: Sequence[str] = UNSET,
        ratings: Sequence[str] | None = UNSET,
        readings: dict[int, StoredReading] | None = None,
    ) -> Campaign:
        """Change the fields given (and store `readings`, {variant id: reading}, made for the new synopsis) in one
        transaction; the history names each changed field, never its text."""
        values: dict[str, Any] = {}
        if title is not UNSET:
            values["title"] = _required_text(title, "title", MAX_TITLE_CHARS)
        if synopsis is not UNSET:
            values["synopsis"] = _text(synopsis, "synopsis", MAX_SYNOPSIS_CHARS)
        if intended is not UNSET:
            values["intended"] = json.dumps(list(intended))
        if ratings is not UNSET:
            values["ratings"] = None if ratings is None else json.dumps(list(ratings))
        now = utc_now()
        with transaction(self.conn) as conn:
            self._require(conn, campaign_id)
            old = dict(
                zip(
                    values,
                    conn.execute(
                        f"SELECT {', '.join(values) or 'id'} FROM campaigns WHERE id = ?", (campaign_id,)
                    ).fetchone(),
                    strict=False,  # no value to compare: the query reads the id alone
                )
            )
            changed = [k for k in values if values[k] != old.get(k)]
            for key in changed:
                conn.execute(f"UPDATE campaigns SET {key} = ? WHERE id = ?", (values[key], campaign_id))
                self._log(conn, campaign_id, by, f"changed the {key}", now)
            self._store_readings(conn, campaign_id, readings or {})
        return self.get(campaign_id)

    def save_readings(self, campaign_id: str, readings: dict[int, StoredReading], *, by: str) -> int:
        """Replace the stored readings of these variants (a re-read); variants removed meanwhile are skipped."""
        with transaction(self.conn) as conn:
            self._require(conn, campaign_id)
            saved = self._store_readings(conn, campaign_id, readings)
            if saved:
                self._log(conn, campaign_id, by, f"re-read {saved} variant{'s' if saved != 1 else ''}", utc_now())
        return saved

    def _store_readings(self, conn: sqlite3.Connection, campaign_id: str, readings: dict[int, StoredReading]) -> int:
        saved = 0
        for variant_id, reading in readings.items():
            held = conn.execute(
                "SELECT 1 FROM campaign_variants WHERE id = ? AND campaign_id = ?", (variant_id, campaign_id)
            ).fetchone()
            if held:
                conn.execute(
                    "INSERT OR REPLACE INTO campaign_readings (variant_id, model, model_label, poster, "
                    "embedding, width, height, read_at, synopsis, combined) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (variant_id, *_reading_values(reading)),
                )
                saved += 1
        return saved

    def add_variants(self, campaign_id: str, new: Sequence[NewVariant], *, by: str, max_variants: int) -> Added:
        """Store the posters (files and rows) in one transaction: all of them land, or none. A poster the campaign
        holds already is skipped and reported; more than `max_variants` in all raises ConflictError."""
        now = utc_now()
        added: list[int] = []
        duplicates: list[tuple[str, int]] = []
        with transaction(self.conn) as conn:
            self._require(conn, campaign_id)
            held = dict(conn.execute("SELECT sha256, id FROM campaign_variants WHERE campaign_id = ?", (campaign_id,)))
            fresh: dict[str, NewVariant] = {}
            for item in new:
                sha = sha256_of(item.data)
                if sha in held:
                    duplicates.append((item.name, held[sha]))
                elif sha not in fresh:
                    fresh[sha] = item
            if len(held) + len(fresh) > max_variants:
                raise ConflictError(
                    f"campaign {campaign_id} holds {len(held)} variant{'s' if len(held) != 1 else ''}; "
                    f"adding {len(fresh)} would pass the limit of {max_variants} (what a brief "
                    "compares): remove one first"
                )
            for sha, item in fresh.items():
                self.files.write(item.data)
                cursor = conn.execute(
                    "INSERT INTO campaign_variants (campaign_id, sha256, name, bytes, added_by, added_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (campaign_id, sha, item.name[:MAX_NAME_CHARS], len(item.data), by, now),
                )
                assert cursor.lastrowid is not None  # set by every INSERT
                added.append(cursor.lastrowid)
                self._store_readings(conn, campaign_id, {added[-1]: item.reading})
                self._log(conn, campaign_id, by, f"added variant {added[-1]}", now)
            fault("files-written")  # every file in place, nothing committed
        variants = {v.id: v for v in self.get(campaign_id).variants}
        return Added([variants[i] for i in added], duplicates)

    def remove_variants(self, campaign_id: str, variant_ids: Sequence[int], *, by: str) -> Removal:
        """Delete these variants and their readings, then their poster files (unless another variant holds them)."""
        with transaction(self.conn) as conn:
            self._require(conn, campaign_id)
            variants = self._variants(conn, campaign_id, variant_ids)
            readings = self._count_readings(conn, variants)
            now = utc_now()
            for v in variants:
                conn.execute("DELETE FROM campaign_variants WHERE id = ?", (v.id,))
                self._log(conn, campaign_id, by, f"removed variant {v.id}", now)
        removed, kept = self._collect({v.sha256 for v in variants})
        return Removal(campaign_id, False, variants, readings, removed, kept)

    def delete(self, campaign_id: str, *, by: str) -> Removal:
        """Delete the campaign, its variants, readings and history, then its poster files (unless another campaign
        holds the same poster). `campaign_deletions` keeps who deleted which id when, and how much: no title, file
        name or synopsis."""
        with transaction(self.conn) as conn:
            self._require(conn, campaign_id)
            variants = self._variants(conn, campaign_id, None)
            readings = self._count_readings(conn, variants)
            conn.execute("DELETE FROM campaigns WHERE id = ?", (campaign_id,))  # cascades to the rest
            conn.execute(
                "INSERT INTO campaign_deletions (campaign_id, member, at, variants, files) VALUES (?, ?, ?, ?, ?)",
                (campaign_id, by, utc_now(), len(variants), len({v.sha256 for v in variants})),
            )
        removed, kept = self._collect({v.sha256 for v in variants})
        return Removal(campaign_id, True, variants, readings, removed, kept)

    def _variants(self, conn: sqlite3.Connection, campaign_id: str, ids: Sequence[int] | None) -> list[Variant]:
        rows = [
            _variant_from(r)
            for r in conn.execute(
                f"SELECT {_VARIANT_COLUMNS} FROM campaign_variants v "
                "LEFT JOIN campaign_readings r ON r.variant_id = v.id WHERE v.campaign_id = ? ORDER BY v.id",
                (campaign_id,),
            )
        ]
        if ids is None:
            return rows
        missing = sorted(set(ids) - {v.id for v in rows})
        if missing:
            raise NotFoundError(f"campaign {campaign_id} has no variant {', '.join(map(str, missing))}")
        return [v for v in rows if v.id in set(ids)]

    @staticmethod
    def _count_readings(conn: sqlite3.Connection, variants: Sequence[Variant]) -> int:
        return sum(1 for v in variants if v.reading is not None)

    # -- poster files no row refers to ---------------------------------------------------------------------

    def _collect(self, candidates: set[str]) -> tuple[list[str], list[str]]:
        """Remove the files of `candidates` that no variant refers to any more; (removed, kept) sha256s."""
        fault("rows-deleted")  # the rows are gone, the files not yet
        removed, kept = [], []
        with transaction(self.conn) as conn:  # the write lock: no writer is between its file and its commit
            for sha in sorted(candidates):
                if conn.execute("SELECT 1 FROM campaign_variants WHERE sha256 = ?", (sha,)).fetchone():
                    kept.append(sha)
                elif self.files.remove(sha):
                    removed.append(sha)
        return removed, kept

    def sweep(self) -> Sweep:
        """Remove what a killed writer left: poster files no variant refers to and temporaries of dead writers."""
        with transaction(self.conn) as conn:
            stored = self.files.stored()
            referenced = {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM campaign_variants")}
            orphans = sorted(set(stored) - referenced)
            for sha in orphans:
                self.files.remove(sha)
            temporaries = self.files.stale_temporaries()
            for tmp in temporaries:
                tmp.unlink(missing_ok=True)
        return Sweep(orphans, len(temporaries))
