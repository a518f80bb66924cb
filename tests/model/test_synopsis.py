"""SynopsisHead on real studio plots: it learns, it saves without pickle and reloads identically."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from postergenre.errors import ModelError, PosterGenreError
from postergenre.labelled.metrics import macro_auc
from postergenre.model.synopsis import SynopsisHead
from studio_data import GENRES, studio_films


@pytest.fixture(scope="module")
def plots_and_labels(shared_data):
    _ids, plots, Y = studio_films(shared_data)
    # The CSV is in release order; a fixed shuffle keeps training and held-out plots from the same years.
    order = np.random.default_rng(0).permutation(len(plots))[:1200]
    return [plots[i] for i in order], Y[order]


@pytest.fixture(scope="module")
def fitted(plots_and_labels):
    plots, Y = plots_and_labels
    return SynopsisHead(genres=GENRES).fit(plots[:900], Y[:900])


def test_learns_genres_from_held_out_plots(fitted, plots_and_labels):
    plots, Y = plots_and_labels
    P = fitted.predict_proba(plots[900:])
    assert P.shape == (300, len(GENRES))
    assert ((P > 0) & (P < 1)).all()
    cols = Y[900:].sum(0) >= 5
    # Plots name what films are about: well above chance (0.5) on plots the head never saw.
    assert macro_auc(Y[900:, cols], P[:, cols]) > 0.72
    # Calibrated on leave-one-out scores: the mean probability tracks the genre frequency.
    assert np.abs(P.mean(0) - Y[900:].mean(0)).max() < 0.12


def test_round_trip_through_safetensors_and_json_is_identical(fitted, plots_and_labels, tmp_path):
    plots, _ = plots_and_labels
    tensors = fitted.to_tensors()
    assert {"idf0", "idf1", "weights", "biases", "calib_scale", "calib_bias"} <= set(tensors)  # its own names
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp_path / "t.safetensors"))
    (tmp_path / "c.json").write_text(json.dumps(fitted.config()))
    loaded = SynopsisHead.from_saved(
        load_file(str(tmp_path / "t.safetensors")), json.loads((tmp_path / "c.json").read_text())
    )
    texts = plots[900:1000] + ["A dog and a boy save the farm.", "ÉCOLE de musique: a choir competes!"]
    np.testing.assert_array_equal(loaded.predict_proba(texts), fitted.predict_proba(texts))
    assert loaded.config()["genres"] == GENRES


def test_compact_tensors_are_a_quarter_of_the_size_and_rank_held_out_plots_alike(fitted, plots_and_labels, tmp_path):
    plots, Y = plots_and_labels
    full, compact = fitted.to_tensors(), fitted.to_tensors(compact=True)
    assert compact["weights"].dtype == np.int8 and compact["idf0"].dtype == np.float16
    assert sum(v.nbytes for v in compact.values()) < 0.3 * sum(v.nbytes for v in full.values())
    save_file({k: np.ascontiguousarray(v) for k, v in compact.items()}, str(tmp_path / "t.safetensors"))
    loaded = SynopsisHead.from_saved(load_file(str(tmp_path / "t.safetensors")), fitted.config())
    P, Q = fitted.predict_proba(plots[900:]), loaded.predict_proba(plots[900:])
    assert np.abs(P - Q).mean() < 2e-3 and np.abs(P - Q).max() < 0.05
    cols = Y[900:].sum(0) >= 5
    assert abs(macro_auc(Y[900:, cols], Q[:, cols]) - macro_auc(Y[900:, cols], P[:, cols])) < 0.002


def _eigen_dual_ridge(Ks, R, alpha):
    """The solver the head used before the Cholesky one: one eigen-decomposition of the kernel."""
    evals, evecs = np.linalg.eigh(Ks)
    evals = np.clip(evals, 0.0, None)
    shrink = 1.0 / (evals + alpha)
    return evecs @ (shrink[:, None] * (evecs.T @ R)), np.einsum("ik,k,ik->i", evecs, evals * shrink, evecs)


@pytest.mark.slow  # three head fits
def test_cholesky_fit_predicts_what_the_eigen_decomposition_fit_did(fitted, plots_and_labels, monkeypatch):
    from postergenre.model import synopsis

    plots, Y = plots_and_labels
    X = fitted._features(plots[:900])
    frequent = (np.diff(X.tocsc().indptr) >= 900 // 12).sum()
    assert 0 < frequent < X.shape[1]  # both halves of the kernel's split are used
    np.testing.assert_allclose(synopsis._gram(X), (X @ X.T).toarray(), rtol=0, atol=1e-12)
    monkeypatch.setattr(synopsis, "_dual_ridge", _eigen_dual_ridge)
    w = np.where(Y[:900, GENRES.index("Family")] == 1, 3.0, 1.0)
    eigen, eigen_weighted = (SynopsisHead(genres=GENRES).fit(plots[:900], Y[:900], sample_weight=s) for s in (None, w))
    monkeypatch.undo()
    weighted = SynopsisHead(genres=GENRES).fit(plots[:900], Y[:900], sample_weight=w)
    held_out = plots[900:]
    assert np.abs(fitted.predict_proba(held_out) - eigen.predict_proba(held_out)).max() < 1e-6
    assert np.abs(weighted.predict_proba(held_out) - eigen_weighted.predict_proba(held_out)).max() < 1e-6
    np.testing.assert_allclose(fitted.calib_scale_, eigen.calib_scale_, rtol=1e-5)


def test_blank_synopsis_has_no_signal(fitted):
    P = fitted.predict_proba(["", None, "   ", "A young girl befriends a horse."])
    assert np.isnan(P[:3]).all() and np.isfinite(P[3]).all()


def test_sample_weight_changes_the_fit(plots_and_labels):
    plots, Y = plots_and_labels
    base = SynopsisHead(char_ngrams=None).fit(plots[:400], Y[:400])
    w = np.where(Y[:400, GENRES.index("Documentary")] == 1, 5.0, 1.0)
    weighted = SynopsisHead(char_ngrams=None).fit(plots[:400], Y[:400], sample_weight=w)
    zero = np.ones(400)
    zero[200:] = 0
    half = SynopsisHead(char_ngrams=None).fit(plots[:400], Y[:400], sample_weight=zero)
    only = SynopsisHead(char_ngrams=None).fit(plots[:200], Y[:200])
    probe = plots[900:950]
    assert not np.allclose(base.predict_proba(probe), weighted.predict_proba(probe))
    # A weight of 0 is the same as leaving the plot out.
    np.testing.assert_allclose(half.predict_proba(probe), only.predict_proba(probe), atol=1e-6)


def test_errors_name_the_problem(plots_and_labels):
    plots, Y = plots_and_labels
    with pytest.raises(PosterGenreError, match="labels"):
        SynopsisHead().fit(plots[:50], Y[:40])
    with pytest.raises(PosterGenreError, match="genre names"):
        SynopsisHead(genres=["Comedy"]).fit(plots[:50], Y[:50])
    with pytest.raises(ModelError, match="not fitted"):
        SynopsisHead().predict_proba(["a plot"])
    with pytest.raises(ModelError, match="missing"):
        SynopsisHead.from_saved(
            {},
            {
                "format_version": 1,
                "params": {"word_ngrams": [1, 2], "char_ngrams": None, "min_df": 2, "alpha": 15.0},
                "analysers": [{"analyzer": "word", "ngram_range": [1, 2], "vocabulary": ["a"]}],
                "n_genres": 1,
            },
        )
