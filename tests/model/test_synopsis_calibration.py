"""The synopsis head's probabilities on real studio plots: no genre is constant or saturated, and each genre's
mean probability tracks its frequency on plots the head never saw (the bundled head once read Music at 100% and
War at 0% on every plot: the per-genre Platt fit had diverged)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from postergenre.model.logistic import sigmoid
from postergenre.model.synopsis import SynopsisHead, _platt
from studio_data import studio_films

# Every genre the studio catalog uses, the rare ones included (War has 14 films, Western 21).
GENRES = [
    "Action",
    "Adventure",
    "Animation",
    "Biography",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Family",
    "Fantasy",
    "History",
    "Horror",
    "Music",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Sport",
    "Thriller",
    "War",
    "Western",
]


@pytest.fixture(scope="module")
def studio_plots(shared_data: Path) -> tuple[list[str], np.ndarray]:
    _, plots, Y = studio_films(shared_data, GENRES)
    order = np.random.default_rng(1).permutation(len(plots))
    return [plots[i] for i in order], Y[order]


@pytest.mark.slow
def test_no_genre_is_constant_or_saturated_on_held_out_plots(studio_plots):
    plots, Y = studio_plots
    n_train = 2700  # on these 2,700 plots the undamped fit diverged for Music and War
    head = SynopsisHead(genres=GENRES).fit(plots[:n_train], Y[:n_train])
    assert np.isfinite(head.calib_scale_).all() and np.isfinite(head.calib_bias_).all()
    P = head.predict_proba(plots[n_train:])
    held = Y[n_train:]
    checked = []
    for j, genre in enumerate(GENRES):
        if Y[:n_train, j].sum() < 8:
            continue
        p = P[:, j]
        checked.append(genre)
        assert p.std() > 1e-3, f"{genre}: the same probability for every plot ({p.mean():.4f})"
        assert (p < 0.99).any(), f"{genre}: >= 0.99 on every held-out plot"
        assert (p > 0.01).any(), f"{genre}: <= 0.01 on every held-out plot"
        assert np.median(p) < 0.9, f"{genre}: median {np.median(p):.3f}, but {held[:, j].mean():.1%} of plots have it"
        # Calibrated: the mean probability is near the genre's share of the held-out plots (3 standard errors).
        share = held[:, j].mean()
        prior = Y[:n_train, j].mean()
        assert abs(p.mean() - share) < 0.02 + 3 * np.sqrt(prior * (1 - prior) / len(held)), genre
    assert {"Music", "War", "Family"} <= set(checked)


def test_platt_fit_is_finite_and_calibrated_on_scores_of_tiny_spread():
    """Rare genres get ridge scores that spread over ~0.01: the fit needs a slope in the hundreds and must get
    there without overshooting (the undamped Newton fit returned slope 8e6, bias 4e13 on such scores)."""
    rng = np.random.default_rng(0)
    n = 3000
    y = (rng.random(n) < 0.035).astype(np.float64)
    scores = 0.004 + 0.02 * y * rng.random(n) + 0.006 * rng.standard_normal(n)
    a, b = _platt(scores[:, None], y[:, None], np.ones(n))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert 10 < a[0] < 2000 and abs(b[0]) < 50
    p = sigmoid(a[0] * scores + b[0])
    assert abs(p.mean() - y.mean()) < 0.005
    assert p.max() < 0.99 and p.min() > 1e-4


def test_platt_fit_of_a_genre_without_positives_or_spread_is_constant_and_small():
    n = 500
    scores = np.zeros((n, 2))
    scores[:, 1] = np.linspace(-1, 1, n)
    Y = np.zeros((n, 2))
    a, b = _platt(scores, Y, np.ones(n))
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert (sigmoid(a * scores + b) < 0.01).all()
