"""Import one catalog file: read it, then upsert its records in one transaction.

Reading happens before the transaction opens, so an unreadable file never touches the database and a
failure during the upsert rolls the whole file back (the store's transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .formats import read_catalog
from .records import UpsertCounts
from .store import Catalog


@dataclass
class ImportResult:
    file: Path
    fmt: str
    counts: UpsertCounts  # .rejections holds the rejected rows
    notes: list[str]


def import_catalog_file(catalog: Catalog, path: Path, fmt: str | None = None) -> ImportResult:
    """Read `path` (format detected unless `fmt`) and merge it into `catalog`; CatalogFormatError if unreadable."""
    read = read_catalog(Path(path), fmt)
    counts = catalog.upsert_movies(read.records, source=str(path), fmt=read.fmt, rejected=read.rejected)
    return ImportResult(Path(path), read.fmt, counts, read.notes)
