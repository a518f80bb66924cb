"""Link local poster files to catalog movies by the IMDb id in their file names (tt0114709.jpg).

Every file is decoded by the one safe decoder before it is stored, so the store only ever holds
usable posters. Reruns skip movies whose poster is already stored from the same file, which makes
attaching 18,000 posters resumable and a repeat run nearly free. Decoding runs in a few threads
(Pillow releases the GIL while decoding); database writes are batched into transactions.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..catalog.store import Catalog
from ..errors import PosterDecodeError, PosterGenreError
from ..progress import ProgressFn, counter
from .caps import CATALOG_MAX_FILE_BYTES
from .images import IMAGE_SUFFIXES, decode_image, read_image_file
from .store import PosterStore

_NAME_RE = re.compile(r"^tt(\d{1,10})$", re.IGNORECASE)
_BATCH = 500  # rows per transaction: a kill loses at most one batch of (cheap, redoable) work


def imdb_id_from_name(path: Path) -> str | None:
    """'tt114709.JPG' -> 'tt0114709' (tt + at least 7 digits); None when the stem is not an id."""
    match = _NAME_RE.match(path.stem)
    return f"tt{int(match.group(1)):07d}" if match else None


@dataclass
class AttachSummary:
    scanned: int = 0  # poster-like files (by extension) in the folder
    attached: int = 0
    unchanged: int = 0  # already attached from the same file on an earlier run
    failed: int = 0  # files that did not decode as a usable poster
    not_in_catalog: int = 0
    bad_names: int = 0  # poster files whose name holds no IMDb id
    failures: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    unknown_ids: list[str] = field(default_factory=list)  # file names whose id the catalog lacks
    ignored_names: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Result:
    imdb_id: str
    path: Path
    sha256: str | None = None
    width: int = 0
    height: int = 0
    error: str | None = None


def _attach_one(store: PosterStore, imdb_id: str, path: Path) -> _Result:
    try:
        data = read_image_file(path, max_bytes=CATALOG_MAX_FILE_BYTES)
        image = decode_image(data, name=str(path))
    except PosterDecodeError as exc:
        return _Result(imdb_id, path, error=str(exc))
    except OSError as exc:
        return _Result(imdb_id, path, error=f"{path}: cannot read file ({exc.strerror or exc})")
    except Exception as exc:  # one odd file must not end a batch: record it instead
        return _Result(imdb_id, path, error=f"{path}: unexpected error ({type(exc).__name__}: {exc})")
    sha = store.put(data)
    return _Result(imdb_id, path, sha, image.width, image.height)


def _scan(folder: Path, summary: AttachSummary) -> dict[str, Path]:
    """imdb_id -> file; the first file wins when an id appears with several extensions."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        summary.scanned += 1
        imdb_id = imdb_id_from_name(path)
        if imdb_id is None:
            summary.bad_names += 1
            summary.ignored_names.append(path.name)
            continue
        found.setdefault(imdb_id, path)
    return found


def attach_folder(
    catalog: Catalog, store: PosterStore, folder: Path, *, progress: ProgressFn | None = None, workers: int = 4
) -> AttachSummary:
    """Attach every poster file in `folder` whose IMDb id is in the catalog (see module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PosterGenreError(f"{folder}: not a folder of poster files")
    store.sweep_partial()
    summary = AttachSummary()
    files = _scan(folder, summary)
    known = {row[0] for row in catalog.conn.execute("SELECT imdb_id FROM movies")}
    states = catalog.poster_states()
    todo: list[tuple[str, Path]] = []
    for imdb_id, path in files.items():
        if imdb_id not in known:
            summary.not_in_catalog += 1
            summary.unknown_ids.append(path.name)
            continue
        origin = str(path.resolve())
        status, old_origin, sha = states.get(imdb_id, (None, None, None))
        if status == "ok" and old_origin == origin and sha and store.has(sha):
            summary.unchanged += 1
            continue
        todo.append((imdb_id, path.resolve()))

    with (
        counter(progress, len(todo), "attaching posters") as advance,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        for batch in _chunks(todo, _BATCH):
            results = list(pool.map(lambda item: _attach_one(store, *item), batch))
            _record(catalog, results, summary)
            advance(len(batch), summary.attached, summary.failed)
    return summary


def _record(catalog: Catalog, results: list[_Result], summary: AttachSummary) -> None:
    ok = [(r.imdb_id, r.sha256, r.width, r.height, str(r.path)) for r in results if r.sha256 is not None]
    bad = [(r.imdb_id, str(r.path), r.error) for r in results if r.error is not None]
    if ok:
        catalog.set_posters(ok)
    if bad:
        catalog.set_poster_failures(bad)
    summary.attached += len(ok)
    summary.failed += len(bad)
    summary.failures.extend((str(r.path), r.error) for r in results if r.error is not None)


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
