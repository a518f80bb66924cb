"""Import one catalog file: read it, merge repeated ids, then upsert its records in one transaction.

Reading happens before the transaction opens, so an unreadable file never touches the database and a
failure during the upsert rolls the whole file back (the store's transaction).

Repeated ids within one file are merged field by field. When two rows give different values for the same
field, that is a conflict: each is listed (file:line of both rows, both values) and `on_conflict` decides:
"last" (default) the later row's value wins, "first" the earlier row's value wins, "reject" refuses the whole
file (nothing of it is stored, nothing already stored changes). A row that leaves a field empty never
conflicts and never erases a value, as in the store's merge.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import CatalogFormatError
from .filters import normalise_collection
from .formats import CatalogRead, read_catalog
from .records import DEFAULT_COLLECTION, MOVIE_FIELDS, DuplicateConflict, FieldConflict, MovieRecord, UpsertCounts
from .store import Catalog

ON_CONFLICT: tuple[str, ...] = ("last", "first", "reject")
CONFLICT_RULES = {
    "last": "the later row's value wins (--on-conflict last)",
    "first": "the earlier row's value wins (--on-conflict first)",
    "reject": "the file is refused (--on-conflict reject)",
}
_CONFLICTS_IN_MESSAGE = 10


class DuplicateConflictError(CatalogFormatError):
    """`--on-conflict reject` and the file repeats an id with different values; lists the conflicts."""

    def __init__(self, path: Path, conflicts: list[DuplicateConflict]):
        self.conflicts = conflicts
        shown = "\n".join(f"  {c}" for c in conflicts[:_CONFLICTS_IN_MESSAGE])
        more = len(conflicts) - _CONFLICTS_IN_MESSAGE
        super().__init__(
            f"{path}: {len(conflicts)} repeated id(s) with conflicting values and --on-conflict "
            f"reject, so nothing was imported from it:\n{shown}" + (f"\n  … and {more} more" if more > 0 else "")
        )


@dataclass
class ImportResult:
    file: Path
    fmt: str
    counts: UpsertCounts  # .rejections holds the rejected rows, .conflicts the conflicting repeats
    notes: list[str]
    collection: str = DEFAULT_COLLECTION
    on_conflict: str = "last"


def _empty(value: object) -> bool:
    return value is None or value == ()


def merge_duplicates(
    read: CatalogRead, on_conflict: str = "last"
) -> tuple[list[MovieRecord], int, list[DuplicateConflict]]:
    """One record per id (first-seen order), the number of rows merged away, and the conflicts found."""
    if on_conflict not in ON_CONFLICT:
        raise CatalogFormatError(f"unknown --on-conflict {on_conflict!r}; choose one of: {', '.join(ON_CONFLICT)}")
    lines = read.lines or list(range(1, len(read.records) + 1))
    merged: dict[str, MovieRecord] = {}
    source: dict[tuple[str, str], int] = {}  # (id, field) -> line of the row whose value is held
    conflicts: list[DuplicateConflict] = []
    repeats = 0
    for record, line in zip(read.records, lines, strict=True):
        held = merged.get(record.imdb_id)
        names = ("genres",) + MOVIE_FIELDS
        if held is None:
            merged[record.imdb_id] = record
            source.update({(record.imdb_id, f): line for f in names if not _empty(getattr(record, f))})
            continue
        repeats += 1
        differing, taken = [], {}
        for name in names:
            old, new = getattr(held, name), getattr(record, name)
            if _empty(new):
                continue
            if _empty(old):
                taken[name] = new
                continue
            same = set(old) == set(new) if name == "genres" else old == new
            if not same:
                differing.append(FieldConflict(name, source[(record.imdb_id, name)], old, new))
                if on_conflict == "last":
                    taken[name] = new
        if differing:
            conflicts.append(DuplicateConflict(str(read.path), line, record.imdb_id, tuple(differing)))
        if taken:
            merged[record.imdb_id] = replace(held, **taken)
            source.update({(record.imdb_id, name): line for name in taken})
    return list(merged.values()), repeats, conflicts


def import_catalog_file(
    catalog: Catalog,
    path: Path,
    fmt: str | None = None,
    *,
    collection: str = DEFAULT_COLLECTION,
    on_conflict: str = "last",
) -> ImportResult:
    """Read `path` (format detected unless `fmt`) and merge it into `catalog` as part of `collection`.

    CatalogFormatError if unreadable; DuplicateConflictError (nothing stored) for conflicts under "reject".
    """
    collection = normalise_collection(collection)
    read = read_catalog(Path(path), fmt)
    records, repeats, conflicts = merge_duplicates(read, on_conflict)
    if conflicts and on_conflict == "reject":
        raise DuplicateConflictError(Path(path), conflicts)
    counts = catalog.upsert_movies(
        records,
        collection=collection,
        source=str(path),
        fmt=read.fmt,
        rejected=read.rejected,
        duplicates=repeats,
        conflicts=conflicts,
    )
    return ImportResult(Path(path), read.fmt, counts, read.notes, collection, on_conflict)
