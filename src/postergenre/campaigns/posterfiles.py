"""A campaign's poster files: content-addressed (root/<2 hex>/<sha256><ext>), written durably, removed on request.

Apart from the catalog's poster store on purpose: comparable titles and training read the catalog's store and
embedding cache only, so a confidential variant cannot reach them. Writes go to a temporary file named after the
writing process (`files.partial_name`), are fsynced, renamed into place and the folder fsynced: a kill at any moment
leaves the whole file or a temporary whose writer is gone, which `stale_temporaries` finds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
from pathlib import Path

from ..files import TMP_SUFFIX, is_stale_partial_write, partial_name
from ..posters.store import detect_extension

FAULT_ENV = "POSTERGENRE_FAULT_CAMPAIGN"
"""Only the fault-injection tests set this: the process SIGKILLs itself at the named point (`fault`)."""


def fault(point: str) -> None:
    """Die here, as a kill -9 from outside would, when the fault tests ask for `point`."""
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CampaignPosterFiles:
    """Poster files under `root`, one per distinct poster, whatever the number of campaigns holding it."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def path(self, sha256: str) -> Path | None:
        folder = self.root / sha256[:2]
        found = sorted(folder.glob(f"{sha256}.*")) if folder.is_dir() else []
        return found[0] if found else None

    def write(self, data: bytes) -> str:
        """Store `data` unless it is stored; its sha256. Durable: on disk (fsynced) when this returns."""
        sha = sha256_of(data)
        if self.path(sha) is not None:
            return sha
        final = self.root / sha[:2] / f"{sha}{detect_extension(data)}"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / partial_name(final)
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # confidential: the owner only
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            fault("temporary-written")
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_folder(final.parent)
        return sha

    def remove(self, sha256: str) -> bool:
        """Delete the poster's file; whether there was one."""
        path = self.path(sha256)
        if path is None:
            return False
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only when empty
        return True

    def stored(self) -> dict[str, Path]:
        """sha256 → file, for every complete poster file."""
        if not self.root.is_dir():
            return {}
        return {p.name.split(".", 1)[0]: p for p in self.root.glob("??/*") if not p.name.startswith(".")}

    def stale_temporaries(self) -> list[Path]:
        """Temporary files whose writer is gone (killed mid-write); a live writer's are left alone."""
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob(f"??/.*{TMP_SUFFIX}") if is_stale_partial_write(p)]
