"""Heads on synthetic separable data: they learn, the exported module replays them, they follow scikit-learn's
estimator contract, and bad inputs or settings are refused with a message naming them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import ParameterGrid

from postergenre.errors import ModelError, PosterGenreError
from postergenre.model import head_forward
from postergenre.model.head_types import HEAD_TYPES
from postergenre.labelled.metrics import macro_auc
from postergenre.model.head_module import build_module
from postergenre.training.heads import HEADS, LogRegHead, MLPHead, make_head
from postergenre.training.search import Candidate, candidates_for, nested_cv, parse_params, search
from postergenre.labelled.split import kfold


def _data(n: int = 800, d: int = 40, g: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like data: a 6-dim latent drives both the features (plus noise) and the genre logits."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6))
    X = (z @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))) * rng.uniform(0.5, 5, size=d) + rng.normal(size=d) * 3
    X = X.astype(np.float32)
    logits = z @ rng.normal(size=(6, g)) * 1.5 - 1.0
    Y = (rng.random((n, g)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    return X, Y


@pytest.mark.parametrize("head_type,config", [("logreg", {}), ("logreg", {"pca": 20}),
                                              ("mlp", {"hidden": 32, "pca": 0, "batch_size": 64}),
                                              pytest.param("mlp", {"hidden": 32, "pca": 20, "loss": "asl", "batch_size": 64},
                                                           marks=pytest.mark.slow),
                                              pytest.param("ensemble", {"mlp.hidden": 16, "mlp.batch_size": 64},
                                                           marks=pytest.mark.slow)])
def test_head_learns_and_module_replays_it(head_type: str, config: dict) -> None:
    X, Y = _data()
    tr, te = np.arange(600), np.arange(600, 800)
    head = make_head(head_type, config).fit(X[tr], Y[tr])
    p = head.predict_proba(X[te])
    assert p.shape == (200, 4) and np.all((p >= 0) & (p <= 1))
    assert macro_auc(Y[te], p) > 0.8
    # The exported module on a wider "full" vector slices its own columns and gives the same probabilities.
    full = np.concatenate([np.zeros((200, 5), np.float32), X[te], np.ones((200, 3), np.float32)], axis=1)
    mod = build_module(head_type, head.export(), (5, 45))
    with torch.no_grad():
        replay = torch.sigmoid(mod(torch.from_numpy(full))).numpy()
    np.testing.assert_allclose(replay, p, atol=1e-5)
    # The torch-free forward pass gives the same probabilities.
    np.testing.assert_allclose(head_forward.probabilities(head.export(), (5, 45), full), p, atol=1e-5)
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


@pytest.mark.slow
def test_grid_parsing_and_nested_search_pick_a_sane_candidate() -> None:
    assert parse_params(["l2=1e-3,0.1", "loss=asl"]) == {"l2": [1e-3, 0.1], "loss": ["asl"]}
    with pytest.raises(PosterGenreError, match="KEY=VALUE"):
        parse_params(["l2"])
    cands = candidates_for("logreg", {"l2": [1e-4, 10.0]})
    assert [c.label for c in cands] == ["logreg(l2=0.0001)", "logreg(l2=10.0)"]
    with pytest.raises(PosterGenreError, match="not a logreg setting"):
        candidates_for("logreg", {"hidden": [3]})
    # Without a search the measured winner; a search is opt-in.
    assert [c.label for c in candidates_for("logreg")] == ["logreg(l2=0.003)"]
    assert len(candidates_for("logreg", search=True)) == 3
    assert {c.head_type for c in candidates_for("auto")} == {"logreg", "mlp"}
    X, Y = _data(600)
    folds = kfold(Y, None, 3, seed=0)
    res = search(cands, X, Y, folds)
    assert res.best == Candidate("logreg", (("l2", 1e-4),))  # a huge penalty flattens the weights
    nested = nested_cv(cands, X, Y, np.arange(len(Y)), folds, inner_folds=2)
    assert not np.isnan(nested.oof).any() and len(nested.chosen) == 3 and len(nested.inner_tables) == 3
    assert macro_auc(Y, nested.oof) > 0.8


def test_heads_follow_the_sklearn_estimator_contract() -> None:
    assert tuple(HEADS) == HEAD_TYPES  # the torch-free list of names matches the estimators
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
    grid = list(ParameterGrid({"l2": [1e-3, 1e-1]}))
    assert [LogRegHead(**g).l2 for g in grid] == [1e-3, 1e-1]


@pytest.mark.parametrize("head_type,params,message", [
    ("mlp", {"max_epochs": 0}, r"max_epochs=0 is invalid: must be an integer >= 1"),
    ("mlp", {"loss": "hinge"}, r"loss='hinge' is invalid: must be one of bce, bce-pos, asl"),
    ("mlp", {"hidden": 2.5}, r"hidden=2.5 is invalid: must be an integer >= 1"),
    ("logreg", {"l2": -1.0}, r"l2=-1.0 is invalid: must be a number >= 0"),
    ("mlp", {"dropout": 1.0}, r"dropout=1.0 is invalid: must be a number >= 0 and < 1"),
])
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
