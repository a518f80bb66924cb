"""The look-alike vote prototype (benchmarks/lookalike.py): leave-one-out, the saved form, the search."""

from __future__ import annotations

import numpy as np
import pytest
from lookalike import LookalikeVote, blend, top_neighbours, unit_rows


def _clusters(n: int = 600, d: int = 40, g: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posters in g look-alike clusters; a poster carries its cluster's genre (and a random second one)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(g, d)) * 3
    c = rng.integers(0, g, n)
    X = (centres[c] + rng.normal(size=(n, d))).astype(np.float32)
    Y = np.zeros((n, g), dtype=np.int8)
    Y[np.arange(n), c] = 1
    Y[np.arange(n), rng.integers(0, g, n)] = 1
    return X, Y, c


@pytest.mark.parametrize("dtype", ["int8", "float16", "float32"])
def test_a_catalog_poster_never_votes_for_itself(dtype: str) -> None:
    X, Y, _ = _clusters()
    vote = LookalikeVote(k=10, dims=8, index_dtype=dtype).fit(X, Y)
    Q, M = vote.codes(X), vote._search_matrix()
    assert np.allclose(np.sum(Q * M, 1), 1.0, atol=1e-5)  # its own row sits at cosine 1 ...
    idx, _ = top_neighbours(Q, M, 10, identical=vote.identical)
    assert not (idx == np.arange(len(X))[:, None]).any()  # ... and is never among its neighbours
    # Leave-one-out: the vote equals that of an index without the poster.
    i = 17
    rest = np.delete(np.arange(len(X)), i)
    sims = Q[i] @ M[rest].T
    top = rest[np.argsort(-sims, kind="stable")[:10]]
    expected = (Y[top].sum(0) + vote.prior_) / (10 + 1.0)
    assert np.allclose(vote.votes(X[i : i + 1])[0], expected, atol=1e-6)


def test_votes_read_the_look_alikes_genres() -> None:
    X, Y, cluster = _clusters(seed=1)
    vote = LookalikeVote(k=20, dims=8).fit(X[:500], Y[:500])
    V = vote.votes(X[500:])
    assert (V.argmax(1) == cluster[500:]).mean() > 0.9  # the cluster's genre, not the random second one


def test_saved_vote_answers_exactly_as_fitted() -> None:
    X, Y, _ = _clusters(seed=2)
    vote = LookalikeVote(k=15, weight=0.4, dims=8).fit(X, Y)
    tensors = vote.to_tensors()
    assert tensors["lookalike.index"].dtype == np.int8 and tensors["lookalike.components"].dtype == np.float16
    loaded = LookalikeVote.from_saved(tensors, vote.config())
    P = np.full((len(X), Y.shape[1]), 0.3)
    assert np.array_equal(loaded.predict_proba(P, X), vote.predict_proba(P, X))


def test_blend_weight_zero_is_the_head_and_one_is_the_vote() -> None:
    rng = np.random.default_rng(3)
    p, v = rng.uniform(0.01, 0.99, (50, 4)), rng.uniform(0.01, 0.99, (50, 4))
    assert np.allclose(blend(p, v, 0.0), p) and np.allclose(blend(p, v, 1.0), v)


def test_search_keeps_to_the_allowed_rows() -> None:
    rng = np.random.default_rng(4)
    M = unit_rows(rng.normal(size=(300, 16)))
    Q = unit_rows(rng.normal(size=(40, 16)))
    fold = np.arange(300) % 3
    idx, sims = top_neighbours(Q, M, 25, allowed=lambda a, b: np.broadcast_to(fold != 0, (b - a, 300)), chunk=16)
    assert (fold[idx] != 0).all() and (np.diff(sims, axis=1) <= 0).all()
    best = np.where(fold != 0, Q @ M.T, -np.inf).argmax(1)
    assert np.array_equal(idx[:, 0], best)
