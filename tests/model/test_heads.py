"""Heads on synthetic separable data: they learn, the exported module replays them, inputs are validated."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from postergenre.errors import PosterGenreError
from postergenre.model.heads import macro_auc, build_module, make_head
from postergenre.model.search import Candidate, candidates_for, nested_cv, parse_params, search
from postergenre.model.split import kfold


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
                                              ("mlp", {"hidden": 32, "pca": 20, "loss": "asl", "batch_size": 64}),
                                              ("ensemble", {"mlp.hidden": 16, "mlp.batch_size": 64})])
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
    fitted = make_head("logreg").fit(X, Y)
    with pytest.raises(PosterGenreError, match="fitted on 40 features"):
        fitted.predict_proba(X[:, :10])


def test_grid_parsing_and_nested_search_pick_a_sane_candidate() -> None:
    assert parse_params(["l2=1e-3,0.1", "loss=asl"]) == {"l2": [1e-3, 0.1], "loss": ["asl"]}
    with pytest.raises(PosterGenreError, match="KEY=VALUE"):
        parse_params(["l2"])
    cands = candidates_for("logreg", {"l2": [1e-4, 10.0]})
    assert [c.label for c in cands] == ["logreg(l2=0.0001)", "logreg(l2=10.0)"]
    with pytest.raises(PosterGenreError, match="not a logreg setting"):
        candidates_for("logreg", {"hidden": [3]})
    X, Y = _data(600)
    folds = kfold(Y, None, 3, seed=0)
    res = search(cands, X, Y, folds)
    assert res.best == Candidate("logreg", (("l2", 1e-4),))  # a huge penalty flattens the weights
    nested = nested_cv(cands, X, Y, np.arange(len(Y)), folds, inner_folds=2)
    assert not np.isnan(nested.oof).any() and len(nested.chosen) == 3 and len(nested.inner_tables) == 3
    assert macro_auc(Y, nested.oof) > 0.8
