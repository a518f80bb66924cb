"""Poster heads on synthetic separable data: they learn, their saved form and their torch view replay them, they
follow scikit-learn's estimator contract, and bad inputs or settings are refused with a message naming them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from postergenre.errors import ModelError, PosterGenreError
from postergenre.labelled.metrics import macro_auc
from postergenre.model.heads import LogRegHead, MLPHead, head_names, make_head, param_names
from postergenre.model.parts import get_part
from postergenre.training.search import candidates_for


def _data(n: int = 800, d: int = 40, g: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like data: a 6-dim latent drives both the features (plus noise) and the genre logits."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6))
    X = (z @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))) * rng.uniform(0.5, 5, size=d) + rng.normal(
        size=d
    ) * 3
    X = X.astype(np.float32)
    logits = z @ rng.normal(size=(6, g)) * 1.5 - 1.0
    Y = (rng.random((n, g)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    return X, Y


@pytest.mark.parametrize(
    "head_type,config",
    [
        ("logreg", {}),
        ("logreg", {"pca": 20}),
        ("mlp", {"hidden": 32, "pca": 0, "batch_size": 64}),
        pytest.param("mlp", {"hidden": 32, "pca": 20, "loss": "asl", "batch_size": 64}, marks=pytest.mark.slow),
        pytest.param("ensemble", {"mlp.hidden": 16, "mlp.batch_size": 64}, marks=pytest.mark.slow),
    ],
)
def test_head_learns_and_its_saved_form_and_torch_view_replay_it(head_type: str, config: dict) -> None:
    X, Y = _data()
    tr, te = np.arange(600), np.arange(600, 800)
    head = make_head(head_type, config).fit(X[tr], Y[tr])
    p = head.predict_proba(X[te])
    assert p.shape == (200, 4) and np.all((p >= 0) & (p <= 1))
    assert macro_auc(Y[te], p) > 0.8
    # Saved (tensors + JSON config) and read back by its registry name: the same head, bit for bit.
    back = get_part(head_type).from_saved(head.to_tensors(), json.loads(json.dumps(head.config())))
    assert type(back) is type(head) and back.config() == head.config()
    np.testing.assert_array_equal(back.predict_proba(X[te]), p)
    # Compact: float16 matrices move the probabilities by far less than a threshold matters.
    small = get_part(head_type).from_saved(head.to_tensors(compact=True), head.config())
    assert np.abs(small.predict_proba(X[te]) - p).max() < 1e-3
    # The torch view (what Grad-CAM differentiates) gives the same probabilities.
    with torch.no_grad():
        replay = torch.sigmoid(head.torch_view()(torch.from_numpy(X[te]))).numpy()
    np.testing.assert_allclose(replay, p, atol=1e-6)
    # Same seed, same weights: no hidden state between fits.
    again = make_head(head_type, config).fit(X[tr], Y[tr]).predict_proba(X[te])
    np.testing.assert_allclose(again, p, atol=1e-5)


def test_heads_validate_inputs() -> None:
    X, Y = _data(50)
    with pytest.raises(PosterGenreError, match="2-D"):
        make_head("logreg").fit(X[0], Y)
    with pytest.raises(PosterGenreError, match="multi-hot"):
        make_head("logreg").fit(X, Y * 2)
    with pytest.raises(PosterGenreError, match="NaN"):
        make_head("mlp").fit(np.full_like(X, np.nan), Y)
    with pytest.raises(PosterGenreError, match="unknown logreg setting"):
        make_head("logreg", {"hidden": 3})
    with pytest.raises(PosterGenreError, match="one weight per row"):
        make_head("logreg").fit(X, Y, sample_weight=np.ones(3))
    fitted = make_head("logreg").fit(X, Y)
    with pytest.raises(PosterGenreError, match="fitted on 40 features"):
        fitted.predict_proba(X[:, :10])


def test_heads_follow_the_sklearn_estimator_contract() -> None:
    assert head_names() == ["logreg", "mlp", "ensemble"]  # the registry names every head `train --head` takes
    head = MLPHead(hidden=16, batch_size=64)
    assert head.get_params()["hidden"] == 16 and head.get_params()["max_epochs"] == 60
    assert not [a for a in vars(head) if a.endswith("_")]  # nothing learned before fit
    X, Y = _data(300)
    fitted = head.fit(X, Y)
    assert fitted is head and head.n_features_in_ == 40 and head.epochs_ >= 1 and "w1" in head.tensors_
    twin = clone(head)  # same parameters, no fitted state
    assert twin.get_params() == head.get_params() and not hasattr(twin, "tensors_")
    with pytest.raises(ModelError, match="not fitted"):
        twin.predict_proba(X)
    assert twin.set_params(hidden=8).hidden == 8
    ensemble = make_head("ensemble", {"logreg.l2": 0.1, "mlp__hidden": 8})
    assert ensemble.get_params()["logreg__l2"] == 0.1 and ensemble.get_params()["mlp__hidden"] == 8
    assert param_names("ensemble") == sorted(k for k in ensemble.get_params() if k not in ("logreg", "mlp"))
    with pytest.raises(PosterGenreError, match=r"unknown ensemble setting.*mlp__depth"):
        make_head("ensemble", {"mlp.depth": 2})
    with pytest.raises(ModelError, match="unknown logreg setting"):  # settings read from a model file
        get_part("logreg").from_saved(head.to_tensors(), {"hidden": 3})
    grid = list(ParameterGrid({"l2": [1e-3, 1e-1]}))
    assert [LogRegHead(**g).l2 for g in grid] == [1e-3, 1e-1]


@pytest.mark.parametrize(
    "head_type,params,message",
    [
        ("mlp", {"max_epochs": 0}, r"max_epochs=0 is invalid: must be an integer >= 1"),
        ("mlp", {"loss": "hinge"}, r"loss='hinge' is invalid: must be one of bce, bce-pos, asl"),
        ("mlp", {"hidden": 2.5}, r"hidden=2.5 is invalid: must be an integer >= 1"),
        ("logreg", {"l2": -1.0}, r"l2=-1.0 is invalid: must be a number >= 0"),
        ("mlp", {"dropout": 1.0}, r"dropout=1.0 is invalid: must be a number >= 0 and < 1"),
    ],
)
def test_bad_settings_fail_at_fit_with_name_and_range(head_type: str, params: dict, message: str) -> None:
    X, Y = _data(60)
    with pytest.raises(PosterGenreError, match=message):
        make_head(head_type, params).fit(X, Y)
    with pytest.raises(PosterGenreError, match=message):  # and before any data is loaded, in the CLI's grid
        candidates_for(head_type, {k: [v] for k, v in params.items()})


def test_sample_weights_change_the_fit_and_unit_weights_do_not() -> None:
    X, Y = _data(400)
    plain = make_head("logreg").fit(X, Y).predict_proba(X)
    ones = make_head("logreg").fit(X, Y, sample_weight=np.full(len(X), 3.0)).predict_proba(X)
    np.testing.assert_allclose(ones, plain, atol=1e-5)  # weights are relative: a constant weight is no weight
    # Up-weighting the rows of genre 0 raises its predicted rate, as up-weighting a collection should.
    w = np.where(Y[:, 0] == 1, 5.0, 1.0)
    weighted = make_head("logreg").fit(X, Y, sample_weight=w).predict_proba(X)
    assert weighted[:, 0].mean() > plain[:, 0].mean() + 0.05
    mlp = make_head("mlp", {"hidden": 16, "batch_size": 64, "max_epochs": 5}).fit(X, Y, sample_weight=w)
    assert mlp.predict_proba(X)[:, 0].mean() > 0
