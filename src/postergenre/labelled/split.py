"""Multi-label stratified splits that never put one poster on both sides.

Several catalog movies can share one poster file (same sha256). If they landed in different folds the model
would be tested on an image it was trained on, so splitting happens over unique posters (labels of a group
are the union of its movies' genres) and is then expanded back to movie rows. Seeds are fixed so a rerun
gives the same folds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit

from ..errors import PosterGenreError

Split = tuple[np.ndarray, np.ndarray]
"""(train row indices, test row indices), both sorted int arrays."""


def poster_groups(shas: Sequence[str]) -> np.ndarray:
    """Group id per row: rows with the same poster sha256 share an id (ids are 0..n_groups-1)."""
    _, inverse = np.unique(np.asarray(list(shas), dtype=object).astype(str), return_inverse=True)
    return inverse.astype(np.int64)


def _group_labels(Y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    out = np.zeros((n_groups, Y.shape[1]), dtype=np.int8)
    np.maximum.at(out, groups, Y.astype(np.int8))
    return out


def _expand(groups: np.ndarray, chosen_groups: np.ndarray) -> np.ndarray:
    mask = np.zeros(int(groups.max()) + 1, dtype=bool)
    mask[chosen_groups] = True
    return np.flatnonzero(mask[groups])


def _check(Y: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise PosterGenreError(f"labels must be a 2-D multi-hot array [N, G], got shape {Y.shape}")
    g = np.arange(len(Y)) if groups is None else np.asarray(groups, dtype=np.int64)
    if g.shape != (len(Y),):
        raise PosterGenreError(f"groups has {g.shape} entries for {len(Y)} label rows")
    return Y, g


def kfold(Y: np.ndarray, groups: np.ndarray | None = None, n_splits: int = 5, seed: int = 0) -> list[Split]:
    """Iterative-stratification k-fold over poster groups; returns [(train_idx, test_idx)] per fold."""
    Y, g = _check(Y, groups)
    GY = _group_labels(Y, g)
    if n_splits < 2 or len(GY) < n_splits:
        raise PosterGenreError(
            f"cannot make {n_splits} folds from {len(GY)} distinct posters (need >= 2 folds, >= 1 poster each)"
        )
    splitter = MultilabelStratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(_expand(g, tr), _expand(g, te)) for tr, te in splitter.split(np.zeros(len(GY)), GY)]


def holdout(Y: np.ndarray, groups: np.ndarray | None = None, fraction: float = 0.2, seed: int = 0) -> Split:
    """One stratified hold-out split over poster groups; `fraction` of posters go to the test side."""
    Y, g = _check(Y, groups)
    if not 0.0 < fraction < 1.0:
        raise PosterGenreError(f"--holdout must be a fraction between 0 and 1, got {fraction}")
    GY = _group_labels(Y, g)
    n_test = round(fraction * len(GY))
    if n_test < 1 or n_test >= len(GY):
        raise PosterGenreError(f"a hold-out of {fraction} leaves an empty side with {len(GY)} distinct posters")
    splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=n_test, random_state=seed)
    tr, te = next(splitter.split(np.zeros(len(GY)), GY))
    return _expand(g, tr), _expand(g, te)
