"""What long jobs report, as data: library code calls a callback, interfaces decide how to show it.

Two callbacks, each declared once here: a job (attach, fetch, embed, train folds, ...) counts its units of work
through `counter`, which sends `Progress` reports to a `ProgressFn`; and it says what it is doing in sentences through
a `Log`. The CLI renders the reports as a rich bar on a terminal and as a plain line every few seconds otherwise
(`cli/_progress.py`), and prints the sentences on stderr; the library itself never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    """Where a job stands: `done` of `total` units (e.g. posters, folds); `detail` is short free text."""

    task: str
    done: int
    total: int
    ok: int | None = None
    failed: int | None = None
    detail: str = ""


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default callback: library use and tests show nothing."""


Log = Callable[[str], None]
"""A job's notes in sentences (what it does, what it found); the CLI prints them on stderr."""


def no_log(_: str) -> None:
    """The default `Log`: library use shows nothing."""


Advance = Callable[[int, int, int], None]
"""`advance(done_now, ok_total, failed_total)`: count finished units (how many now; ok and failed so far)."""


@contextmanager
def counter(report: ProgressFn | None, total: int, task: str, *, detail: str = "") -> Iterator[Advance]:
    """Report `task` at 0 of `total` (with `detail`), then yield `advance`, which sends one report per call to
    `report` (None: report nothing): the one way a job counts its progress."""
    report = report or no_progress
    done = 0
    report(Progress(task, 0, total, ok=0, failed=0, detail=detail))

    def advance(n: int, ok: int, failed: int) -> None:
        nonlocal done
        done += n
        report(Progress(task, done, total, ok=ok, failed=failed))

    yield advance
