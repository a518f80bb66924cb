"""Per-genre thresholds maximise F1 on out-of-fold predictions; the top-1 fallback gives every poster a genre."""

from __future__ import annotations

import numpy as np
import pytest

from postergenre.errors import PosterGenreError
from postergenre.model.thresholds import choose_thresholds, decide


def test_threshold_separates_a_separable_genre_and_maximises_f1() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0], [0, 1]])
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.6], [0.2, 0.4], [0.1, 0.7]])
    t = choose_thresholds(y, p)
    assert 0.3 < t[0] <= 0.8 and 0.4 < t[1] <= 0.6
    assert np.array_equal(decide(p, t), y.astype(bool) | (decide(p, t) & ~y.any(axis=1, keepdims=True)))

    # brute force: no other cut on genre 0 gives a higher F1
    def f1(cut: float) -> float:
        pred = p[:, 0] >= cut
        tp = (pred & (y[:, 0] == 1)).sum()
        return 2 * tp / (pred.sum() + y[:, 0].sum())

    assert f1(t[0]) == max(f1(c) for c in np.unique(p[:, 0]))


def test_top1_fallback_gives_every_poster_a_genre() -> None:
    p = np.array([[0.1, 0.2, 0.05], [0.9, 0.1, 0.8]])
    d = decide(p, np.array([0.5, 0.5, 0.5]))
    assert d.tolist() == [[False, True, False], [True, False, True]]
    assert decide(p[0], np.array([0.5, 0.5, 0.5])).tolist() == [False, True, False]


def test_bad_threshold_requests_are_user_errors() -> None:
    with pytest.raises(PosterGenreError, match="threshold metric"):
        choose_thresholds(np.ones((2, 1)), np.ones((2, 1)), "accuracy")
    with pytest.raises(PosterGenreError, match="genres"):
        decide(np.ones((2, 3)), np.ones(2))
