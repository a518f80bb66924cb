"""Metrics against hand-computed cases and scikit-learn; thresholds and the shared decision rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, hamming_loss, roc_auc_score

from postergenre.errors import PosterGenreError
from postergenre.labelled.metrics import HEADLINE, evaluate_predictions, roc_auc_weighted
from postergenre.model.thresholds import choose_thresholds, decide

GENRES = ["Drama", "Comedy", "Horror"]


def _synthetic(n: int = 600, g: int = 6, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.5, g)
    y = (rng.random((n, g)) < freq).astype(int)
    logit = np.log(freq / (1 - freq)) + 1.5 * (y - 0.5) + rng.normal(0, 1, (n, g))
    return y, np.round(1 / (1 + np.exp(-logit)), 2)  # rounding creates ties on purpose


def test_decide_thresholds_and_top1_fallback() -> None:
    probs = np.array([[0.9, 0.2, 0.6], [0.1, 0.3, 0.2], [0.5, 0.5, 0.5]])
    t = np.array([0.5, 0.4, 0.7])
    got = decide(probs, t)
    assert got.tolist() == [
        [True, False, False],  # 0.6 < 0.7
        [False, True, False],  # nothing passes: fallback to the most probable genre
        [True, True, False],  # >= is inclusive
    ]
    assert decide(probs[1], t).tolist() == [False, True, False]
    with pytest.raises(PosterGenreError):
        decide(probs, t[:2])


def test_choose_thresholds_hand_case() -> None:
    y = np.array([[1], [1], [0], [1], [0], [0]])
    p = np.array([[0.9], [0.8], [0.7], [0.6], [0.3], [0.1]])
    # Cuts: top1 F1=2/4, top2 F1=4/5, top3 F1=4/6, top4 F1=6/7 (best), top5 6/8, top6 6/9.
    t = choose_thresholds(y, p)
    assert t[0] == pytest.approx((0.6 + 0.3) / 2)
    assert (p[:, 0] >= t[0]).tolist() == [True, True, True, True, False, False]
    # F2 weighs recall: still top4 (recall already 1); F0.5 prefers precision: top2 (P=1, R=2/3).
    assert choose_thresholds(y, p, "f0.5")[0] == pytest.approx((0.8 + 0.7) / 2)
    assert choose_thresholds(np.zeros((3, 1)), np.array([[0.2], [0.4], [0.9]]))[0] == 1.0
    with pytest.raises(PosterGenreError, match="unknown threshold metric"):
        choose_thresholds(y, p, "accuracy")


def test_choose_thresholds_maximises_f1_like_a_brute_force_search() -> None:
    y, p = _synthetic()
    t = choose_thresholds(y, p)
    for j in range(y.shape[1]):
        best = max(f1_score(y[:, j], p[:, j] >= c) for c in np.unique(p[:, j]))
        assert f1_score(y[:, j], p[:, j] >= t[j]) == pytest.approx(best)


def test_matches_sklearn_on_synthetic_predictions() -> None:
    y, p = _synthetic()
    names = [f"g{j}" for j in range(y.shape[1])]
    t = choose_thresholds(y, p)
    r = evaluate_predictions(y, p, t, names, bootstrap=50)
    d = decide(p, t)
    assert r["roc_auc"]["macro"] == pytest.approx(roc_auc_score(y, p, average="macro"))
    assert r["roc_auc"]["micro"] == pytest.approx(roc_auc_score(y, p, average="micro"))
    for avg in ("micro", "macro", "weighted", "samples"):
        assert r["f1"][avg] == pytest.approx(f1_score(y, d, average=avg, zero_division=0))
    assert r["hamming_loss"] == pytest.approx(hamming_loss(y, d))
    for j, row in enumerate(r["per_genre"]):
        assert row["genre"] == names[j] and row["support"] == int(y[:, j].sum())
        assert row["roc_auc"] == pytest.approx(roc_auc_score(y[:, j], p[:, j]))
        assert row["average_precision"] == pytest.approx(average_precision_score(y[:, j], p[:, j]))
        assert row["f1"] == pytest.approx(f1_score(y[:, j], d[:, j]))
        assert row["threshold"] == pytest.approx(t[j])
    json.dumps(r, allow_nan=False)  # JSON-safe, no NaN


def test_perfect_and_reversed_predictions() -> None:
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1], [1, 0, 1]])
    perfect = evaluate_predictions(y, y * 0.8 + 0.1, np.full(3, 0.5), GENRES, bootstrap=100)
    for name in ("macro_auc", "micro_auc", "micro_f1", "macro_f1", "samples_f1", "hit_at_1", "hit_at_3"):
        assert perfect["headline"][name]["value"] == pytest.approx(1.0), name
    assert perfect["hamming_loss"] == 0.0
    reversed_ = evaluate_predictions(y, 1 - (y * 0.8 + 0.1), np.full(3, 0.5), GENRES, bootstrap=0)
    assert reversed_["roc_auc"]["macro"] == pytest.approx(0.0)
    assert reversed_["roc_auc"]["micro"] == pytest.approx(0.0)
    assert reversed_["f1"]["micro"] == 0.0
    assert reversed_["hit_at_1"] == 0.0


def test_hit_at_k_hand_case() -> None:
    y = np.array([[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 1, 0]])
    p = np.array([[0.4, 0.3, 0.2, 0.1], [0.9, 0.1, 0.1, 0.1], [0.1, 0.3, 0.2, 0.4]])
    r = evaluate_predictions(y, p, np.full(4, 0.5), list("abcd"), bootstrap=0)
    # row 0: true genre ranked 4th; row 1: 1st; row 2: 3rd.
    assert r["hit_at_1"] == pytest.approx(1 / 3)
    assert r["hit_at_3"] == pytest.approx(2 / 3)


def test_prior_baseline() -> None:
    y, p = _synthetic(n=400, g=4)
    r = evaluate_predictions(y, p, choose_thresholds(y, p), list("abcd"), bootstrap=0)
    freq = y.mean(axis=0)
    assert r["headline"]["macro_auc"]["prior"] == pytest.approx(0.5)
    # Constant scores: the F1-best threshold predicts every genre for every movie.
    assert r["per_genre"][0]["prior_f1"] == pytest.approx(2 * freq[0] / (1 + freq[0]))
    assert r["prior"]["micro_f1"] == pytest.approx(f1_score(y, np.ones_like(y), average="micro"))
    top = np.argsort(-freq, kind="stable")
    assert r["headline"]["hit_at_1"]["prior"] == pytest.approx(y[:, top[0]].mean())
    assert r["headline"]["hit_at_3"]["prior"] == pytest.approx(y[:, top[:3]].any(axis=1).mean())
    # A model with signal beats the prior on every headline number.
    for name in HEADLINE:
        assert r["headline"][name]["value"] > r["headline"][name]["prior"], name


def test_bootstrap_interval_contains_point_and_is_reproducible() -> None:
    y, p = _synthetic()
    t = choose_thresholds(y, p)
    a = evaluate_predictions(y, p, t, [f"g{j}" for j in range(6)], bootstrap=300, seed=7)
    b = evaluate_predictions(y, p, t, [f"g{j}" for j in range(6)], bootstrap=300, seed=7)
    assert a == b
    for name in HEADLINE:
        h = a["headline"][name]
        assert h["ci_low"] <= h["value"] <= h["ci_high"], name
        assert h["ci_high"] - h["ci_low"] < 0.2, name
    assert a["bootstrap"]["resamples"] == 300 and a["bootstrap"]["auc_resamples"] == 200


def test_weighted_auc_equals_auc_of_resampled_rows() -> None:
    y, p = _synthetic(n=200, g=1)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 200, 200)
    w = np.bincount(idx, minlength=200)[None, :]
    assert roc_auc_weighted(y[:, 0], p[:, 0], w)[0] == pytest.approx(roc_auc_score(y[idx, 0], p[idx, 0]))


def test_genre_without_positives_and_bad_input() -> None:
    y = np.array([[1, 0], [0, 0], [1, 0]])
    p = np.array([[0.8, 0.1], [0.2, 0.3], [0.7, 0.2]])
    r = evaluate_predictions(y, p, np.array([0.5, 0.5]), ["a", "b"], bootstrap=20)
    assert r["per_genre"][1]["roc_auc"] is None and r["roc_auc"]["macro"] == pytest.approx(1.0)
    json.dumps(r, allow_nan=False)
    with pytest.raises(PosterGenreError, match="genre names"):
        evaluate_predictions(y, p, np.array([0.5, 0.5]), ["a"], bootstrap=0)
    with pytest.raises(PosterGenreError, match="1 movies have missing"):
        evaluate_predictions(y, np.where(p > 0.75, np.nan, p), np.array([0.5, 0.5]), ["a", "b"], bootstrap=0)
    with pytest.raises(PosterGenreError, match="only 0 and 1"):
        evaluate_predictions(y * 2, p, np.array([0.5, 0.5]), ["a", "b"], bootstrap=0)
