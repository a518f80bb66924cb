"""The studio's domain correction on synthetic general-head probabilities: it learns how genres read on the studio's
films, reaches the exact minimum of its objective, saves and loads as a part, and its torch view (Grad-CAM's) maps
the head's logits exactly as it maps probabilities, clipping included."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from postergenre.errors import ModelError, PosterGenreError
from postergenre.labelled.metrics import macro_auc
from postergenre.model.domain import DomainCorrection
from postergenre.model.logistic import LOGIT_LIMIT, PROBABILITY_EPS, logit, sigmoid
from postergenre.model.parts import PosterStage, get_part

GENRES = ["Action", "Adventure", "Animation", "Comedy", "Family", "Horror"]


def _films(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(general head probabilities, studio labels): on these films Animation and Adventure evidence is Family
    evidence, and Horror never happens (the general head still gives it some probability)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, len(GENRES))) * 1.5 - 1.0
    general = sigmoid(z + 0.5 * rng.normal(size=z.shape))
    studio = z.copy()
    family, animation, adventure = GENRES.index("Family"), GENRES.index("Animation"), GENRES.index("Adventure")
    studio[:, family] += 1.5 * z[:, animation] + 1.0 * z[:, adventure]
    Y = (rng.random(z.shape) < sigmoid(studio)).astype(np.int8)
    Y[:, GENRES.index("Horror")] = 0
    return general, Y


def _objective(theta: np.ndarray, L: np.ndarray, Y: np.ndarray, w: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    """The correction's objective, written out: weighted logistic loss averaged over cells + l2 ||M - I||^2."""
    n, g = L.shape
    D, d = theta[: g * g].reshape(g, g), theta[g * g :]
    z = L + L @ D.T + d
    r = (sigmoid(z) - Y) * w[:, None] / (n * g)
    value = ((np.logaddexp(0, z) - Y * z) * w[:, None]).sum() / (n * g) + l2 * (D * D).sum()
    return float(value), np.concatenate([(r.T @ L + 2 * l2 * D).ravel(), r.sum(0)])


def test_the_correction_learns_the_studio_reading_on_held_out_films() -> None:
    general, Y = _films()
    tr, te = np.arange(450), np.arange(450, 600)
    corr = DomainCorrection().fit(general[tr], Y[tr])
    assert corr is not None and corr.matrix_.shape == (6, 6) and corr.bias_.shape == (6,)
    family = GENRES.index("Family")
    cols = [j for j in range(len(GENRES)) if GENRES[j] != "Horror"]
    assert macro_auc(Y[te][:, cols], corr.predict_proba(general[te])[:, cols]) > macro_auc(
        Y[te][:, cols], general[te][:, cols]
    )
    assert corr.matrix_[family, GENRES.index("Animation")] > 0.3  # Animation evidence now counts for Family
    assert corr.predict_proba(general[te])[:, GENRES.index("Horror")].max() < 0.01
    # A huge penalty keeps the general head's reading (M stays the identity).
    np.testing.assert_allclose(DomainCorrection(l2=1e3).fit(general, Y).matrix_, np.eye(len(GENRES)), atol=1e-3)


def test_newton_fit_reaches_the_minimum_of_a_direct_minimisation() -> None:
    from scipy.optimize import minimize

    general, Y = _films(300)
    w = np.where(np.arange(len(Y)) % 3 == 0, 3.0, 1.0)  # weighted rows, as studio films beside general ones
    L, g = logit(general), len(GENRES)
    corr = DomainCorrection().fit(general, Y, sample_weight=w)
    theta = np.concatenate([(corr.matrix_ - np.eye(g)).ravel(), corr.bias_])
    direct = minimize(
        _objective,
        np.zeros(g * g + g),
        args=(L, Y, w / w.mean(), 1e-3),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-12},
    )
    newton_loss, newton_grad = _objective(theta, L, Y, w / w.mean(), 1e-3)
    assert newton_loss <= direct.fun + 1e-12
    assert np.abs(newton_grad).max() < 1e-8


def test_saved_and_loaded_as_a_part_it_answers_the_same() -> None:
    general, Y = _films()
    corr = DomainCorrection(l2=3e-3).fit(general, Y)
    tensors, config = corr.to_tensors(), json.loads(json.dumps(corr.config()))
    assert set(tensors) == {"matrix", "bias"} and all(v.dtype == np.float32 for v in tensors.values())
    back = get_part("domain_correction").from_saved(tensors, config)
    assert (
        isinstance(back, DomainCorrection)
        and isinstance(back, PosterStage)
        and back.get_params() == {"l2": 3e-3, "max_iter": 300}
    )
    np.testing.assert_allclose(back.predict_proba(general), corr.predict_proba(general), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(back.refine(general, np.zeros((len(general), 3))), back.predict_proba(general))
    with pytest.raises(ModelError, match="missing bias"):
        DomainCorrection.from_saved({"matrix": tensors["matrix"]}, config)
    with pytest.raises(ModelError, match="format 7"):
        DomainCorrection.from_saved(tensors, config | {"format_version": 7})
    with pytest.raises(ModelError, match="not fitted"):
        DomainCorrection().predict_proba(general)
    with pytest.raises(PosterGenreError, match=r"must both be \[N, G\]"):
        DomainCorrection().fit(general, Y[:, :3])


def test_the_torch_view_maps_logits_as_the_part_maps_probabilities_clipping_included() -> None:
    general, Y = _films()
    corr = DomainCorrection().fit(general, Y)
    z = logit(general, 1e-12)
    z[:5] *= 4  # far beyond the clip (|logit| > 13.8): the numpy part clips the probability there
    assert np.abs(z).max() > LOGIT_LIMIT
    with torch.no_grad():
        view = corr.torch_view()(torch.from_numpy(z.astype(np.float32)), torch.zeros(len(z), 1))
    expected = corr.predict_proba(sigmoid(z))
    np.testing.assert_allclose(torch.sigmoid(view).numpy(), expected, atol=1e-6)
    assert pytest.approx(np.log((1 - PROBABILITY_EPS) / PROBABILITY_EPS)) == LOGIT_LIMIT
