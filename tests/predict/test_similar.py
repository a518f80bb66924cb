"""Nearest-neighbour indexes and comparable titles from a real embedded catalog."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from postergenre.errors import ModelError
from postergenre.predict.similar import ExactIndex, HnswIndex, build_index


def _clustered(n: int = 600, d: int = 48, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d))
    vectors = centres[rng.integers(0, 12, n)] + 0.3 * rng.normal(size=(n, d))
    return [f"k{i}" for i in range(n)], vectors.astype(np.float32)


def test_exact_index_returns_cosine_order_and_scores() -> None:
    keys, vectors = _clustered()
    index = ExactIndex(keys, vectors)
    query = vectors[7] * 3.0  # scale must not matter for cosine
    hits = index.search(query, 5)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.argsort(-(unit @ (query / np.linalg.norm(query))))[:5]
    assert [k for k, _ in hits] == [keys[i] for i in expected]
    assert hits[0] == ("k7", pytest.approx(1.0, abs=1e-5))
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(hits))
    assert len(index.search(query, 10_000)) == len(keys)


def test_hnsw_index_agrees_with_exact_behind_the_same_interface() -> None:
    keys, vectors = _clustered()
    exact, approx = ExactIndex(keys, vectors), HnswIndex(keys, vectors)
    recalls = []
    for q in range(0, 600, 37):
        want = {k for k, _ in exact.search(vectors[q], 10)}
        got = approx.search(vectors[q], 10)
        recalls.append(len(want & {k for k, _ in got}) / 10)
        assert got[0][0] == f"k{q}" and got[0][1] == pytest.approx(1.0, abs=1e-4)
    assert np.mean(recalls) >= 0.95
    assert isinstance(build_index(keys, vectors, "hnsw"), HnswIndex)
    assert isinstance(build_index(keys, vectors), ExactIndex)  # small catalogs: exact


def test_similar_on_embedded_catalog_excludes_the_query(predictor, small_home: Path) -> None:
    from postergenre.catalog.store import Catalog
    from postergenre.posters.store import PosterStore

    with Catalog(small_home / "catalog.sqlite") as catalog:
        movies = [m for m in catalog.movies() if m.poster_status == "ok"]
    query = movies[0]
    poster = PosterStore(small_home / "posters").path(query.poster_sha256)

    titles = predictor.similar(poster, k=5, home=small_home)

    assert len(titles) == 5
    assert query.poster_sha256 not in {t.poster_sha256 for t in titles}
    by_id = {m.imdb_id: m for m in movies}
    for t in titles:
        assert t.title and t.title == by_id[t.imdb_id].title and t.genres == list(by_id[t.imdb_id].genres)
    assert all(a.score >= b.score for a, b in itertools.pairwise(titles))
    assert titles[0].to_dict()["imdb_id"] == titles[0].imdb_id
    # decoded pixels carry no file hash: the identical catalog poster is still recognised and left out
    from PIL import Image

    by_pixels = predictor.similar(Image.open(poster), k=5, home=small_home)
    assert [t.imdb_id for t in by_pixels] == [t.imdb_id for t in titles]


def test_similar_without_embeddings_says_which_command_to_run(predictor, home: Path, three_posters) -> None:
    with pytest.raises(ModelError, match="postergenre embed"):
        predictor.similar(three_posters[0], k=3, home=home)


def test_similar_filters_by_year_and_genre_and_reads_in_words(predictor, small_home: Path) -> None:
    from postergenre.catalog.store import Catalog
    from postergenre.posters.store import PosterStore
    from postergenre.predict.similar import MATCH_WORDS, SimilarFilter

    with Catalog(small_home / "catalog.sqlite") as catalog:
        movies = [m for m in catalog.movies() if m.poster_status == "ok"]
    poster = PosterStore(small_home / "posters").path(movies[0].poster_sha256)
    unfiltered = predictor.similar(poster, k=1000, home=small_home)  # the whole small catalog, ranked
    genre = movies[0].genres[0]
    where = SimilarFilter(year_min=1990, genres=frozenset({genre}))

    filtered = predictor.similar(poster, k=5, where=where, home=small_home)

    expected = [t.imdb_id for t in unfiltered if t.year and t.year >= 1990 and genre in t.genres][:5]
    assert [t.imdb_id for t in filtered] == expected and expected  # same order, only titles that pass
    assert all(t.match in MATCH_WORDS for t in filtered)
    scale = predictor.similarity(small_home).scale
    assert scale.words(scale.very_close) == "very close" and scale.words(scale.close - 1e-6) == "loose"
    nothing = predictor.similar(poster, k=5, where=SimilarFilter(ratings=frozenset({"NC-17"})), home=small_home)
    assert len(nothing) == 0


def test_match_words_on_a_small_catalog_call_another_kind_of_poster_loose():
    from postergenre.predict.similar import ExactIndex, MatchScale

    # 16 posters of 4 kinds (4 each): a poster's 10th neighbour is of another kind, so "close" by the 10th-best
    # match alone would call posters of another kind close; the scale must not, and keeps its own kind close.
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 64))
    vectors = np.repeat(centres, 4, axis=0) + 0.2 * rng.normal(size=(16, 64))
    index = ExactIndex([f"p{i}" for i in range(16)], vectors)
    scale = MatchScale.calibrate(index, vectors)
    same_kind = [s for _, s in index.search(vectors[0], 4)[1:]]
    other_kind = [s for _, s in index.search(vectors[0], 16)[4:]]
    assert all(scale.words(s) in ("very close", "close") for s in same_kind)
    assert all(scale.words(s) == "loose" for s in other_kind)
