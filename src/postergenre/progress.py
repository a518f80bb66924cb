"""Progress reporting for long jobs, as data: library code calls a callback, interfaces decide how to show it.

A job (attach, fetch, embed, train folds, ...) calls `report(Progress(...))` after each unit of work. The CLI
renders these as a rich bar on a terminal and as a plain line every few seconds otherwise
(`cli/_progress.py`); the library itself never prints.
"""

from __future__ import annotations

from collections.abc import Callable
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
