"""A poster's views (features/views.py): the mirror made inside the letterbox is the letterbox of the mirrored poster,
a runtime computes a poster's views in one pass, and the embedding step caches each view under its own key and
computes only what a data folder misses."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageOps

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.errors import PosterGenreError
from postergenre.features.cache import EmbeddingCache, ViewCaches
from postergenre.features.embed import embed_catalog, selected_posters
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import load_runtime, vector_key
from postergenre.features.views import MIRROR, POSTER, parse_views, prepare_views, view_key
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore
from sampling import spread

SPEC = get_backbone()
BOX = SPEC.preprocessing


@pytest.fixture(scope="module")
def runtime():
    return load_runtime(SPEC, "auto")


@pytest.fixture(scope="module")
def posters(shared_data, shared_rows) -> list:
    """Real posters spread over the general catalog, plus studio posters (other sizes)."""
    general = [shared_data / row["poster"] for row in spread(shared_rows, 60, 11)]
    studio = sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    studio = [studio[int(i * len(studio) / 12)] for i in range(12)] if studio else []
    return [decode_image(p, max_side=BOX.decode_max_side) for p in general + studio]


def test_views_are_named_checked_and_the_poster_comes_first() -> None:
    assert parse_views("poster,mirror") == parse_views([" poster", "mirror "]) == (POSTER, MIRROR)
    assert parse_views(None) == parse_views("") == (POSTER,)
    for bad, words in (
        ("poster,flip", "unknown view 'flip'"),
        ("mirror,poster", "first view must be 'poster'"),
        ("poster,poster", "each view once"),
    ):
        with pytest.raises(PosterGenreError, match=words):
            parse_views(bad)


def test_the_mirror_view_is_the_letterbox_of_the_mirrored_poster_pixel_for_pixel(posters) -> None:
    odd = 0
    for image in posters:
        poster, mirror = prepare_views(BOX, image, (POSTER, MIRROR))
        np.testing.assert_array_equal(poster, BOX.prepare_pixels(image))
        np.testing.assert_array_equal(mirror, BOX.prepare_pixels(ImageOps.mirror(image)))
        left, _, width, _ = BOX.placement(*image.size)
        if (BOX.width - width - 2 * left) != 0:  # the padding is one pixel wider on the right
            odd += 1
            assert not np.array_equal(poster[:, ::-1], mirror)  # why the flip stays inside the letterbox
    assert odd >= len(posters) // 2  # most shared posters have an odd padding, so the difference is exercised


def test_a_runtime_reads_a_posters_views_in_one_pass_as_it_reads_each_image(runtime, posters) -> None:
    images = posters[:6]
    views = runtime.embed_views(images, (POSTER, MIRROR))
    assert views.shape == (6, 2, SPEC.feature_dim) and views.dtype == np.float32
    np.testing.assert_allclose(views[:, 0], runtime.embed(images), rtol=0, atol=1e-5)
    np.testing.assert_allclose(views[:, 1], runtime.embed([ImageOps.mirror(im) for im in images]), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(runtime.embed_views(images, (POSTER,))[:, 0], runtime.embed(images))
    cosine = (
        np.sum(views[:, 0] * views[:, 1], 1) / np.linalg.norm(views[:, 0], axis=1) / np.linalg.norm(views[:, 1], axis=1)
    )
    assert (cosine < 0.9999).all() and (cosine > 0.95).all()  # another view of the same poster, not a copy


def test_one_posters_views_run_side_by_side_and_read_as_in_a_batch(runtime, posters) -> None:
    images = posters[:4]
    batched = runtime.embed_views(images, (POSTER, MIRROR))  # passes of 4 images: the catalog's way
    alone = np.concatenate([runtime.embed_views([im], (POSTER, MIRROR)) for im in images])  # one poster: views apart
    np.testing.assert_array_equal(alone, batched)  # a pass's images are independent: the very same vectors
    if (os.cpu_count() or 1) > 1 and runtime.releases_gil:
        assert runtime._side_by_side is not None  # the single poster's views went to the pool, not one pass of 2


def test_each_view_is_cached_under_its_own_key_and_a_rerun_adds_only_the_missing_view(
    tmp_path, shared_rows, make_poster_home, runtime
):
    home = make_poster_home(tmp_path, spread(shared_rows, 14, 3))
    paths = get_paths(home)
    store = PosterStore(paths.posters)
    key = vector_key(SPEC)
    assert view_key(key, MIRROR) == (f"{key[0]}+mirror", key[1]) and view_key(key, POSTER) == key
    with Catalog(paths.db) as catalog:
        shas = selected_posters(catalog)
        alone = embed_catalog(catalog, store, SPEC, runtime=runtime, views=(POSTER,), workers=2)
        assert (alone.embedded, alone.views) == (len(shas), (POSTER,))
        with EmbeddingCache(paths.db, *view_key(key, MIRROR)) as mirror:
            assert mirror.count() == 0
        with sqlite3.connect(paths.db) as conn:
            before = dict(conn.execute("SELECT sha256, vector FROM embeddings WHERE backbone = ?", (key[0],)))
        both = embed_catalog(catalog, store, SPEC, runtime=runtime, workers=2)  # the default: both views
        assert (both.views, both.cached_before, both.embedded, both.posters) == (
            (POSTER, MIRROR),
            0,
            len(shas),
            len(shas),
        )
        again = embed_catalog(catalog, store, SPEC, runtime=runtime)
        assert (again.embedded, again.cached_before) == (0, len(shas))
    with sqlite3.connect(paths.db) as conn:  # the posters' own vectors were not computed again
        assert dict(conn.execute("SELECT sha256, vector FROM embeddings WHERE backbone = ?", (key[0],))) == before
    images = [decode_image(store.path(s), max_side=BOX.decode_max_side) for s in shas]
    with ViewCaches(paths.db, key, (POSTER, MIRROR)) as caches:
        cached = caches.get(shas)
        assert caches.missing(shas) == []
    np.testing.assert_allclose(cached, runtime.embed_views(images, (POSTER, MIRROR)), rtol=0, atol=1e-5)


def test_a_broken_poster_fails_every_view_it_was_embedding(tmp_path, shared_rows, make_poster_home, runtime):
    home = make_poster_home(tmp_path, spread(shared_rows, 6, 9))
    paths = get_paths(home)
    store = PosterStore(paths.posters)
    with Catalog(paths.db) as catalog:
        shas = selected_posters(catalog)
        broken: Path = store.path(shas[2])
        broken.unlink()  # a symlink into the shared data: replace it, never write through it
        broken.write_bytes(b"<html>not a poster</html>")
        first = embed_catalog(catalog, store, SPEC, runtime=runtime, batch_size=4)
        assert (first.embedded, first.failed) == (len(shas) - 1, 1) and first.complete
    with ViewCaches(paths.db, vector_key(SPEC), (POSTER, MIRROR)) as caches:
        assert set(caches.by_view[POSTER].failures()) == set(caches.by_view[MIRROR].failures()) == {shas[2]}
        assert caches.missing(shas) == [shas[2]]
