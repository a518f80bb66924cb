"""What commands write on stdout: tables (drawn by Rich on a terminal, tab-separated rows elsewhere) and results
streamed as they come (a JSON array element by element), each line flushed at once.

Off a terminal (`| cat`, `| tee log`, a file, CI) Rich draws tables 80 columns wide and folds or cuts what does not
fit: a long path became its first 18 characters and a header "dupli…". There, a table is written as tab-separated
lines instead: a `# title` line, the header, one line per row, every character kept, no padding or box characters.
Chosen over a wide Rich table because a row is one line whatever its length (grep, cut -f, sort and logs read it),
and because a row can be written the moment it is known (`TableRows`): a Rich table is drawn only once every row is
in, so a reader that closes the pipe early (`| head`) could stop the work only at the very end. The first write
after the reader has gone raises BrokenPipeError, which `_app.main` turns into a quiet exit.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._app import console as stdout_console, err_console, shown

_LINE_BREAKS = re.compile(r"[\t\r\n]+")


def _plain(cell: Any) -> str:
    """A cell as plain text on one line: markup and styles dropped (its escaped brackets become brackets again)."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return _LINE_BREAKS.sub(" ", text)


def write_now(text: str, console: Console | None = None) -> None:
    """`text` on stdout, flushed at once: a closed pipe fails here, at the first write after it closed."""
    stream = (console or stdout_console).file
    stream.write(text)
    stream.flush()


def _write(console: Console, line: str) -> None:
    write_now(line + "\n", console)


def _note_lines(*notes: Any) -> list[str]:
    return [f"# {_plain(note)}" for note in notes if note]


class TableRows:
    """Rows of `table` (its columns set, no rows yet) as they come.

    On a terminal the rows are collected and the table is drawn when the block ends; elsewhere the header is written
    at the first row and each row at once. Nothing is drawn when the block ends with an error.
    """

    def __init__(self, table: Table, console: Console | None = None):
        self.table = table
        self.console = console or stdout_console
        self.plain = not self.console.is_terminal
        self.rows = 0

    def add(self, *cells: Any) -> None:
        if not self.plain:
            self.table.add_row(*cells)
        else:
            if not self.rows:
                for line in _note_lines(self.table.title):
                    _write(self.console, line)
                _write(self.console, "\t".join(_plain(c.header) for c in self.table.columns))
            _write(self.console, "\t".join(_plain(c) for c in cells))
        self.rows += 1

    def __enter__(self) -> TableRows:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is not None or not self.rows:
            return
        if not self.plain:
            self.console.print(self.table)
        else:
            for line in _note_lines(self.table.caption):
                _write(self.console, line)


def print_table(table: Table, console: Console | None = None) -> None:
    """A whole table: drawn on a terminal, tab-separated lines elsewhere (see the module docstring)."""
    target = console or stdout_console
    if target.is_terminal:
        target.print(table)
        return
    for line in _note_lines(table.title):
        _write(target, line)
    columns = table.columns
    _write(target, "\t".join(_plain(c.header) for c in columns))
    for row in zip(*(list(c.cells) for c in columns), strict=True) if columns else ():  # rich pads short rows
        _write(target, "\t".join(_plain(cell) for cell in row))
    for line in _note_lines(table.caption):
        _write(target, line)


def print_note(text: str, console: Console | None = None) -> None:
    """A sentence that goes with a table (a headline, a warning): printed on a terminal, a `# ` line elsewhere."""
    target = console or stdout_console
    if target.is_terminal:
        target.print(text, highlight=False)
    else:
        _write(target, _note_lines(text)[0])


class JsonArray:
    """A JSON array on stdout, each element written (and flushed) as it comes: the same text as
    `json.dumps(elements, indent=2, ensure_ascii=False) + "\\n"` once closed."""

    def __init__(self, console: Console | None = None):
        self.console = console
        self.count = 0

    def add(self, element: Any) -> None:
        # JSON escapes line feeds inside strings, so splitting on "\n" finds lines only (not U+2028 in a title).
        text = "\n".join("  " + line for line in json.dumps(element, indent=2, ensure_ascii=False).split("\n"))
        write_now(("[\n" if not self.count else ",\n") + text, self.console)
        self.count += 1

    def close(self) -> None:
        write_now("\n]\n" if self.count else "[]\n", self.console)


def print_json(data: Any) -> None:
    """`data` as the whole of stdout: indented JSON, non-ASCII kept (what a `--format json` command prints)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_document(text: str, out: Path | None, what: str) -> None:
    """A command's document (a brief): to `out`, atomically, with a note on stderr (`files.output_file` checked the
    place before the work); to stdout without `out`."""
    if out is None:
        sys.stdout.write(text)
        return
    from ..files import write_atomic  # imported when used: the first answer's import budget

    write_atomic(out, text)
    err_console.print(f"{what} written to {shown(out)}", highlight=False)
