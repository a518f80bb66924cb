"""files: where a write cannot happen, the writers raise OutputPathError naming the path and the reason (the one place
OS errors of writing become a user's error), and leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postergenre.errors import OutputPathError, PosterGenreError
from postergenre.files import atomic_output, check_output_file, check_output_folder, make_folder, write_atomic


def _read_only(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # chmod does not stop root; /sys refuses new files to everyone
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_a_folder_where_a_file_goes(tmp_path: Path) -> None:
    for write in (lambda p: write_atomic(p, "x"), lambda p: atomic_output(p).__enter__(), check_output_file):
        with pytest.raises(OutputPathError, match=f"cannot write {tmp_path}: it is a folder"):
            write(tmp_path)
    assert list(tmp_path.iterdir()) == []  # no temporary file left


def test_a_parent_that_is_a_file(tmp_path: Path) -> None:
    blocking = tmp_path / "notes.txt"
    blocking.write_text("mine")
    target = blocking / "sub" / "report.html"
    for write in (lambda p: write_atomic(p, "x"), check_output_file):
        with pytest.raises(OutputPathError, match=f"{blocking} is a file, not a folder"):
            write(target)
    for make in (check_output_folder, make_folder):
        with pytest.raises(OutputPathError, match=f"cannot write into {blocking}: it is a file"):
            make(blocking)
    assert blocking.read_text() == "mine"


def test_a_read_only_folder(tmp_path: Path) -> None:
    folder = _read_only(tmp_path)
    for write in (lambda p: write_atomic(p, "x"), check_output_file):
        with pytest.raises(OutputPathError, match=f"cannot write {folder / 'out.json'}: no permission to write in "):
            write(folder / "out.json")
    assert not (folder / "out.json").exists()


def test_a_write_that_fails_midway_is_named_and_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "report.html"
    target.write_text("old")

    def full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(OutputPathError, match=f"cannot write {target}: No space left on device") as failed:
        write_atomic(target, "new")
    assert isinstance(failed.value, PosterGenreError)  # the CLI's one line, exit 2
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_missing_folders_are_made(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    assert check_output_file(target) == target and not (tmp_path / "a").exists()  # checking makes nothing
    write_atomic(target, "x")
    assert target.read_text() == "x"
    with atomic_output(tmp_path / "d" / "e.bin") as f:
        f.write(b"y")
    assert (tmp_path / "d" / "e.bin").read_bytes() == b"y"
