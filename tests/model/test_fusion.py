"""Fusion of poster and synopsis signals: held-out quality on real studio films, missing synopses, saving."""

from __future__ import annotations

import json

import numpy as np
import pytest

from postergenre.errors import ModelError, PosterGenreError
from postergenre.labelled.metrics import macro_auc
from postergenre.labelled.split import kfold
from postergenre.model.fusion import Fusion
from postergenre.model.synopsis import SynopsisHead
from postergenre.training.studio import cross_fitted_fusion
from studio_data import GENRES, studio_signals

pytestmark = pytest.mark.slow  # out-of-fold synopsis heads on real studio films


@pytest.fixture(scope="module")
def oof(shared_data):
    """Out-of-fold synopsis probabilities and the weak poster signal on studio films with both."""
    plots, Y, poster, groups = studio_signals(shared_data)
    folds = kfold(Y, groups, 3, 0)
    syn = np.zeros(Y.shape)
    for tr, te in folds:
        head = SynopsisHead(char_ngrams=None).fit([plots[i] for i in tr], Y[tr])
        syn[te] = head.predict_proba([plots[i] for i in te])
    return Y, poster, syn, folds


def test_fused_beats_or_equals_each_signal_on_held_out_films(oof):
    Y, poster, syn, folds = oof
    fused, decided = cross_fitted_fusion(poster, syn, Y, GENRES, folds)
    cols = Y.sum(0) >= 5
    auc = {
        name: macro_auc(Y[:, cols], p[:, cols]) for name, p in (("poster", poster), ("synopsis", syn), ("fused", fused))
    }
    assert auc["fused"] >= auc["synopsis"] - 0.005, auc
    assert auc["fused"] >= auc["poster"], auc
    assert decided.any(axis=1).all()


def test_missing_synopsis_keeps_poster_probabilities(oof):
    Y, poster, syn, _ = oof
    fusion = Fusion(GENRES).fit(poster, syn, Y, fallback_thresholds=np.full(len(GENRES), 0.3))
    s = syn[:4].copy()
    s[1] = np.nan
    out = fusion.fuse(poster[:4], s)
    np.testing.assert_array_equal(out[1], poster[1])
    assert not np.allclose(out[0], poster[0])
    np.testing.assert_array_equal(fusion.fuse(poster[:4], None), poster[:4])
    # One film as a 1-D vector works too.
    np.testing.assert_allclose(fusion.fuse(poster[0], syn[0]), out[0])


def test_rare_genres_stay_poster_only_with_fallback_thresholds(oof):
    Y, poster, syn, _ = oof
    rare = int(np.argmin(Y.sum(0)))
    fallback = np.full(len(GENRES), 0.42)
    fusion = Fusion(GENRES, min_positives=int(Y[:, rare].sum()) + 1).fit(poster, syn, Y, fallback_thresholds=fallback)
    assert fusion.coef_poster_[rare] == 1 and fusion.coef_synopsis_[rare] == 0 and fusion.intercept_[rare] == 0
    assert fusion.thresholds_[rare] == pytest.approx(0.42)
    np.testing.assert_allclose(fusion.fuse(poster, syn)[:, rare], poster[:, rare])


def test_round_trip_is_identical(oof, tmp_path):
    Y, poster, syn, _ = oof
    fusion = Fusion(GENRES).fit(poster, syn, Y)
    tensors = fusion.to_tensors()
    assert set(tensors) == {"coef_poster", "coef_synopsis", "intercept", "thresholds"}  # its own names
    again = Fusion.from_saved(tensors, json.loads(json.dumps(fusion.config())))
    np.testing.assert_allclose(again.fuse(poster, syn), fusion.fuse(poster, syn), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(again.thresholds_, fusion.thresholds_, rtol=1e-6)
    assert again.config() == json.loads(json.dumps(fusion.config()))
    with pytest.raises(ModelError, match="missing"):
        Fusion.from_saved({}, fusion.config())


def test_shape_errors_are_typed(oof):
    Y, poster, syn, _ = oof
    with pytest.raises(PosterGenreError, match="must agree"):
        Fusion(GENRES).fit(poster[:, :3], syn, Y)
    fusion = Fusion(GENRES).fit(poster, syn, Y)
    with pytest.raises(PosterGenreError, match="genres"):
        fusion.fuse(poster[:, :3], None)


def test_fusion_follows_the_estimator_contract(oof):
    Y, poster, syn, _ = oof
    unfitted = Fusion(GENRES, shrink=0.1, min_positives=3)
    assert not hasattr(unfitted, "coef_poster_")  # learned state exists only after fit
    with pytest.raises(ModelError, match="not fitted"):
        unfitted.fuse(poster, syn)
    fitted = unfitted.fit(poster, syn, Y)
    assert fitted is unfitted  # fit returns self
    params = {"genres": GENRES, "shrink": 0.1, "min_positives": 3, "threshold_metric": "f1"}
    assert {k: getattr(fitted, k) for k in params} == params  # parameters kept as given, nothing learned in them
