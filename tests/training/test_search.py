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
