"""Atomic file writes: reports, sheets, heatmaps, JSON and stored posters either appear whole or not at all.

The temporary file carries the writer's process id (`.NAME.PID.RANDOM.tmp`), so a later run can tell the
leftovers of a killed writer (safe to delete) from a write still in flight in another process.
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

TMP_SUFFIX = ".tmp"
_PARTIAL_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


def write_atomic(path: Path | str, data: str | bytes, *, durable: bool = False) -> Path:
    """Write `data` to a temporary file beside `path`, then rename it over `path` (atomic on POSIX).

    An interrupted write leaves the previous file (or none), never half of one. The file gets the usual
    0644 permissions (mkstemp alone would leave it readable by its owner only). `durable=True` also
    flushes the bytes to disk before the rename (survives a power cut, not only a killed process).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    named: Path | None = None
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_WRONLY, 0o644)  # type: ignore[attr-defined]
    except (AttributeError, OSError):  # not Linux, or a file system without O_TMPFILE
        named = path.parent / partial_name(path)
        fd = os.open(named, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if named is None:
                named = path.parent / partial_name(path)
                folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
                try:  # a dir fd makes os.link use linkat(AT_SYMLINK_FOLLOW), which links the anonymous file itself
                    os.link(f"/proc/self/fd/{f.fileno()}", named.name, dst_dir_fd=folder, follow_symlinks=True)
                finally:
                    os.close(folder)
        os.replace(named, path)
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
