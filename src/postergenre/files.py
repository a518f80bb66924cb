"""Atomic file writes: reports, sheets, heatmaps, JSON and stored posters either appear whole or not at all.

The temporary file carries the writer's process id (`.NAME.PID.RANDOM.tmp`), so a later run can tell the
leftovers of a killed writer (safe to delete) from a write still in flight in another process.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

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
