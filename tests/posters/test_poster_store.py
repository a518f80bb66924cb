"""Content-addressed store: names by hash, idempotent, atomic, cleans up after killed writers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postergenre.errors import OutputPathError
from postergenre.posters.store import PosterStore


def test_put_names_by_hash_and_is_idempotent(tmp_path: Path, shared_data: Path) -> None:
    data = (shared_data / "posters" / "tt0000003.jpg").read_bytes()
    store = PosterStore(tmp_path / "store")
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    path = store.path(sha)
    assert path == tmp_path / "store" / sha[:2] / f"{sha}.jpg"
    first_mtime = path.stat().st_mtime_ns
    assert store.put(data) == sha
    assert path.stat().st_mtime_ns == first_mtime  # not rewritten
    assert store.read(sha) == data and store.has(sha)
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == [path]
    png_sha = store.put(b"\x89PNG\r\n\x1a\n" + b"x" * 10)
    assert store.path(png_sha).suffix == ".png"


def test_missing_and_malformed_hashes(tmp_path: Path) -> None:
    store = PosterStore(tmp_path)
    assert not store.has("0" * 64)
    with pytest.raises(FileNotFoundError, match="0" * 64):
        store.read("0" * 64)
    with pytest.raises(ValueError, match="not a sha256"):
        store.path("../../etc/passwd")


def test_failed_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = PosterStore(tmp_path)

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputPathError, match="disk full") as failed:  # one line naming the file, not a traceback
        store.put(b"some poster bytes")
    assert hashlib.sha256(b"some poster bytes").hexdigest() in str(failed.value)
    assert not store.has(hashlib.sha256(b"some poster bytes").hexdigest())
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_sweep_removes_only_dead_writers_tmp_files(tmp_path: Path) -> None:
    store = PosterStore(tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    (tmp_path / "ab").mkdir()
    orphan = tmp_path / "ab" / f".{'ab' * 32}.{dead_pid}.0000.tmp"
    live = tmp_path / "ab" / f".{'ab' * 32}.{os.getpid()}.1111.tmp"
    orphan.write_bytes(b"half")
    live.write_bytes(b"in flight")
    assert store.partial_files() == sorted([orphan, live])
    assert store.sweep_partial() == 1
    assert store.partial_files() == [live]
