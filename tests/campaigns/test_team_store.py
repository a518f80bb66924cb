"""Team members on a real SQLite file: tokens stored only as hashes, removal ends tokens and sessions at once."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postergenre.campaigns.team import TOKEN_BYTES, TOKEN_PREFIX, TeamStore
from postergenre.config import get_paths
from postergenre.errors import ConflictError, NotFoundError, PosterGenreError


@pytest.fixture()
def team(home: Path):
    with TeamStore(get_paths(home).db) as opened:
        yield opened


def test_a_token_is_random_shown_once_and_stored_only_as_a_hash(team, home):
    token = team.add("alice", by="owner")
    other = team.add("bob", by="owner")
    assert token.startswith(TOKEN_PREFIX) and token != other
    assert len(base64.urlsafe_b64decode(token[len(TOKEN_PREFIX) :] + "==")) == TOKEN_BYTES  # 256 random bits
    raw = b"".join(p.read_bytes() for p in home.rglob("catalog.sqlite*"))
    assert token.encode() not in raw and token[len(TOKEN_PREFIX) :].encode() not in raw
    assert team.member_for_token(token) == "alice" and team.member_for_token(other) == "bob"
    assert team.member_for_token(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert team.member_for_token("") is None
    assert [(m.name, m.added_by) for m in team.members()] == [("alice", "owner"), ("bob", "owner")]


def test_removing_a_member_ends_its_token_and_sessions_for_every_open_connection(team, home):
    token = team.add("alice", by="owner")
    session, _ = team.open_session("alice", 3600)
    with TeamStore(get_paths(home).db) as server:  # a running server's own connection
        assert server.member_for_token(token) == "alice" and server.member_for_session(session) == "alice"
        removed = subprocess.run(
            [
                sys.executable,
                "-c",
                "from postergenre.cli import main; main()",
                "team",
                "remove",
                "alice",
                "--home",
                str(home),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert removed.returncode == 0, removed.stderr
        assert "alice" in removed.stderr and removed.stdout == ""
        assert server.member_for_token(token) is None and server.member_for_session(session) is None
    with pytest.raises(NotFoundError, match="no team member 'alice'"):
        team.remove("alice")


def test_replace_gives_a_new_token_and_ends_the_old_one(team):
    old = team.add("alice", by="owner")
    session, _ = team.open_session("alice", 3600)
    with pytest.raises(ConflictError, match="--replace"):
        team.add("alice", by="owner")
    new = team.add("alice", by="owner", replace=True)
    assert team.member_for_token(new) == "alice"
    assert team.member_for_token(old) is None and team.member_for_session(session) is None


def test_sessions_expire_and_names_are_checked(team):
    team.add("alice", by="owner")
    short, _ = team.open_session("alice", 1)
    lasting, expires = team.open_session("alice", 3600)
    time.sleep(1.1)
    assert team.member_for_session(short) is None and team.member_for_session(lasting) == "alice"
    assert expires > team.members()[0].added_at
    team.close_session(lasting)
    assert team.member_for_session(lasting) is None
    for bad in ("", "-x", "a b", "a\x1b[31m", "x" * 65):
        with pytest.raises(PosterGenreError, match="team member name"):
            team.add(bad, by="owner")


def test_team_add_prints_the_token_alone_on_stdout(home):
    run = subprocess.run(
        [sys.executable, "-c", "from postergenre.cli import main; main()", "team", "add", "carol", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    token = run.stdout.strip()
    assert run.stdout == token + "\n" and "carol" in run.stderr
    with TeamStore(get_paths(home).db) as team:
        assert team.member_for_token(token) == "carol"
    again = subprocess.run(
        [sys.executable, "-c", "from postergenre.cli import main; main()", "team", "add", "carol", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and again.stdout == "" and "already a team member" in again.stderr
