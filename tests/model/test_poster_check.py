"""The poster check flags images that are not posters (a photo, a flat colour) and lets new posters pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from postergenre.catalog.store import Catalog
from postergenre.features.cache import EmbeddingCache
from postergenre.features.embed import embed_images
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import vector_key
from postergenre.model.poster_check import PosterCheck


@pytest.fixture(scope="module")
def poster_vectors(small_home: Path) -> np.ndarray:
    spec = get_backbone()
    with Catalog(small_home / "catalog.sqlite") as catalog:
        shas = sorted({m.poster_sha256 for m in catalog.movies() if m.poster_sha256})
    with EmbeddingCache(small_home / "catalog.sqlite", *vector_key(spec)) as cache:
        return cache.get(shas)


def test_photos_and_flat_images_are_flagged_while_new_posters_pass(poster_vectors: np.ndarray) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(poster_vectors))
    train, held_out = poster_vectors[order[:120]], poster_vectors[order[120:]]
    fitted = PosterCheck().fit(train)
    tensors, config = fitted.to_tensors(), fitted.config()
    assert all(v.ndim <= 2 and v.shape[0] <= max(config["components"], train.shape[1]) for v in tensors.values())
    check = PosterCheck.from_saved(tensors, json.loads(json.dumps(config)))  # saved and read back: the same scores
    np.testing.assert_array_equal(check.check(held_out)[0], fitted.check(held_out)[0])

    _, ok = check.check(held_out)
    assert ok.mean() >= 0.9, f"{(~ok).sum()} of {len(ok)} unseen posters flagged"

    spec = get_backbone()
    odd = [
        Image.new("RGB", (400, 600), (40, 90, 200)),  # a flat colour
        Image.new("RGB", (400, 600), (255, 255, 255)),  # a blank page
        Image.fromarray(skimage_data.chelsea()),  # photos (coffee and astronaut score like posters: within the
        Image.fromarray(skimage_data.rocket()),  # margin that keeps palette posters from being flagged)
    ]
    scores, ok = check.check(embed_images(odd, spec.build(), spec))
    assert not ok[0] and not ok[1], scores
    assert (~ok[2:]).sum() >= 1, scores  # at least one of the photographs is recognised as not a poster
    assert scores.min() > np.median(check.check(held_out)[0])
