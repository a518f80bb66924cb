"""Catalog files from outside the studio never drive the terminal: escape sequences in headers, values and file
names are shown escaped, and a binary file's "header" is not echoed (issue 20). Run as a real process, so the
bytes checked are the bytes a terminal would get."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")


def _run(home: Path, *args: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSTERGENRE_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run([POSTERGENRE, *map(str, args)], capture_output=True, env=env, timeout=120)


def _controls(data: bytes) -> list[str]:
    """Control characters in the output, but line feeds and tabs (piped, a table is tab-separated: untrusted text
    in a cell has its own tabs escaped, so every tab is a separator the command wrote)."""
    text = data.decode("utf-8", errors="replace")
    return sorted(
        {repr(ch) for ch in text if (ord(ch) < 0x20 and ch not in "\n\t") or 0x7F <= ord(ch) <= 0x9F or ch == "\ufffd"}
    )


def test_importing_a_jpeg_prints_no_raw_bytes(tmp_path: Path, shared_data: Path) -> None:
    poster = next((shared_data / "posters").glob("*.jpg"))
    image = tmp_path / "ok.jpg"
    image.write_bytes(poster.read_bytes())

    run = _run(tmp_path / "home", "catalog", "import", image)

    assert run.returncode == 2
    assert _controls(run.stdout + run.stderr) == [], run.stderr
    assert b"ok.jpg" in run.stderr and b"binary data" in run.stderr
    assert len(run.stderr) < 1500, run.stderr


def test_escape_sequences_in_a_catalog_are_shown_escaped(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("\x1b[2Jimdb_id,\x1b]0;pwned\x07title\n1,2\n", encoding="utf-8")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "imdb_id,title,year,genres,poster\ntt0000001,Fine,1999,Drama,\ntt0000002,Bad,1999,\x1b[2JNoSuchGenre\x9b31m,\n",
        encoding="utf-8",
    )
    odd_name = tmp_path / "list\x1b[31m.csv"
    odd_name.write_text("imdb_id,title,year,genres,poster\ntt0000003,Third,2001,Comedy,\n", encoding="utf-8")

    run = _run(tmp_path / "home", "catalog", "import", header, rows, odd_name)

    assert run.returncode == 2  # the header file cannot be read; the others are imported
    out = run.stdout + run.stderr
    assert _controls(out) == [], out
    assert b"\\x1b[2J" in run.stderr and b"\\x1b]0;pwned\\x07" in run.stderr  # the header, escaped
    assert b"\\x1b[2JNoSuchGenre\\x9b31m" in run.stdout  # the rejected row, escaped
    assert b"list\\x1b[31m.csv" in run.stdout  # the file name in the table


def test_a_multi_line_message_keeps_its_lines_and_still_escapes_terminal_controls() -> None:
    from postergenre.safe_text import safe_text

    message = "bad.csv: 2 conflicts:\n  bad.csv:4: \x1b[2Jtitle\r\n  bad.csv:8: \x1b]0;owned\x07"
    shown = safe_text(message, lines=True)
    assert shown.split("\n") == [
        "bad.csv: 2 conflicts:",
        "  bad.csv:4: \\x1b[2Jtitle\\x0d",
        "  bad.csv:8: \\x1b]0;owned\\x07",
    ]
    assert "\n" not in safe_text(message)  # one-line text (a name, an id) never breaks a line
