"""Every command that writes files answers a bad output path with one line and exit 2 before it starts its work: a
folder where a file is expected, a file where a folder is expected, a parent that is a file, a read-only place
(issue 26: `brief … --out DIR` ended in an IsADirectoryError traceback with exit 1)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture()
def run(run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """`postergenre ARGS...` in-process through the real entry point, in an empty data folder -> (code, out, err)."""
    monkeypatch.setenv("POSTERGENRE_HOME", str(tmp_path / "home"))
    return run_cli


def _read_only(tmp_path: Path) -> Path:
    """A folder this process cannot write in: a chmod 0555 folder, or /sys for root (whom chmod does not stop)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def _one_line(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith("error: cannot write"), err
    for word in words:
        assert word in err, err


def test_each_writing_command_refuses_a_folder_where_a_file_goes(run, tmp_path: Path, shared_data: Path) -> None:
    poster = next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    folder = tmp_path / "out"
    folder.mkdir()
    for args in (
        ["brief", poster, "--intended", "Family", "--out", folder],
        ["compare", poster, poster, "--target", "Family", "--out", folder],
        ["predict-catalog", "--out", folder],
        ["report", "dataset", "--out", folder],
        ["evaluate", "--out", folder],
        ["evaluate", "--json", folder],
    ):
        code, out, err = run(*args)
        _one_line(code, err, str(folder), "it is a folder")
        assert out == ""


def test_a_file_where_a_folder_goes(run, tmp_path: Path, shared_data: Path) -> None:
    poster = next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")
    code, _, err = run("train", "--out", a_file)
    _one_line(code, err, str(a_file), "is a file, not a folder")
    code, _, err = run("predict", poster, "--explain", "--explain-dir", a_file)
    _one_line(code, err, str(a_file), "is a file, not a folder")
    code, _, err = run("brief", poster, "--out", a_file / "brief.html")  # a parent that is a file
    _one_line(code, err, str(a_file / "brief.html"), f"{a_file} is a file, not a folder")
    code, _, err = run("catalog", "stats", "--home", a_file)  # the data folder too
    _one_line(code, err, str(a_file), "is a file, not a folder")
    assert a_file.read_text() == "mine\n"  # nothing of the user's is touched


def test_a_read_only_location(run, tmp_path: Path, shared_data: Path) -> None:
    poster = next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    target = _read_only(tmp_path) / "brief.html"
    code, out, err = run("brief", poster, "--intended", "Family", "--out", target)
    _one_line(code, err, str(target), "no permission")
    assert out == "" and not target.exists()


def test_a_missing_parent_is_made(run, tmp_path: Path, shared_data: Path) -> None:
    poster = next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    target = tmp_path / "new" / "folder" / "brief.json"
    code, _, err = run("brief", poster, "--intended", "Family", "--format", "json", "--out", target)
    assert code == 0, err
    assert target.is_file() and target.read_text().startswith("{")
