"""The head search: `--param` grids, candidates by name, and a nested search that picks a sane candidate."""

from __future__ import annotations

import numpy as np
import pytest

from postergenre.errors import PosterGenreError
from postergenre.labelled.metrics import macro_auc
from postergenre.labelled.split import kfold
from postergenre.training.search import Candidate, candidates_for, nested_cv, parse_params, search


def heads_data(n: int, d: int = 40, g: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embedding-like data: a 6-dim latent drives both the features (plus noise) and the genre logits."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 6))
    X = (z @ rng.normal(size=(6, d)) + 0.3 * rng.normal(size=(n, d))) * rng.uniform(0.5, 5, size=d) + rng.normal(
        size=d
    ) * 3
    logits = z @ rng.normal(size=(6, g)) * 1.5 - 1.0
    Y = (rng.random((n, g)) < 1 / (1 + np.exp(-logits))).astype(np.int8)
    return X.astype(np.float32), Y


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
    X, Y = heads_data(600)
    folds = kfold(Y, None, 3, seed=0)
    res = search(cands, X, Y, folds)
    assert res.best == Candidate("logreg", (("l2", 1e-4),))  # a huge penalty flattens the weights
    nested = nested_cv(cands, X, Y, np.arange(len(Y)), folds, inner_folds=2)
    assert not np.isnan(nested.oof).any() and len(nested.chosen) == 3 and len(nested.inner_tables) == 3
    assert macro_auc(Y, nested.oof) > 0.8


def test_a_fold_trains_on_every_view_of_its_training_films_and_reads_the_test_films_mean() -> None:
    """Two views per film (the second a perturbed copy, as a mirror image is): each fold's head is fitted on both views
    of its training films as rows of their own and never on a view of a test film; the test films' out-of-fold
    probabilities are the sigmoid of the head's mean logit over their two views."""
    from postergenre.model.logistic import sigmoid
    from postergenre.training.search import FoldRunner, stack_views

    X, Y = heads_data(300)
    views = np.stack([X, X + np.random.default_rng(1).normal(0, 0.5, size=X.shape).astype(np.float32)], axis=1)
    cand = Candidate("logreg", (("l2", 3e-3),))
    runner = FoldRunner(views, Y)
    for train, test in kfold(Y, None, 3, seed=0):
        rows, labels, _ = stack_views(views[train], Y[train])
        assert rows.shape == (2 * len(train), X.shape[1])
        np.testing.assert_array_equal(labels, np.concatenate([Y[train], Y[train]]))
        held_out = {v.tobytes() for v in views[test].reshape(-1, X.shape[1])}
        assert not held_out & {r.tobytes() for r in rows}  # no view of a test film trains its fold's head
        head = cand.make().fit(rows, labels)
        expected = sigmoid(
            (head.decision_function(views[test, 0]).astype(np.float64) + head.decision_function(views[test, 1])) / 2
        )
        np.testing.assert_allclose(runner.fold(cand, train, test, "fold"), expected, rtol=0, atol=1e-12)
        one_view = head.predict_proba(views[test, 0])
        assert np.abs(expected - one_view).max() > 1e-3  # reading both views is not reading the poster alone
