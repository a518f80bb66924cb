"""Input geometry and normalisation: one function shared by training and prediction."""

from __future__ import annotations

import torch
from PIL import Image

from postergenre.features.backbones import BACKBONES, get_backbone
from postergenre.features.preprocess import preprocess, preprocess_batch
from postergenre.posters.images import decode_image

SPEC = get_backbone()


def _solid(w: int, h: int, rgb=(255, 0, 0)) -> Image.Image:
    return Image.new("RGB", (w, h), rgb)


def test_typical_poster_fills_the_input_with_thin_side_padding():
    x = preprocess(_solid(182, 268), SPEC)
    assert x.shape == (3, 320, 224) and x.dtype == torch.float32
    # 182×268 scaled by 320/268 -> 217×320: 7 grey columns (3 left, 4 right), pad normalises to 0
    red = x[0]
    assert torch.all(red[:, :3] == 0) and torch.all(red[:, -4:] == 0)
    assert torch.allclose(red[:, 3:-4], torch.tensor((255 - 127) / 128))
    assert torch.allclose(x[1, :, 3:-4], torch.tensor((0 - 127) / 128))


def test_aspect_is_kept_for_wide_images():
    x = preprocess(_solid(600, 200), SPEC)  # 3:1 banner -> 224×75 band centred vertically
    content_rows = (x[0] != 0).any(dim=1).nonzero().flatten()
    assert content_rows.numel() == 75 and content_rows[0] == (320 - 75) // 2


def test_exact_size_needs_no_padding_and_any_mode_is_accepted():
    x = preprocess(_solid(224, 320, (127, 127, 127)).convert("L"), SPEC)
    assert x.shape == (3, 320, 224) and torch.all(x == 0)


def test_batch_and_single_paths_agree_on_real_posters(shared_data, shared_rows):
    images = [decode_image(shared_data / row["poster"]) for row in shared_rows[:400:50]]
    batch = preprocess_batch(images, SPEC)
    singles = torch.stack([preprocess(im, SPEC) for im in images])
    assert torch.equal(batch, singles)
    assert batch.abs().max() <= 128 / 128 + 1e-6


def test_preprocess_version_names_geometry_and_normalisation():
    v = SPEC.preprocess_version
    assert "224x320" in v and "mean127" in v and "std128" in v and v.endswith("-v1")
    assert {spec.preprocess_version for spec in BACKBONES.values()} == {v}
