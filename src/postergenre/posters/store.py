"""Content-addressed poster files: each file is named by the sha256 of its bytes.

Naming by content makes writes idempotent (the same poster from two sources is stored once), lets
embeddings be cached by hash, and makes a half-written file impossible to mistake for a good one:
bytes go to a temporary file in the target folder and are renamed into place (files.write_atomic), so
a killed process leaves either the whole file or only a `.tmp` file that `sweep_partial` removes.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..files import TMP_SUFFIX, is_stale_partial_write, write_atomic

# Extensions tried by path(); the format is detected from magic bytes, not trusted from a URL.
_EXTENSIONS = (".jpg", ".png", ".webp", ".gif", ".bmp", ".tif", ".bin")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def detect_extension(data: bytes) -> str:
    """File extension for `data` from its magic bytes ('.bin' when unknown)."""
    if data.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if data.startswith(b"BM"):
        return ".bmp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    return ".bin"


class PosterStore:
    """Poster files under `root`, as root/<first two hex digits>/<sha256><ext>."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _folder(self, sha256: str) -> Path:
        if not _SHA_RE.match(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2]

    def put(self, data: bytes) -> str:
        """Store `data` (if not stored yet) and return its sha256; atomic and idempotent."""
        sha = hashlib.sha256(data).hexdigest()
        folder = self._folder(sha)
        final = folder / f"{sha}{detect_extension(data)}"
        if final.exists():
            return sha
        write_atomic(final, data)  # its temporary name carries our pid, for sweep_partial
        return sha

    def path(self, sha256: str) -> Path:
        """Path of a stored poster; raises FileNotFoundError naming the hash if absent."""
        folder = self._folder(sha256)
        for ext in _EXTENSIONS:
            candidate = folder / f"{sha256}{ext}"
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"poster {sha256} is not in the poster store {self.root}")

    def has(self, sha256: str) -> bool:
        try:
            self.path(sha256)
        except FileNotFoundError:
            return False
        return True

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def partial_files(self) -> list[Path]:
        """Temporary files left by writers (live or killed)."""
        return sorted(self.root.glob(f"??/.*{TMP_SUFFIX}"))

    def sweep_partial(self) -> int:
        """Delete temporary files whose writing process is gone; returns how many were removed."""
        removed = 0
        for tmp in self.partial_files():
            if is_stale_partial_write(tmp):  # a live writer's file (ours included) is left alone
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed
