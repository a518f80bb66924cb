"""Input geometry and normalisation: one numpy function shared by training and prediction."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from postergenre.features.preprocess import Letterbox, preprocess, preprocess_batch
from postergenre.features.registry import backbone_names, get_backbone
from postergenre.posters.images import decode_image

SPEC = get_backbone()
BOX = SPEC.preprocessing


def _solid(w: int, h: int, rgb=(255, 0, 0)) -> Image.Image:
    return Image.new("RGB", (w, h), rgb)


def test_typical_poster_fills_the_input_with_thin_side_padding():
    x = BOX.batch([_solid(182, 268)])[0]
    assert x.shape == (3, 320, 224) and x.dtype == np.float32 and x.flags.c_contiguous
    # 182×268 scaled by 320/268 -> 217×320: 7 grey columns (3 left, 4 right), pad normalises to 0
    assert BOX.placement(182, 268) == (3, 0, 217, 320)
    red = x[0]
    assert np.all(red[:, :3] == 0) and np.all(red[:, -4:] == 0)
    np.testing.assert_allclose(red[:, 3:-4], (255 - 127) / 128)
    np.testing.assert_allclose(x[1, :, 3:-4], (0 - 127) / 128)


def test_aspect_is_kept_for_wide_images():
    x = BOX.batch([_solid(600, 200)])[0]  # 3:1 banner -> 224×75 band centred vertically
    content_rows = np.flatnonzero((x[0] != 0).any(axis=1))
    left, top, nw, nh = BOX.placement(600, 200)
    assert (left, nw, nh) == (0, 224, 75)
    assert len(content_rows) == nh and content_rows[0] == top == (320 - 75) // 2


def test_exact_size_needs_no_padding_and_any_mode_is_accepted():
    x = BOX.batch([_solid(224, 320, (127, 127, 127)).convert("L")])
    assert x.shape == (1, 3, 320, 224) and np.all(x == 0)
    assert BOX.batch([]).shape == (0, 3, 320, 224)


def test_batch_single_and_torch_paths_agree_on_real_posters(shared_data, shared_rows):
    torch = pytest.importorskip("torch")
    images = [decode_image(shared_data / row["poster"]) for row in shared_rows[:400:50]]
    batch = BOX.batch(images)
    singles = np.stack([BOX.batch([im])[0] for im in images])
    assert np.array_equal(batch, singles)
    assert np.abs(batch).max() <= 128 / 128 + 1e-6
    # the torch view (Grad-CAM's input) is the same numbers; normalize is (pixel - mean) / std in float32
    assert torch.equal(preprocess_batch(images, SPEC), torch.from_numpy(batch))
    assert torch.equal(preprocess(images[0], SPEC), torch.from_numpy(batch[0]))
    pixels = BOX.prepare_pixels(images[0]).astype(np.float32)
    expected = (pixels - np.float32(127)) / np.float32(128)
    assert np.array_equal(batch[0], expected.transpose(2, 0, 1))


def test_preprocess_version_names_geometry_and_normalisation():
    v = SPEC.preprocess_version
    assert "224x320" in v and "mean127" in v and "std128" in v and v.endswith("-v1")
    assert {get_backbone(name).preprocess_version for name in backbone_names()} == {v}


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92)
    return out.getvalue()


def test_large_jpegs_are_decoded_smaller_but_never_below_twice_the_canvas(shared_data, shared_rows):
    assert BOX.decode_max_side == 2 * 320
    path = shared_data / shared_rows[0]["poster"]
    poster = decode_image(path)
    small = decode_image(path, max_side=BOX.decode_max_side)  # shared posters (~182×268): pixels unchanged
    assert small.size == poster.size and np.array_equal(BOX.prepare_pixels(small), BOX.prepare_pixels(poster))
    big = _jpeg(poster.resize((poster.width * 8, poster.height * 8), Image.Resampling.BICUBIC))
    full = decode_image(big)
    drafted = decode_image(big, max_side=BOX.decode_max_side)
    assert max(drafted.size) < max(full.size) and max(drafted.size) >= BOX.decode_max_side
    # drafted and full decodes give nearly the same network input
    assert np.abs(BOX.batch([drafted]) - BOX.batch([full])).mean() < 0.02


def test_placement_is_the_geometry_the_letterbox_draws():
    box = Letterbox(100, 60, (0, 0, 0), (1, 1, 1), pad=0)
    for w, h in [(37, 91), (300, 10), (100, 60), (1, 1)]:
        left, top, nw, nh = box.placement(w, h)
        pixels = box.prepare_pixels(_solid(w, h, (255, 255, 255)))
        rows = np.flatnonzero(pixels[:, :, 0].any(axis=1))
        cols = np.flatnonzero(pixels[:, :, 0].any(axis=0))
        assert (cols[0], rows[0], len(cols), len(rows)) == (left, top, nw, nh), (w, h)
