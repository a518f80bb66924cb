"""The one safe image decoder: every poster (attached, fetched, uploaded) goes through here.

Training, prediction and the service must see identical pixels for identical bytes, and no input may
exhaust memory or crash a batch, so the checks live in one function:

* only six formats are opened (JPEG, PNG, WebP, GIF, BMP, TIFF): Pillow is told not to try any of its
  other ~40 plugins, whose parsers of rarely used formats (AVIF, BLP, DDS, ICO, PSD, ...) are where crafted
  files crash it;
* the pixel count is read from the header and refused *before* any pixel is decoded (bombs);
* the image is fully decoded, so a truncated or corrupt file fails here instead of later;
* whatever a decoder raises (OSError, ValueError, RuntimeError, struct.error, EOFError, MemoryError, ...)
  becomes a PosterDecodeError naming the input, so one crafted file fails alone and never ends a batch;
* EXIF orientation is applied, and every mode (CMYK, grayscale, palette, 16-bit, alpha) becomes RGB,
  transparent areas composited on white (posters are shown on white pages).
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import stat
import warnings
from pathlib import Path
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import TOO_LARGE, NotAnImageError, PosterDecodeError
from .caps import CATALOG_MAX_FILE_BYTES, DEFAULT_MAX_FILE_BYTES

MAX_PIXELS = 40_000_000  # 40 megapixels: far above any poster, far below what exhausts memory
MIN_SIDE = 32  # a poster smaller than this carries no usable visual information
_HEAD_BYTES = 64  # enough for every accepted format's signature (WebP's is at byte 8..12)

# Pillow format ids of the accepted formats (MPO, JPEG's multi-picture variant, opens as JPEG).
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
"""File names of the accepted formats: what folder walks pick up (an explicitly named file is always tried)."""
_ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# Magic bytes, only to word the error: which accepted format a broken header claimed, or which refused
# format a file is in. Never used to decide what to decode (Pillow's own checks do that).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (8, b"WEBP", "WEBP"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"II+\x00", "TIFF"),
    (0, b"MM\x00+", "TIFF"),
    (4, b"ftypavif", "AVIF"),
    (4, b"ftypavis", "AVIF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (0, b"BLP1", "BLP"),
    (0, b"BLP2", "BLP"),
    (0, b"DDS ", "DDS"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x02\x00", "CUR"),
    (0, b"8BPS", "PSD"),
    (0, b"icns", "ICNS"),
    (0, b"qoif", "QOI"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"%PDF", "PDF"),
    (0, b"%!PS", "PostScript"),
    (0, b"\xc5\xd0\xd3\xc6", "EPS"),
    (0, b"PK\x03\x04", "ZIP"),
    (0, b"8BIM", "Photoshop resource"),
    (0, b"\x0a\x05\x01", "PCX"),
    (0, b"\x01\xda", "SGI"),
)

# Pillow's own bomb guard warns between MAX_IMAGE_PIXELS and twice that; make it an error so a
# warning can never let an oversized image through (our MAX_PIXELS is lower anyway).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_BACKGROUND = (255, 255, 255)


def sniff_format(data: bytes) -> str | None:
    """The format `data`'s magic bytes claim ('JPEG', 'AVIF', ...), or None; for error messages only."""
    for offset, magic, name in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (name != "WEBP" or data[:4] == b"RIFF"):
            return name
    return None


