"""The one safe image decoder: every poster (attached, fetched, uploaded) goes through here.

Training, prediction and the service must see identical pixels for identical bytes, and no input may
exhaust memory, so the checks live in one function:

* the pixel count is read from the header and refused *before* any pixel is decoded (bombs);
* the image is fully decoded, so a truncated or corrupt file fails here instead of later;
* EXIF orientation is applied, and every mode (CMYK, grayscale, palette, 16-bit, alpha) becomes RGB,
  transparent areas composited on white (posters are shown on white pages).
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import PosterDecodeError

MAX_PIXELS = 40_000_000  # 40 megapixels: far above any poster, far below what exhausts memory
MIN_SIDE = 32  # a poster smaller than this carries no usable visual information

# Pillow's own bomb guard warns between MAX_IMAGE_PIXELS and twice that; make it an error so a
# warning can never let an oversized image through (our MAX_PIXELS is lower anyway).
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_BACKGROUND = (255, 255, 255)


def decode_image(source: bytes | Path | str, name: str | None = None) -> Image.Image:
    """Decode `source` (bytes or a file path) to a fully loaded, upright RGB image.

    Raises PosterDecodeError naming `name` (or the path) and the problem: not an image, truncated or
    corrupt, too large, too small.
    """
    label = name or (str(source) if isinstance(source, (str, Path)) else "<bytes>")
    if isinstance(source, (str, Path)):
        try:
            data = Path(source).read_bytes()
        except OSError as exc:
            raise PosterDecodeError(f"{label}: cannot read file ({exc.strerror or exc})") from exc
    else:
        data = bytes(source)
    if not data:
        raise PosterDecodeError(f"{label}: not an image (empty file)")

    try:
        image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refused in the header already; its message holds the pixel count, not the sides.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "the image"
        raise PosterDecodeError(f"{label}: too large: {size} exceeds the limit of {MAX_PIXELS:,} pixels") from exc
    except UnidentifiedImageError as exc:
        raise PosterDecodeError(f"{label}: not an image (unrecognised format)") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # a recognised header that is malformed
        raise PosterDecodeError(f"{label}: truncated or corrupt image header ({exc})") from exc

    width, height = image.size
    if width * height > MAX_PIXELS:
        raise PosterDecodeError(
            f"{label}: too large: {width}×{height} pixels exceeds the limit of {MAX_PIXELS:,} pixels"
        )
    if min(width, height) < MIN_SIDE:
        raise PosterDecodeError(f"{label}: too small: {width}×{height} pixels (each side must be ≥ {MIN_SIDE})")

    try:
        image.load()  # full decode; Pillow raises on truncation (LOAD_TRUNCATED_IMAGES stays False)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PosterDecodeError(f"{label}: too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise PosterDecodeError(f"{label}: truncated or corrupt image ({exc})") from exc

    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a malformed EXIF block must not reject an otherwise good image
        pass
    return _to_rgb(image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency is composited on white rather than dropped to black."""
    if image.mode == "RGB" and "transparency" not in image.info:
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16-bit / integer / float grayscale: scale to 8 bits instead of clipping at 255.
        image = image.convert("F")
        low, high = image.getextrema()
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
