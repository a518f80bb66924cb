"""The progress bar shared by the bulk poster jobs: counts of done, ok and failed, and time left."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

Advance = Callable[[int, int, int], None]  # (done_now, ok_total, failed_total)


@contextmanager
def progress_bar(enabled: bool, total: int, description: str) -> Iterator[Advance]:
    """Yield `advance(n, ok, failed)`; a no-op when `enabled` is False (library use, tests)."""
    if not enabled:
        yield lambda n, ok, failed: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("ok {task.fields[ok]} · failed {task.fields[failed]}"),
                  TimeRemainingColumn()) as bar:
        task = bar.add_task(description, total=total, ok=0, failed=0)
        yield lambda n, ok, failed: bar.update(task, advance=n, ok=ok, failed=failed)
