"""Samples of the shared data that tests pick by count, never by position: movies.csv grows (it gained 5,000 rows in
December 2026), and a stride such as rows[::110] would change both which films a test reads and how many."""

from __future__ import annotations


def spread(rows: list[dict], n: int, offset: int = 0) -> list[dict]:
    """`n` rows spread evenly over all of `rows` (shifted by `offset`): a sample whose size does not change when the
    shared data grows, and which still reaches from its first films to its last."""
    if not 0 < n <= len(rows):
        raise ValueError(f"asked for {n} rows of {len(rows)}")
    step = len(rows) / n
    return [rows[(int(i * step) + offset) % len(rows)] for i in range(n)]
