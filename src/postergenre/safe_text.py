"""Untrusted text made safe to show or to hand to a spreadsheet.

Catalog titles, CSV ids, file names, URLs and excerpts of bad files come from outside the studio (agency
exports, scraped lists). Two rules, one place each:

* `safe_text`: text printed on a terminal (tables, error lines) has its control characters escaped, so
  `ESC[2J` (clear screen), `ESC]0;...` (retitle the terminal), C1 controls and bidirectional overrides are
  shown as `\\x1b[2J` instead of acting; a `limit` cuts long excerpts (a binary file's "header").
* `without_bidi_controls`: a name or title put inside a sentence we compose (a compare headline, a brief's
  recommendation) loses its bidirectional embeddings, overrides and isolates, so it cannot reverse the rest of the
  sentence wherever the sentence is shown (page, HTML file, JSON read by another tool). The data fields themselves
  (`source`, `title`) keep the exact text; the page isolates them where it shows them (`<bdi>`).
* `csv_cell` / `csv_writer`: every CSV the project writes neutralises cells that a spreadsheet would run as
  a formula (starting with = + - @, tab or carriage return), by prefixing `'` (OWASP's advice for CSV
  injection). Numbers the project writes stay numbers: only strings are touched, so write numbers as numbers.

JSON output is never passed through either: it stays exact.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

# C0 and C1 controls, DEL, and the bidirectional embeddings/overrides/isolates ("Trojan Source" reordering).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_LF = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: Any, limit: int | None = None, *, lines: bool = False) -> str:
    """`text` with control characters escaped (`\\x1b`, `\\u202e`), cut to `limit` characters (with "…").

    `lines=True` keeps line feeds, for messages whose lines we composed (a catalog's conflicts, one per line):
    a line feed cannot act on a terminal, every other control character is still escaped."""
    shown = (_CONTROLS_BUT_LF if lines else _CONTROLS).sub(_escape, str(text))
    if limit is not None and len(shown) > limit:
        shown = shown[: max(0, limit - 1)] + "…"
    return shown


def without_bidi_controls(text: Any) -> str:
    """`text` without the bidirectional controls U+202A–U+202E and U+2066–U+2069 (see the module docstring)."""
    return _BIDI_CONTROLS.sub("", str(text))


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will show as text: strings starting like a formula get a leading `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose rows go through `csv_cell` (the only way this project writes CSV)."""

    def __init__(self, stream: IO[str], **options: Any):
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(stream: IO[str], **options: Any) -> SafeCsvWriter:
    """A formula-safe CSV writer on `stream` (lines end in "\\n" unless `lineterminator` says otherwise)."""
    options.setdefault("lineterminator", "\n")
    return SafeCsvWriter(stream, **options)
