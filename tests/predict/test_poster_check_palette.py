"""The poster check is robust to palette (quantised) posters and still flags what is no poster (issue 20).

A 64-colour palette moves a poster's check score by about ±0.4 (std over 270 shared posters near the bar; decoding
is not the cause: a palette PNG and its RGB copy score the same), so a poster just under the bar could be called
"not a movie poster" after an agency's GIF/PNG export. These shared posters were: their 64-colour copies scored
4.21-4.72 against a bar of 4.21.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

FLIPPED_BY_A_PALETTE = [
    "tt0817225",
    "tt1275778",
    "tt0134770",
    "tt1594534",
    "tt1911658",
    "tt2363518",
    "tt1270262",
    "tt0116640",
    "tt0464038",
]


def _palette_copies(path: Path) -> list[Image.Image | bytes]:
    image = Image.open(path).convert("RGB")
    png = io.BytesIO()
    image.quantize(64).save(png, "PNG")  # a palette ("P" mode) file, decoded by the one decoder
    return [image.quantize(64).convert("RGB"), png.getvalue()]


def test_real_posters_reduced_to_64_colours_still_pass(predictor, shared_data: Path) -> None:
    paths = [shared_data / "posters" / f"{i}.jpg" for i in FLIPPED_BY_A_PALETTE]
    paths = [p for p in paths if p.is_file()]
    if len(paths) < 5:
        pytest.skip("the shared posters of this test are missing")
    for path in paths:
        assert predictor.predict(path).poster_check["is_poster"], path.name
        for copy in _palette_copies(path):
            check = predictor.predict(copy).poster_check
            assert check["is_poster"], (path.name, check)


def test_what_is_no_poster_is_still_flagged(predictor) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    rng = np.random.default_rng(0)
    screen = Image.new("RGB", (1280, 800), (245, 245, 245))
    draw = ImageDraw.Draw(screen)
    for y in range(20, 800, 22):
        draw.text((20, y), f"def function_{y}(x): return x * {y}  # code on a screen", fill=(20, 20, 20))
    never_posters = [
        Image.new("RGB", (400, 600), (40, 90, 200)),
        Image.new("RGB", (400, 600), (255, 255, 255)),
        Image.fromarray(rng.integers(0, 256, (600, 400, 3), dtype=np.uint8)),
        Image.fromarray(np.tile(np.linspace(0, 255, 400, dtype=np.uint8), (600, 1))).convert("RGB"),
        screen,
    ]
    assert not any(predictor.predict(im).poster_check["is_poster"] for im in never_posters)
    photos = [
        Image.fromarray(getattr(skimage_data, n)()).convert("RGB") for n in ("chelsea", "rocket", "camera", "cat")
    ]
    assert sum(not predictor.predict(im).poster_check["is_poster"] for im in photos) >= 3
