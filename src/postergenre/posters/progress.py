"""Progress of the bulk poster jobs (attach, fetch) as `progress.Progress` reports: done, ok, failed of a total.

Library code reports through a callback; the CLI shows it (a bar on a terminal, a line every few seconds otherwise).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..progress import Progress, ProgressFn, no_progress

Advance = Callable[[int, int, int], None]  # (done_now, ok_total, failed_total)


@contextmanager
def progress_bar(report: ProgressFn | None, total: int, description: str) -> Iterator[Advance]:
    """Yield `advance(n, ok, failed)`, which sends one report per call to `report` (None: report nothing)."""
    report = report or no_progress
    done = 0
    report(Progress(description, 0, total, ok=0, failed=0))

    def advance(n: int, ok: int, failed: int) -> None:
        nonlocal done
        done += n
        report(Progress(description, done, total, ok=ok, failed=failed))

    yield advance
