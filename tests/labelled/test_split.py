"""Splits: stratified over genres, duplicate posters never on both sides, reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from postergenre.errors import PosterGenreError
from postergenre.labelled.split import holdout, kfold, poster_groups


def _labels(n: int = 600, g: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    prevalence = np.array([0.5, 0.3, 0.15, 0.08, 0.05, 0.03])[:g]
    return (rng.random((n, g)) < prevalence).astype(np.int8)


def test_duplicate_posters_stay_on_one_side_in_every_fold() -> None:
    Y = _labels()
    shas = [f"sha{i}" for i in range(len(Y))]
    for i in range(0, 120, 3):  # 40 posters each shared by three movies
        shas[i + 1] = shas[i + 2] = shas[i]
    groups = poster_groups(shas)
    folds = kfold(Y, groups, 5, seed=0)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(len(Y)))  # every row tested exactly once
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])
    tr, te = holdout(Y, groups, 0.25, seed=0)
    assert not set(groups[tr]) & set(groups[te])
    assert len(set(tr) | set(te)) == len(Y)


def test_folds_are_stratified_per_genre() -> None:
    Y = _labels(1000)
    folds = kfold(Y, None, 5, seed=1)
    overall = Y.sum(axis=0)
    for _, te in folds:
        # each fold holds about a fifth of every genre's positives, rare genres included
        assert np.all(np.abs(Y[te].sum(axis=0) - overall / 5) <= np.maximum(2, 0.1 * overall / 5))


def test_splits_are_reproducible_and_seed_dependent() -> None:
    Y = _labels()
    a, b, c = kfold(Y, None, 4, seed=3), kfold(Y, None, 4, seed=3), kfold(Y, None, 4, seed=4)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_bad_split_requests_are_user_errors() -> None:
    Y = _labels(10)
    with pytest.raises(PosterGenreError, match="fraction"):
        holdout(Y, None, 1.5)
    with pytest.raises(PosterGenreError, match="folds"):
        kfold(Y, None, 20)
