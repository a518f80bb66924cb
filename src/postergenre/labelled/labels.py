"""Movies -> multi-hot label matrix: the one place genres become columns (training, evaluation, baselines)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def label_matrix(movie_genres: Iterable[Iterable[str]], genres: Sequence[str]) -> np.ndarray:
    """int8 [N, G]: row i has a 1 in column j when movie i carries `genres[j]`; other genres are ignored."""
    index = {g: j for j, g in enumerate(genres)}
    rows = [[index[g] for g in gs if g in index] for gs in movie_genres]
    Y = np.zeros((len(rows), len(index)), dtype=np.int8)
    for i, cols in enumerate(rows):
        Y[i, cols] = 1
    return Y
