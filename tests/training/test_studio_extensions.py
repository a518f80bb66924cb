"""Studio folds, the stacked studio correction and fit_studio_extensions on real studio films."""

from __future__ import annotations

import json

import numpy as np
import pytest

from postergenre.errors import ModelError
from postergenre.labelled.metrics import macro_auc
from postergenre.model.domain import DomainCorrection
from postergenre.training.studio import fit_studio_extensions, studio_folds
from studio_data import GENRES, studio_signals

pytestmark = pytest.mark.slow  # fits the studio extensions (synopsis heads per fold) on real studio films


@pytest.fixture(scope="module")
def signals(shared_data):
    return studio_signals(shared_data)


def test_folds_never_split_a_poster_group(signals):
    _, Y, _, groups = signals
    groups = groups.copy()
    # Re-releases sharing one poster: make every 7th film share its poster with the next one.
    groups[1::7] = groups[0::7][: len(groups[1::7])]
    fold = studio_folds(Y, groups, 5, 0)
    assert set(fold.tolist()) == set(range(5))
    for g in np.unique(groups):
        assert len(set(fold[groups == g].tolist())) == 1
    np.testing.assert_array_equal(fold, studio_folds(Y, groups, 5, 0))  # fixed seed, same folds


def test_correction_helps_held_out_studio_films_and_round_trips(signals):
    _, Y, general, groups = signals
    fold = studio_folds(Y, groups, 3, 0)
    oof = np.zeros(Y.shape)
    for k in range(3):
        oof[fold == k] = DomainCorrection().fit(general[fold != k], Y[fold != k]).predict_proba(general[fold == k])
    cols = Y.sum(0) >= 5
    # Colour features trained on general films: the studio correction re-weights them for family films.
    assert macro_auc(Y[:, cols], oof[:, cols]) > macro_auc(Y[:, cols], general[:, cols])
    corr = DomainCorrection().fit(general, Y)
    again = DomainCorrection.from_saved(corr.to_tensors(), json.loads(json.dumps(corr.config())))
    np.testing.assert_allclose(again.predict_proba(general), corr.predict_proba(general), rtol=1e-5, atol=1e-6)
    # A huge penalty keeps the general head's ranking (M stays the identity).
    stiff = DomainCorrection(l2=1e3).fit(general, Y)
    np.testing.assert_allclose(stiff.matrix_, np.eye(len(GENRES)), atol=1e-3)
    with pytest.raises(ModelError, match="not fitted"):
        DomainCorrection().predict_proba(general)


def _correction_objective(theta: np.ndarray, L: np.ndarray, Y: np.ndarray, w: np.ndarray, l2: float):
    """DomainCorrection's objective, written out: weighted logistic loss averaged over cells + l2 ||M - I||^2."""
    n, g = L.shape
    D, d = theta[: g * g].reshape(g, g), theta[g * g :]
    z = L + L @ D.T + d
    p = 1 / (1 + np.exp(-z))
    r = (p - Y) * w[:, None] / (n * g)
    value = ((np.logaddexp(0, z) - Y * z) * w[:, None]).sum() / (n * g) + l2 * (D * D).sum()
    return value, np.concatenate([(r.T @ L + 2 * l2 * D).ravel(), r.sum(0)])


def test_newton_fit_reaches_the_minimum_of_a_direct_minimisation(signals):
    from scipy.optimize import minimize

    from postergenre.model.logistic import logit

    _, Y, general, _ = signals
    Y = Y.astype(np.float64).copy()
    Y[:, GENRES.index("Sport")] = 0  # a genre no film carries: its intercept heads to -inf, the fit must still stop
    w = np.where(np.arange(len(Y)) % 3 == 0, 3.0, 1.0)  # weighted rows, as the studio films are beside general ones
    L, g = logit(general), len(GENRES)
    corr = DomainCorrection().fit(general, Y, sample_weight=w)
    theta = np.concatenate([(corr.matrix_ - np.eye(g)).ravel(), corr.bias_])
    direct = minimize(
        _correction_objective,
        np.zeros(g * g + g),
        args=(L, Y, w / w.mean(), 1e-3),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 20000, "maxfun": 40000, "ftol": 1e-15, "gtol": 1e-12},
    )
    newton_loss, newton_grad = _correction_objective(theta, L, Y, w / w.mean(), 1e-3)
    assert newton_loss <= direct.fun + 1e-12
    assert np.abs(newton_grad).max() < 1e-8
    z = L + L @ direct.x[: g * g].reshape(g, g).T + direct.x[g * g :]
    np.testing.assert_allclose(corr.predict_proba(general), 1 / (1 + np.exp(-z)), atol=1e-4)
    assert np.isfinite(corr.bias_).all() and corr.predict_proba(general)[:, GENRES.index("Sport")].max() < 1e-6


def test_fit_studio_extensions_contract(signals):
    plots, Y, general, groups = signals
    n = 500
    texts = list(plots[:n])
    texts[3] = ""  # a film without a synopsis: no synopsis signal
    has_poster = np.ones(n, dtype=bool)
    has_poster[5] = False  # a film without a poster: synopsis only
    ext = fit_studio_extensions(
        general[:n],
        Y[:n],
        GENRES,
        has_poster=has_poster,
        plots=texts,
        groups=groups[:n],
        n_splits=3,
        bootstrap=20,
        synopsis_params={"char_ngrams": None},
        general_oof=(Y[n:], general[n:]),
    )
    m = ext.metrics
    for seg in ("studio_poster_general", "studio_poster", "studio_synopsis", "studio_fused"):
        assert 0.5 < m[seg]["headline"]["macro_auc"]["value"] <= 1.0
    assert m["studio_poster"]["n_movies"] == n - 1 and m["studio_fused"]["n_movies"] == n - 2
    assert {p["genre"] for p in m["domain_gain"]["per_genre"]} <= set(GENRES)
    assert "change" in m["general"]
    assert np.isnan(ext.oof["poster"][5]).all() and np.isnan(ext.oof["synopsis"][3]).all()
    # A synopsis read alone is decided with thresholds tuned on the synopsis head's out-of-fold probabilities.
    assert ext.synopsis_thresholds is not None and ext.synopsis_thresholds.shape == (len(GENRES),)
    for signal, films in (("poster", n - 1), ("synopsis", n - 1), ("fused", n - 2)):
        table = m["calibration"][signal]
        assert table["films"] == films and 0 <= table["ece"] < 0.1
        assert sum(b["cells"] for b in table["bins"]) == films * len(GENRES)
    # The saved parts answer as the fitted ones (the model assembly reads them back the same way).
    domain, synopsis, fusion = (
        type(part).from_saved(part.to_tensors(), json.loads(json.dumps(part.config())))
        for part in (ext.domain, ext.synopsis, ext.fusion)
    )
    poster = domain.predict_proba(general[:4])
    np.testing.assert_allclose(poster, ext.domain.predict_proba(general[:4]), rtol=1e-5, atol=1e-6)
    syn = synopsis.predict_proba(texts[:4])
    np.testing.assert_allclose(syn, ext.synopsis.predict_proba(texts[:4]), rtol=1e-5, atol=1e-6)
    fused = fusion.fuse(poster, syn)
    np.testing.assert_allclose(fused, ext.fusion.fuse(poster, syn), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fused[3], poster[3])  # blank synopsis: the poster signal
