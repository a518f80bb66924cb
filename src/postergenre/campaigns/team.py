"""Team members and their sessions: who may reach a server that asks for a token.

A member's token is 32 random bytes from `secrets` (256 bits), shown once by `team add` and stored only as its
sha256: a slow password hash protects guessable passwords, and nobody guesses 256 random bits, so a plain hash is
enough (and keeps every request's check in microseconds). A presented token is hashed and compared with every
member's hash by `hmac.compare_digest`, all of them every time, so the time taken says nothing about how close a
guess came or which member it nearly matched. Sessions (the page's cookie) are random too and stored hashed;
removing a member deletes its sessions in the same transaction, so both stop working at the next request: every
check reads the database, nothing is cached.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..catalog.database import transaction
from ..clock import utc_now
from ..errors import ConflictError, NotFoundError, PosterGenreError
from .schema import open_database

TOKEN_BYTES = 32
TOKEN_PREFIX = "pgt_"  # tells a postergenre token apart in a password manager or a leaked-secret scan
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


def local_member() -> str:
    """Who a change made without a token is recorded as: the OS login name (the CLI's default, and an open
    server's owner)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_member_name(name: str) -> str:
    if not _NAME_RE.match(name or ""):
        raise PosterGenreError(
            f"team member name {name!r}: use 1 to 64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Member:
    name: str
    added_by: str
    added_at: str
    sessions: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "added_by": self.added_by, "added_at": self.added_at, "sessions": self.sessions}


class TeamStore:
    """The team tables of the SQLite file `db_path`."""

    def __init__(self, db_path: Path | str):
        self.conn = open_database(Path(db_path))

    def __enter__(self) -> TeamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- members ------------------------------------------------------------------------------------------

    def add(self, name: str, *, by: str, replace: bool = False) -> str:
        """A new member (or, with `replace`, a new token for one, ending its old token and sessions); the token,
        which is never stored and cannot be shown again."""
        check_member_name(name)
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with transaction(self.conn) as conn:
            exists = conn.execute("SELECT 1 FROM team_members WHERE name = ?", (name,)).fetchone()
            if exists and not replace:
                raise ConflictError(
                    f"{name} is already a team member; `postergenre team add {name} --replace` gives "
                    "a new token and ends the old one"
                )
            conn.execute("DELETE FROM team_members WHERE name = ?", (name,))  # cascades to its sessions
            conn.execute(
                "INSERT INTO team_members (name, token_hash, added_by, added_at) VALUES (?, ?, ?, ?)",
                (name, hash_secret(token), by, utc_now()),
            )
        return token

    def members(self) -> list[Member]:
        now = utc_now()
        rows = self.conn.execute(
            "SELECT m.name, m.added_by, m.added_at, (SELECT count(*) FROM team_sessions s WHERE s.member = m.name "
            "AND s.expires_at > ?) FROM team_members m ORDER BY m.name",
            (now,),
        ).fetchall()
        return [Member(*row) for row in rows]

    def count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM team_members").fetchone()[0])

    def remove(self, name: str) -> Member:
        """Remove a member: its token and every session it holds stop working at once."""
        with transaction(self.conn) as conn:
            found = [m for m in self.members() if m.name == name]
            if not found:
                raise NotFoundError(f"no team member {name!r} (see `postergenre team list`)")
            conn.execute("DELETE FROM team_members WHERE name = ?", (name,))
        return found[0]

    def member_for_token(self, token: str) -> str | None:
        """The member holding `token`, or None; compares against every member in constant time."""
        presented = hash_secret(token).encode()
        found = None
        for name, stored in self.conn.execute("SELECT name, token_hash FROM team_members").fetchall():
            if hmac.compare_digest(presented, stored.encode()):
                found = name
        return found

    # -- sessions -----------------------------------------------------------------------------------------

    def open_session(self, member: str, lifetime_s: int) -> tuple[str, str]:
        """A new session for `member`: (the cookie's value, when it expires). Expired sessions are dropped."""
        value = secrets.token_urlsafe(TOKEN_BYTES)
        expires = (datetime.now(UTC) + timedelta(seconds=lifetime_s)).isoformat(timespec="seconds")
        with transaction(self.conn) as conn:
            if conn.execute("SELECT 1 FROM team_members WHERE name = ?", (member,)).fetchone() is None:
                raise NotFoundError(f"no team member {member!r}")
            conn.execute("DELETE FROM team_sessions WHERE expires_at <= ?", (utc_now(),))
            conn.execute(
                "INSERT INTO team_sessions (id_hash, member, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (hash_secret(value), member, utc_now(), expires),
            )
        return value, expires

    def member_for_session(self, value: str) -> str | None:
        """The member of a live session, or None (unknown, expired, or its member removed)."""
        wanted = hash_secret(value)
        rows = self.conn.execute(
            "SELECT id_hash, member FROM team_sessions WHERE id_hash = ? AND expires_at > ?", (wanted, utc_now())
        ).fetchall()  # all: no statement left open on a snapshot
        # The lookup is by hash of a 256-bit random value: its timing says nothing usable about a session.
        return rows[0][1] if rows and hmac.compare_digest(rows[0][0].encode(), wanted.encode()) else None

    def close_session(self, value: str) -> None:
        with transaction(self.conn) as conn:
            conn.execute("DELETE FROM team_sessions WHERE id_hash = ?", (hash_secret(value),))
