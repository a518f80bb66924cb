"""The embedding cache: exact round trips, isolation by backbone and preprocessing, fast bulk loads."""

from __future__ import annotations

import numpy as np
import pytest

from postergenre.features.cache import EmbeddingCache, MissingEmbeddingsError


def _shas(n: int, start: int = 0) -> list[str]:
    return [f"{i:064x}" for i in range(start, start + n)]


def test_roundtrip_keeps_values_and_order(tmp_path):
    rng = np.random.default_rng(0)
    shas, vectors = _shas(50), rng.normal(size=(50, 2848)).astype(np.float32)
    with EmbeddingCache(tmp_path / "c.sqlite", "efficientnet-lite0", "v1") as cache:
        cache.put_many(shas, vectors)
        assert cache.count() == 50
        order = [shas[7], shas[3], shas[7], shas[49]]
        np.testing.assert_array_equal(cache.get(order), vectors[[7, 3, 7, 49]])
        assert cache.missing(shas[45:] + _shas(3, 100)) == _shas(3, 100)
        loaded_shas, loaded = cache.load_all()
        assert loaded_shas == sorted(shas) and loaded.dtype == np.float32
        np.testing.assert_array_equal(loaded, vectors[np.argsort(shas)])


def test_vectors_of_another_backbone_or_preprocessing_are_invisible(tmp_path):
    db = tmp_path / "c.sqlite"
    EmbeddingCache(db, "efficientnet-lite0", "v1").put_many(_shas(3), np.ones((3, 4), np.float32))
    for backbone, version in (("efficientnet-lite1", "v1"), ("efficientnet-lite0", "v2")):
        other = EmbeddingCache(db, backbone, version)
        assert other.count() == 0 and other.missing(_shas(3)) == _shas(3)
        with pytest.raises(MissingEmbeddingsError) as err:
            other.get(_shas(3))
        assert "3 of 3" in str(err.value) and f"postergenre embed --backbone {backbone}" in str(err.value)


def test_failures_are_recorded_and_cleared_by_a_later_success(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "b", "v")
    cache.mark_failed(_shas(1)[0], "poster x: truncated or corrupt image")
    assert cache.failures() == {_shas(1)[0]: "poster x: truncated or corrupt image"}
    with pytest.raises(MissingEmbeddingsError, match="1 of them failed to decode"):
        cache.get(_shas(1))
    cache.put_many(_shas(1), np.zeros((1, 4), np.float32))
    assert cache.failures() == {}


def test_a_bad_vector_aborts_the_whole_batch(tmp_path):
    cache = EmbeddingCache(tmp_path / "c.sqlite", "b", "v")
    vectors = np.ones((3, 4), np.float32)
    vectors[2, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        cache.put_many(_shas(3), vectors)
    assert cache.count() == 0


def test_a_large_request_is_read_by_one_scan_in_the_requested_order(tmp_path):
    """More hashes than 4 IN-chunks take the full-scan path; order and duplicates must still be kept."""
    n, dim = 2_500, 64
    shas = _shas(n)
    cache = EmbeddingCache(tmp_path / "c.sqlite", "efficientnet-lite0", "v1")
    block = np.random.default_rng(1).normal(size=(n, dim)).astype(np.float32)
    cache.put_many(shas, block)
    reopened = EmbeddingCache(tmp_path / "c.sqlite", "efficientnet-lite0", "v1")
    order = np.random.default_rng(2).permutation(n).tolist() + [0, 0]
    vectors = reopened.get([shas[i] for i in order])
    assert vectors.shape == (n + 2, dim)
    np.testing.assert_array_equal(vectors, block[order])
