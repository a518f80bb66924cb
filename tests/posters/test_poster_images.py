"""The safe decoder on crafted inputs: bombs, non-images, truncation, every colour mode, EXIF."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path

import pytest
from PIL import Image

from postergenre.errors import PosterDecodeError, PosterGenreError
from postergenre.posters.images import MAX_PIXELS, MIN_SIDE, decode_image


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width×height, followed by one tiny IDAT: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize("width,height", [(30_000, 30_000), (8_000, 8_000)])
def test_bomb_is_refused_from_the_header_without_allocating(width: int, height: int) -> None:
    data = _png_header_only(width, height)
    tracemalloc.start()
    with pytest.raises(PosterDecodeError) as info:
        decode_image(data, name="bomb.png")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    message = str(info.value)
    assert message.startswith("bomb.png: too large: ")
    assert message.endswith(f" exceeds the limit of {MAX_PIXELS:,} pixels")
    assert peak < 5_000_000  # decoding 8000×8000 RGB would need 192 MB


@pytest.mark.parametrize(
    "data,what",
    [
        (b"", "empty file"),
        (b"hello, I am not a poster", "unrecognised format"),
        (b"<!doctype html><html><body>Service unavailable</body></html>", "unrecognised format"),
    ],
)
def test_non_images_are_refused(data: bytes, what: str) -> None:
    with pytest.raises(PosterDecodeError, match=f"^upload.bin: not an image \\({what}\\)"):
        decode_image(data, name="upload.bin")


def test_error_is_a_user_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "tt0000001.jpg"
    path.write_bytes(b"GIF89a-but-not-really")
    with pytest.raises(PosterGenreError, match=str(path)):
        decode_image(path)
    with pytest.raises(PosterDecodeError, match="cannot read file"):
        decode_image(tmp_path / "missing.jpg")


def test_truncated_jpeg_fails(shared_data: Path) -> None:
    data = (shared_data / "posters" / "tt0000003.jpg").read_bytes()
    good = decode_image(data)
    assert good.mode == "RGB" and good.size == (182, 268)
    with pytest.raises(PosterDecodeError, match=r"^cut\.jpg: truncated or corrupt"):
        decode_image(data[: len(data) // 2], name="cut.jpg")


def test_too_small_is_refused() -> None:
    data = _encode(Image.new("RGB", (MIN_SIDE - 1, 200), "red"), "PNG")
    with pytest.raises(PosterDecodeError, match=f"too small: {MIN_SIDE - 1}×200"):
        decode_image(data, name="tiny.png")
    assert decode_image(_encode(Image.new("RGB", (MIN_SIDE, MIN_SIDE)), "PNG")).size == (MIN_SIDE, MIN_SIDE)


def _pixel(data: bytes, xy: tuple[int, int] = (10, 10)) -> tuple[int, ...]:
    image = decode_image(data)
    assert image.mode == "RGB"
    return image.getpixel(xy)


def _close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def test_cmyk_jpeg_becomes_rgb() -> None:
    data = _encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG", quality=95)  # pure red in CMYK
    assert _close(_pixel(data), (255, 0, 0))


def test_palette_and_grayscale_become_rgb() -> None:
    palette = Image.new("P", (64, 64), 1)
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    assert _pixel(_encode(palette, "PNG")) == (10, 200, 30)
    assert _pixel(_encode(Image.new("L", (64, 64), 77), "PNG")) == (77, 77, 77)
    assert _pixel(_encode(Image.new("L", (64, 64), 77), "JPEG")) == (77, 77, 77)


def test_sixteen_bit_grayscale_is_scaled_not_clipped() -> None:
    image = Image.new("I;16", (64, 64), 0)
    image.paste(65535, (32, 0, 64, 64))
    decoded = decode_image(_encode(image, "PNG"))
    assert decoded.getpixel((5, 5)) == (0, 0, 0)
    assert decoded.getpixel((50, 5)) == (255, 255, 255)


def test_alpha_is_composited_on_white() -> None:
    assert _pixel(_encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG")) == (255, 255, 255)
    assert _close(_pixel(_encode(Image.new("RGBA", (64, 64), (0, 0, 0, 128)), "PNG")), (127, 127, 127), 2)
    assert _pixel(_encode(Image.new("LA", (64, 64), (0, 0)), "PNG")) == (255, 255, 255)
    assert _pixel(_encode(Image.new("LA", (64, 64), (40, 255)), "PNG")) == (40, 40, 40)
    keyed = Image.new("P", (64, 64), 0)
    keyed.putpalette([1, 2, 3, 200, 0, 0] + [0] * 762)
    keyed.paste(1, (32, 0, 64, 64))
    decoded = decode_image(_encode(keyed, "PNG", transparency=0))
    assert decoded.getpixel((5, 5)) == (255, 255, 255) and decoded.getpixel((50, 5)) == (200, 0, 0)


def test_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (40, 80), "blue")
    stored.paste((255, 0, 0), (0, 0, 40, 40))  # red top half as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    decoded = decode_image(_encode(stored, "JPEG", exif=exif.tobytes(), quality=95))
    assert decoded.size == (80, 40)
    assert _close(decoded.getpixel((70, 20)), (255, 0, 0))  # the top moved to the right
    assert _close(decoded.getpixel((10, 20)), (0, 0, 255))


def test_max_side_decodes_large_jpegs_at_a_reduced_scale() -> None:
    big = Image.new("RGB", (2000, 3000))
    big.paste((200, 30, 30), (0, 0, 2000, 1500))  # red top half, blue bottom half
    big.paste((20, 40, 220), (0, 1500, 2000, 3000))
    data = _encode(big, "JPEG", quality=90)
    full = decode_image(data)
    assert full.size == (2000, 3000)  # the default is unchanged: full size
    small = decode_image(data, max_side=320)
    # 1/8 scale is the largest that keeps the longer side >= 320 (3000 / 8 = 375)
    assert small.size == (250, 375) and small.mode == "RGB"
    assert _close(small.getpixel((125, 50)), (200, 30, 30)) and _close(small.getpixel((125, 320)), (20, 40, 220))
    assert decode_image(data, max_side=1000).size == (1000, 1500)  # 1/2: 1/4 would leave 750 < 1000
    assert decode_image(data, max_side=1600).size == (2000, 3000)  # less than twice as large: full size


def test_max_side_reduces_other_formats_after_decoding() -> None:
    """A PNG (no reduced decode) is box-reduced by the integer factor that keeps its longer side >= max_side, so a
    huge image costs what follows no more than a drafted JPEG; below twice max_side it stays whole."""
    big = Image.new("RGB", (400, 600))
    big.paste((200, 30, 30), (0, 0, 400, 300))
    big.paste((20, 40, 220), (0, 300, 400, 600))
    png = _encode(big, "PNG")
    assert decode_image(png).size == (400, 600)
    reduced = decode_image(png, max_side=100)  # factor 6 = 600 // 100
    assert reduced.size == (67, 100) and reduced.mode == "RGB"
    assert _close(reduced.getpixel((30, 20)), (200, 30, 30)) and _close(reduced.getpixel((30, 80)), (20, 40, 220))
    assert decode_image(png, max_side=250).size == (200, 300)  # factor 2 keeps 300 >= 250
    assert decode_image(png, max_side=301).size == (400, 600)  # less than twice as large: full size
    palette = _encode(big.convert("P", palette=Image.Palette.ADAPTIVE, colors=4), "PNG")
    assert decode_image(palette, max_side=100).size == (67, 100)  # any mode, through RGB first
