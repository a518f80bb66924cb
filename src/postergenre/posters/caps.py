"""File-size caps, in bytes: one constant per cap, read by every face.

The CLI's `--max-file-mb` and `serve --max-upload-mb` take megabytes (`BYTES_PER_MB`: decimal, as file listings
show sizes) and turn them into bytes with `from_megabytes`; the Python API takes bytes
(`Predictor.load(max_file_bytes=...)`); the service's per-file cap and its request-body limits are in bytes, and the
page shows the cap as the text `/healthz` serves (`megabytes`), never a number of its own. No imports: the CLI reads
these for --help without loading an image library.
"""

from __future__ import annotations

BYTES_PER_MB = 1_000_000

DEFAULT_MAX_FILE_BYTES = 10 * BYTES_PER_MB
"""Largest poster read to be predicted: a local file or a download for predict/similar/compare/brief
(`--max-file-mb`, `Predictor.load(max_file_bytes=...)`) and each poster uploaded to, or downloaded by, the service
(`serve --max-upload-mb`). A real poster is far smaller."""

CATALOG_MAX_FILE_BYTES = 20 * BYTES_PER_MB
"""Largest poster file `posters attach` stores and `posters fetch` downloads into the catalog's poster store."""


def from_megabytes(mb: float) -> int:
    """A --...-mb option's value in bytes (0.5 → 500,000)."""
    return round(mb * BYTES_PER_MB)


def to_megabytes(n: int) -> float:
    """Bytes as a --...-mb option's value (the default shown in --help)."""
    return n / BYTES_PER_MB


def megabytes(n: int) -> str:
    """A size in words: 10_000_000 → "10 MB"; 10_500_000 → "10.5 MB"; under 100 kB in bytes ("2,048 bytes")."""
    return f"{n / BYTES_PER_MB:.4g} MB" if n >= 100_000 else f"{n:,} bytes"
