"""Atomic file writes: reports, sheets, heatmaps, JSON and stored posters either appear whole or not at all.

The temporary file carries the writer's process id (`.NAME.PID.RANDOM.tmp`), so a later run can tell the
leftovers of a killed writer (safe to delete) from a write still in flight in another process.

Where a file cannot be written (a folder at its path, a file where a folder is needed, a read-only or full location)
the writers raise OutputPathError naming the path and the reason: the one place such OS errors become a user's
error. `check_output_file` / `check_output_folder` apply the same rule before the work, so a command that runs for
minutes fails in its first second instead.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .errors import OutputPathError

TMP_SUFFIX = ".tmp"
_PARTIAL_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def write_atomic(path: Path | str, data: str | bytes, *, durable: bool = False) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX).

    An interrupted write leaves the previous file (or none), never half of one. The file gets the usual
    0644 permissions (mkstemp alone would leave it readable by its owner only). `durable=True` also
    flushes the bytes to disk before the rename (survives a power cut, not only a killed process).
    """
    path = _not_a_folder(Path(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX)
    except OSError as exc:
        raise output_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(path, exc) from exc
        raise
    return path


def check_output_file(path: Path | str) -> Path:
    """`path` if a file can be written there (its missing folders are made when it is written); else
    OutputPathError naming it: a folder is there, a parent is a file, or its folder cannot be written in."""
    path = _not_a_folder(Path(path))
    _check_folder_writable(path.parent, path)
    return path


def _not_a_folder(path: Path) -> Path:
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder; give a file name")
    return path


def check_output_folder(path: Path | str) -> Path:
    """`path` if files can be written in it (it is made when missing); else OutputPathError naming it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"cannot write into {path}: it is a file, not a folder")
    _check_folder_writable(path, path)
    return path


def make_folder(path: Path | str) -> Path:
    """`mkdir -p path`, a failure raised as OutputPathError naming it (a file in the way, no permission)."""
    path = check_output_folder(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from exc
    return path


def _check_folder_writable(folder: Path, target: Path) -> None:
    """The nearest existing folder on the way to `folder` must be a folder this process can create a file in: tried
    with a nameless temporary file (permission bits do not stop root, a read-only mount or /sys do)."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot write {target}: {existing} is a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise output_error(target, exc, folder=existing) from exc


def output_error(path: Path, exc: OSError, *, folder: Path | None = None) -> OutputPathError:
    """An OS error while writing `path` (in `folder`, default its parent), as one line naming it and the reason."""
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return OutputPathError(f"cannot write {path}: it is a folder; give a file name")
    if isinstance(exc, NotADirectoryError):
        blocking = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        return OutputPathError(f"cannot write {path}: {blocking} is a file, not a folder")
    if isinstance(exc, PermissionError):
        return OutputPathError(f"cannot write {path}: no permission to write in {folder or path.parent}")
    return OutputPathError(f"cannot write {path}: {exc.strerror or exc}")


def partial_name(path: Path | str, pid: int | None = None) -> str:
    """The hidden name of a temporary file beside `path` written by process `pid` (default: this one)."""
    return f".{Path(path).name}.{os.getpid() if pid is None else pid}.{secrets.token_hex(4)}{TMP_SUFFIX}"


@contextmanager
def atomic_output(path: Path | str) -> Iterator[BinaryIO]:
    """A binary file whose bytes become `path` only when the block ends without an error (for long writers such as
    predict-catalog's Parquet file, whose writer wants a file rather than bytes).

    On Linux the file has no name until then (O_TMPFILE), so even kill -9 leaves nothing behind; it is linked in
    under a hidden temporary name and renamed over `path` at the end. Where the file system cannot do that, it is
    the hidden `partial_name` from the start: removed on an error, and after a kill by the next writer's
    `sweep_partials`. An error leaves the previous `path` (or none).
    """
    path = _not_a_folder(Path(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise output_error(path, exc) from exc
    named: Path | None = None
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)
    except (AttributeError, OSError):  # not Linux, or a file system without O_TMPFILE
        named = path.parent / partial_name(path)
        try:
            fd = os.open(named, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except OSError as exc:
            raise output_error(path, exc) from exc
    try:
        with os.fdopen(fd, "wb") as f:
            yield f  # an error of the caller's own work passes unchanged
            try:
                f.flush()
                if named is None:
                    named = path.parent / partial_name(path)
                    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
                    try:  # a dir fd makes os.link use linkat(AT_SYMLINK_FOLLOW), which links the anonymous file itself
                        os.link(f"/proc/self/fd/{f.fileno()}", named.name, dst_dir_fd=folder, follow_symlinks=True)
                    finally:
                        os.close(folder)
            except OSError as exc:
                raise output_error(path, exc) from exc
        try:
            os.replace(named, path)
        except OSError as exc:
            raise output_error(path, exc) from exc
    except BaseException:
        if named is not None:
            named.unlink(missing_ok=True)
        raise


def sweep_partials(path: Path | str) -> list[Path]:
    """Remove the temporaries a killed writer of `path` left beside it (its process is gone) and those named
    `.NAME.partial` by earlier versions; returns what was removed. A live writer's temporary is left alone."""
    path = Path(path)
    removed = []
    for candidate in path.parent.glob(f".{glob_escape(path.name)}.*"):
        legacy = candidate.name == f".{path.name}.partial"
        ours = partial_write_pid(candidate) is not None and candidate.name.startswith(f".{path.name}.")
        if candidate.is_file() and (legacy or (ours and is_stale_partial_write(candidate))):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def glob_escape(name: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", name)


def partial_write_pid(path: Path | str) -> int | None:
    """The process id in the name of a temporary file left by write_atomic (None: not such a name)."""
    match = _PARTIAL_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def is_stale_partial_write(path: Path | str) -> bool:
    """A write_atomic temporary file whose writer is gone (killed mid-write): safe to delete.

    A name without a process id counts as stale too: no writer of this package makes one.
    """
    pid = partial_write_pid(path)
    return pid is None or not pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (this process included)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