def read_image_file(path: Path | str, name: str | None = None, *, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """A local image file's bytes, checked before it is read whole: a regular file (not a pipe or device, which
    could block or never end), at most `max_bytes`, and starting like an accepted image format. So a 3 GB file
    named .jpg costs a stat and a 64-byte read, not 3 GB of memory.

    Raises PosterDecodeError naming `name` (or the path): a folder, not a regular file, too large, cannot read;
    NotAnImageError when the first bytes are in no accepted format.
    """
    label = name or str(path)
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer (it is refused below, as not a regular file).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise PosterDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise PosterDecodeError(f"{label}: is a folder, not an image")
        raise PosterDecodeError(f"{label}: not a regular file (a device, pipe or socket), not an image")
    with os.fdopen(fd, "rb") as f:
        try:
            head = f.read(_HEAD_BYTES)
            if not head:
                raise NotAnImageError(f"{label}: not an image (empty file)")
            if not _accepted_header(head):
                raise _not_an_image(label, head)
            size = os.fstat(fd).st_size
            if size > max_bytes:
                raise PosterDecodeError(f"{label}: too large ({size:,} bytes; limit {max_bytes:,})", kind=TOO_LARGE)
            data = head + f.read(max_bytes + 1 - len(head))  # bounded even if the file grows meanwhile
        except OSError as exc:
            raise PosterDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise PosterDecodeError(f"{label}: too large (more than {max_bytes:,} bytes)", kind=TOO_LARGE)
    return data


def _accepted_header(head: bytes) -> bool:
    """Whether Pillow's own signature test of an accepted format takes these first bytes (what Image.open tries)."""
    _register_accepted_formats()
    for fmt in ACCEPTED_FORMATS:
        accept = Image.OPEN.get(fmt, (None, None))[1]
        if accept is None or accept(head):
            return True
    return False


@functools.cache
def _register_accepted_formats() -> None:
    """Register the accepted formats' Pillow plugins, and only those: `Image.init()` imports all ~45 of them, about
    20 ms of every CLI start (issue 26). Image.open(formats=ACCEPTED_FORMATS) then finds each one registered."""
    # Imported for their side effect: each module registers its format with Pillow.
    from PIL import (  # noqa: F401
        BmpImagePlugin,
        GifImagePlugin,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        WebPImagePlugin,
    )


def _not_an_image(label: str, data: bytes) -> NotAnImageError:
    claimed = sniff_format(data)
    if claimed is not None and claimed not in ACCEPTED_FORMATS:
        return NotAnImageError(f"{label}: not an image ({claimed} is not accepted; use {_ACCEPTED_TEXT})")
    return NotAnImageError(f"{label}: not an image (unrecognised format)")


def decode_image(source: bytes | Path | str, name: str | None = None, *, max_side: int | None = None) -> Image.Image:
    """Decode `source` (bytes or a file path) to a fully loaded, upright RGB image.

    `max_side`: the caller needs at most this many pixels on the longer side, so a JPEG at least twice
    that size is decoded at a reduced DCT scale (1/2, 1/4 or 1/8: several times faster, a fraction of the
    memory) that still keeps its longer side >= max_side; other formats decode at full size and are then
    box-reduced by an integer factor to the same bound. The default None keeps the full size. Which inputs are
    refused never depends on max_side.

    Raises NotAnImageError when the bytes are in no accepted format, PosterDecodeError (its base) naming
    `name` (or the path) and the problem for everything else: truncated or corrupt, too large, too small.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    if isinstance(source, (str, Path)):
        data = read_image_file(source, label, max_bytes=CATALOG_MAX_FILE_BYTES)
    else:
        data = bytes(source)
    if not data:
        raise NotAnImageError(f"{label}: not an image (empty file)")
    try:
        return _decode(data, label, max_side)
    except PosterDecodeError:
        raise
    except Exception as exc:  # any decoder failure on hostile bytes is this input's fault
        raise PosterDecodeError(f"{label}: truncated or corrupt image ({type(exc).__name__}: {exc})") from exc


def _decode(data: bytes, label: str, max_side: int | None) -> Image.Image:
    _register_accepted_formats()
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused in the header already; its message holds the pixel count, not the sides.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "the image"
        raise PosterDecodeError(f"{label}: too large: {size} exceeds the limit of {MAX_PIXELS:,} pixels") from exc
    except UnidentifiedImageError as exc:
        claimed = sniff_format(data)
        if claimed in ACCEPTED_FORMATS:  # the right magic bytes, but a header Pillow could not parse
            raise PosterDecodeError(f"{label}: truncated or corrupt image header ({claimed})") from exc
        raise _not_an_image(label, data) from exc
    except Exception as exc:  # a recognised header that is malformed, whatever the plugin raised
        raise PosterDecodeError(f"{label}: truncated or corrupt image header ({type(exc).__name__}: {exc})") from exc

    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PosterDecodeError(
            f"{label}: too large: {width}×{height} pixels exceeds the limit of {MAX_PIXELS:,} pixels"
        )
    if min(width, height) < MIN_SIDE:
        raise PosterDecodeError(f"{label}: too small: {width}×{height} pixels (each side must be ≥ {MIN_SIDE})")

    if max_side is not None and image.format in ("JPEG", "MPO") and max(width, height) >= 2 * max_side:
        longer = max(width, height)
        # draft() picks the largest scale that keeps both sides >= the size asked for: ask for the image
        # shrunk to max_side on its longer side, so the result keeps at least max_side there.
        image.draft(None, (max(1, width * max_side // longer), max(1, height * max_side // longer)))

    try:
        image.load()  # full decode; Pillow raises on truncation (LOAD_TRUNCATED_IMAGES stays False)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PosterDecodeError(f"{label}: too large: {exc}") from exc

    with contextlib.suppress(Exception):  # a malformed EXIF block must not reject an otherwise good image
        ImageOps.exif_transpose(image, in_place=True)  # no copy of a (large) upright image
    return _reduced(_to_rgb(image), max_side)


def _reduced(image: Image.Image, max_side: int | None) -> Image.Image:
    """A decoded image other formats could not draft, box-reduced by the integer factor that keeps its longer side
    >= max_side, as a drafted JPEG is: what follows (letterbox, heatmaps, a brief's kept variants) then holds a few
    megapixels, not the forty a small PNG can declare (issue 26: six such PNGs took a brief to +1.3 GB)."""
    longer = max(image.size)
    if max_side is None or longer < 2 * max_side:
        return image
    return image.reduce(longer // max_side)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is composited on white rather than dropped to black."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit / integer / float grayscale: scale to 8 bits instead of clipping at 255.
        image = image.convert("F")
        low, high = cast(tuple[float, float], image.getextrema())  # one band: (min, max)
        scale = 255.0 / (high - low) if high > low else 0.0
        image = image.point(lambda v: (v - low) * scale).convert("L")
    has_alpha = image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        image.mode in ("P", "L", "RGB") and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
