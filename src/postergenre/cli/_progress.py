"""Show `progress.Progress` reports: a rich bar on a terminal, a plain line every few seconds otherwise.

When stdout is not a terminal (`make run | tee log`, CI, a job scheduler) a bar would print nothing useful, so
a line with counts, rate and ETA goes out every `interval_s` seconds and once at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from ..progress import Progress, ProgressFn

LINE_INTERVAL_S = 5.0


def _counts(p: Progress) -> str:
    parts = []
    if p.ok is not None:
        parts.append(f"ok {p.ok}")
    if p.failed is not None:
        parts.append(f"failed {p.failed}")
    if p.detail:
        parts.append(p.detail)
    return " · ".join(parts)


class _Lines:
    """Plain progress lines for logs: at most one per `interval_s`, plus the final one."""

    def __init__(self, interval_s: float, stream=None):
        self.interval_s = interval_s
        self.stream = stream or sys.stderr  # progress is never the output a command was asked for
        self.started: dict[str, float] = {}
        self.last_line = 0.0
        self.last: Progress | None = None

    def __call__(self, p: Progress) -> None:
        now = time.monotonic()
        self.started.setdefault(p.task, now)
        self.last = p
        if p.done >= p.total or now - self.last_line >= self.interval_s:
            self.emit(p, now)

    def emit(self, p: Progress, now: float) -> None:
        self.last_line = now
        elapsed = now - self.started[p.task]
        rate = p.done / elapsed if elapsed > 0 else 0.0
        eta = f", ETA {(p.total - p.done) / rate:.0f} s" if rate > 0 and p.done < p.total else ""
        pct = 100.0 * p.done / p.total if p.total else 100.0
        extra = _counts(p)
        print(
            f"{p.task}: {p.done}/{p.total} ({pct:.0f}%), {elapsed:.0f} s elapsed{eta}"
            + (f" · {extra}" if extra else ""),
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.last is not None and self.last.done < self.last.total:
            self.emit(self.last, time.monotonic())


@contextmanager
def progress_display(
    *, enabled: bool = True, interval_s: float = LINE_INTERVAL_S, console: Console | None = None
) -> Iterator[ProgressFn]:
    """Yield a `ProgressFn` that shows every task it is called with (bar on a terminal, else lines), on stderr:
    stdout carries only what a command was asked for (`predict --format json > out.json` must parse)."""
    if not enabled:
        yield lambda p: None
        return
    if console is None or not console.stderr:
        console = Console(stderr=True)
    if not console.is_terminal:
        lines = _Lines(interval_s, console.file)
        reader_gone = False
        try:
            yield lines
        except BrokenPipeError:  # stdout's reader closed the pipe: stop without another line
            reader_gone = True
            raise
        finally:
            if not reader_gone:
                lines.close()
        return
    # Here, not at the top: a bar is drawn only on a terminal, and rich.progress costs every CLI start (issue 26).
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress as RichProgress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with RichProgress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        speed_estimate_period=60,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def show(p: Progress) -> None:
            if p.task not in tasks:
                tasks[p.task] = bar.add_task(p.task, total=p.total, extra="")
            bar.update(tasks[p.task], completed=p.done, total=p.total, extra=_counts(p))

        yield show
