"""Turn what a user typed (files, folders, globs, URLs, a CSV of posters) into a list of poster items.

Resolution never raises for one bad argument: a missing file, an empty folder or a CSV row without a poster
becomes an item carrying its error, so a batch of 500 posters with one typo still predicts 499 and reports
the one. Image bytes are read (or fetched) only when an item is loaded, one item at a time, so a long list
of URLs does not hold every download in memory at once.
"""

from __future__ import annotations

import csv
import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import PosterGenreError
from ..posters.images import DEFAULT_MAX_FILE_BYTES, IMAGE_SUFFIXES, read_image_file

if TYPE_CHECKING:
    from ..posters.fetch import FetchLimits


ID_COLUMNS = ("id", "imdb_id", "imdbid", "tconst", "movie_id")
POSTER_COLUMNS = ("poster", "poster_path", "poster_url", "poster_file", "path", "url", "file", "image")
SYNOPSIS_COLUMNS = ("synopsis", "plot")


@dataclass(frozen=True)
class PosterInput:
    """One poster to predict: a local file or an http(s) URL, or the reason it could not be resolved.

    `source` is what the user sees in output and error lines (the path, URL or CSV id).
    """

    source: str
    path: Path | None = None
    url: str | None = None
    id: str | None = None
    error: str | None = None
    synopsis: str | None = None
    data: bytes | None = field(default=None, repr=False)  # bytes already in hand (an upload), named by `source`

    def read_bytes(self, limits: FetchLimits | None = None, *, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
        """The poster's bytes; raises PosterGenreError (naming `source`) for anything unreadable.

        URLs are fetched with `limits` (default: FetchLimits(), which refuses private hosts); a local file larger
        than `max_file_bytes`, or whose first bytes are no image, is refused before it is read whole.
        """
        if self.error is not None:
            raise PosterGenreError(self.error)
        if self.data is not None:
            return self.data
        if self.url is not None:
            from ..posters.fetch import FetchLimits, fetch_image_bytes

            return fetch_image_bytes(self.url, limits=limits or FetchLimits())
        assert self.path is not None
        return read_image_file(self.path, self.source, max_bytes=max_file_bytes)


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def resolve_inputs(args: Iterable[str]) -> list[PosterInput]:
    """Expand CLI arguments in order: URL, CSV file, folder (recursive images), file, glob pattern."""
    items: list[PosterInput] = []
    for arg in args:
        items.extend(_resolve_one(arg))
    return items


def _resolve_one(arg: str) -> list[PosterInput]:
    if is_url(arg):
        return [PosterInput(source=arg, url=arg)]
    if "://" in arg:
        scheme = arg.split("://", 1)[0]
        return [PosterInput(source=arg, error=f"{arg}: unsupported URL scheme {scheme!r} (use http or https)")]
    path = Path(arg).expanduser()
    if path.is_dir():
        return _folder(path, arg)
    if path.is_file():
        if path.suffix.lower() == ".csv":
            return read_poster_csv(path)
        return [PosterInput(source=arg, path=path)]
    if glob.has_magic(arg):
        matches = sorted(p for p in glob.glob(os.path.expanduser(arg), recursive=True) if Path(p).is_file())
        if not matches:
            return [PosterInput(source=arg, error=f"{arg}: no files match this pattern")]
        return [PosterInput(source=m, path=Path(m)) for m in matches]
    return [PosterInput(source=arg, error=f"{arg}: no such file or folder")]


def _folder(folder: Path, label: str) -> list[PosterInput]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    if not files:
        suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
        return [PosterInput(source=label, error=f"{label}: folder contains no images ({suffixes})")]
    return [PosterInput(source=str(p), path=p) for p in files]


def _pick(columns: Sequence[str], wanted: Sequence[str]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns if c}
    for name in wanted:
        if name in lowered:
            return lowered[name]
    return None


def read_poster_csv(path: Path) -> list[PosterInput]:
    """A CSV with an id column, a poster column (file path or URL; relative to the CSV) and optionally a synopsis
    (or plot) column.

    A CSV whose header names no poster column is one error item (nothing in it can be predicted); a row
    without a poster is an error item naming the file and line.
    """
    label = str(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            poster_col = _pick(columns, POSTER_COLUMNS)
            id_col = _pick(columns, ID_COLUMNS)
            synopsis_col = _pick(columns, SYNOPSIS_COLUMNS)
            if poster_col is None:
                return [
                    PosterInput(
                        source=label,
                        error=(
                            f"{label}: no poster column in the header {columns!r} "
                            f"(expected one of {', '.join(POSTER_COLUMNS)})"
                        ),
                    )
                ]
            items: list[PosterInput] = []
            for row in reader:
                line = reader.line_num
                ident = (row.get(id_col) or "").strip() if id_col else ""
                where = f"{label}:{line}"
                source = ident or where
                poster = (row.get(poster_col) or "").strip()
                synopsis = (row.get(synopsis_col) or "").strip() or None if synopsis_col else None
                if not poster:
                    items.append(
                        PosterInput(source=source, id=ident or None, error=f"{where}: row has no {poster_col!r} value")
                    )
                elif is_url(poster):
                    items.append(PosterInput(source=source, id=ident or None, url=poster, synopsis=synopsis))
                else:
                    file = Path(poster).expanduser()
                    file = file if file.is_absolute() else path.parent / file
                    if file.is_file():
                        items.append(PosterInput(source=source, id=ident or None, path=file, synopsis=synopsis))
                    else:
                        items.append(
                            PosterInput(
                                source=source, id=ident or None, error=f"{where}: poster file not found: {file}"
                            )
                        )
            if not items:
                return [PosterInput(source=label, error=f"{label}: CSV has no rows")]
            return items
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [PosterInput(source=label, error=f"{label}: cannot read CSV ({exc})")]
