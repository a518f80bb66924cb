"""Hostile bytes against the one decoder: only typed errors come out, and only six formats get in.

Every crafted file is made here: real files in refused formats saved by Pillow itself, and a few hundred
seeded mutations (bytes overwritten, truncated) of real JPEG, PNG, GIF, TIFF, WebP and BMP files.
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image, features

from postergenre.errors import NotAnImageError, PosterDecodeError
from postergenre.posters.images import ACCEPTED_FORMATS, decode_image

pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning"),  # Pillow on odd TIFF tags: expected here
    pytest.mark.filterwarnings("ignore:IM image format is deprecated:DeprecationWarning"),
]

_SIZE = (64, 96)


def _picture(mode: str = "RGB") -> Image.Image:
    """A 64×96 gradient (not flat, so encoders produce real entropy-coded data to mutate)."""
    image = Image.new("RGB", _SIZE)
    image.putdata([(x * 4, y * 2, (x * y) % 256) for y in range(_SIZE[1]) for x in range(_SIZE[0])])
    return image.convert(mode)


def _encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


# (format, mode to save from, save options): formats Pillow can open and write, none of them accepted.
_REFUSED = [
    ("AVIF", "RGB", {}),
    ("BLP", "P", {}),
    ("DDS", "RGB", {}),
    ("ICO", "RGB", {}),
    ("ICNS", "RGB", {}),
    ("QOI", "RGB", {}),
    ("PCX", "RGB", {}),
    ("TGA", "RGB", {}),
    ("SGI", "RGB", {}),
    ("JPEG2000", "RGB", {}),
    ("PPM", "RGB", {}),
    ("IM", "RGB", {}),
    ("SPIDER", "F", {}),
    ("MSP", "1", {}),
    ("XBM", "1", {}),
    ("PDF", "RGB", {}),
    ("EPS", "RGB", {}),
    ("DIB", "RGB", {}),
]


def _refused_file(fmt: str, mode: str, options: dict) -> bytes:
    try:
        return _encode(_picture(mode), fmt, **options)
    except (KeyError, OSError, ValueError) as exc:  # this Pillow build has no encoder for it
        pytest.skip(f"Pillow here cannot write {fmt}: {exc}")


@pytest.mark.parametrize("fmt,mode,options", _REFUSED, ids=[f for f, _, _ in _REFUSED])
def test_formats_outside_the_allow_list_are_not_images(fmt: str, mode: str, options: dict) -> None:
    data = _refused_file(fmt, mode, options)
    with pytest.raises(NotAnImageError, match=r"^poster\.bin: not an image \("):
        decode_image(data, name="poster.bin")


def test_a_psd_header_is_not_an_image() -> None:
    # Photoshop: 8BPS, version 1, 6 reserved bytes, 3 channels, 96×64, 8 bits, RGB, then empty sections.
    header = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, _SIZE[1], _SIZE[0], 8, 3) + b"\0" * 12
    with pytest.raises(NotAnImageError, match="PSD is not accepted"):
        decode_image(header + bytes(3 * _SIZE[0] * _SIZE[1]), name="layers.psd")


def test_crafted_blp_and_avif_give_typed_errors() -> None:
    """The issue's crashes: a BLP whose compression field is unknown raised BLPFormatError (a
    NotImplementedError) from load(); now the format is refused before any BLP code runs."""
    blp = bytearray(_encode(_picture("P"), "BLP"))
    blp[4:8] = struct.pack("<i", 7)
    with pytest.raises(NotAnImageError, match="BLP is not accepted"):
        decode_image(bytes(blp), name="crash.bin")
    if features.check("avif"):
        avif = _encode(_picture(), "AVIF")
        with pytest.raises(NotAnImageError, match="AVIF is not accepted"):
            decode_image(avif[: len(avif) // 2], name="crash.avif")


_ACCEPTED_SEEDS = {
    "jpeg": lambda: _encode(_picture(), "JPEG", quality=90),
    "jpeg-progressive": lambda: _encode(_picture(), "JPEG", progressive=True),
    "png": lambda: _encode(_picture(), "PNG"),
    "png-palette": lambda: _encode(_picture("P"), "PNG"),
    "gif": lambda: _encode(_picture("P"), "GIF"),
    "tiff": lambda: _encode(_picture(), "TIFF"),
    "tiff-lzw": lambda: _encode(_picture(), "TIFF", compression="tiff_lzw"),
    "tiff-jpeg": lambda: _encode(_picture(), "TIFF", compression="jpeg"),
    "tiff-16bit": lambda: _encode(_picture("I;16"), "TIFF"),
    "webp": lambda: _encode(_picture(), "WEBP"),
    "webp-lossless": lambda: _encode(_picture(), "WEBP", lossless=True),
    "bmp": lambda: _encode(_picture(), "BMP"),
    "bmp-palette": lambda: _encode(_picture("P"), "BMP"),
}


def _mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """`count` seeded variants: a few bytes overwritten (mostly in the header), or the file cut short."""
    out = []
    for _ in range(count):
        if rng.random() < 0.2:
            out.append(data[: rng.randrange(1, len(data))])
            continue
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            where = rng.randrange(min(len(mutated), 256) if rng.random() < 0.8 else len(mutated))
            mutated[where] = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        out.append(bytes(mutated))
    return out


@pytest.mark.parametrize("seed_name", sorted(_ACCEPTED_SEEDS))
def test_mutated_accepted_formats_give_only_typed_errors(seed_name: str) -> None:
    original = _ACCEPTED_SEEDS[seed_name]()
    assert decode_image(original).size == _SIZE  # the unmutated seed is a good poster
    rng = random.Random(f"postergenre-{seed_name}")
    outcomes = {"decoded": 0, "refused": 0}
    for number, data in enumerate(_mutations(original, rng, 40)):
        name = f"{seed_name}-{number}.bin"
        try:
            image = decode_image(data, name=name)
        except PosterDecodeError as exc:  # anything else propagates and fails the test with its traceback
            assert str(exc).startswith(f"{name}: "), str(exc)
            outcomes["refused"] += 1
        else:
            assert image.mode == "RGB" and min(image.size) >= 32
            outcomes["decoded"] += 1
    assert sum(outcomes.values()) == 40


@pytest.mark.parametrize(
    "fmt,mode,options",
    [r for r in _REFUSED if r[0] in ("AVIF", "BLP", "DDS", "ICO")],
    ids=["AVIF", "BLP", "DDS", "ICO"],
)
def test_mutated_refused_formats_give_only_typed_errors(fmt: str, mode: str, options: dict) -> None:
    original = _refused_file(fmt, mode, options)
    rng = random.Random(f"postergenre-{fmt}")
    for number, data in enumerate(_mutations(original, rng, 40)):
        with pytest.raises(PosterDecodeError, match=f"^{fmt}-{number}: "):
            decode_image(data, name=f"{fmt}-{number}")


def test_accepted_formats_all_decode() -> None:
    encoders = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}
    assert set(encoders) == set(ACCEPTED_FORMATS)
    for fmt, seed in encoders.items():
        assert decode_image(_ACCEPTED_SEEDS[seed](), name=fmt).size == _SIZE, fmt


def test_a_broken_header_in_an_accepted_format_is_corrupt_not_foreign() -> None:
    png = _encode(_picture(), "PNG")
    broken = png[:12] + b"XXXX" + png[16:]  # the IHDR chunk's type overwritten
    with pytest.raises(PosterDecodeError, match=r"^bad\.png: truncated or corrupt image header \(PNG\)") as info:
        decode_image(broken, name="bad.png")
    assert not isinstance(info.value, NotAnImageError)
