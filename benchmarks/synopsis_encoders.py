"""Per-signal table of the studio benchmark: each synopsis text head, alone and fused with the poster, on the
studio CV's own folds (no film on both sides of a fold), overall and for the studio's key genres, with each
signal's expected calibration error (ECE).

Text heads compared (all out-of-fold on the same folds as `fit_studio_extensions`):
- `tfidf`: the ridge head on word + character TF-IDF only (the head shipped before, with the fixed calibration);
- `wordllama LR`: per-genre logistic regression (C=0.003, chosen among 0.001-0.3 by this CV) on standardised
  WordLlama sentence vectors;
- `tfidf + wordllama (one ridge)`: what training ships (SynopsisHead's default), taken from the fitted extensions;
- `logit average tfidf, wordllama LR`: the two heads' calibrated logits averaged (an ensemble of two heads).
Each is folded into the poster + synopsis fusion, re-fitted on out-of-fold predictions fold by fold
(`cross_fitted_fusion`).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from postergenre.labelled.calibration import reliability
from postergenre.labelled.metrics import macro_auc, roc_auc_weighted
from postergenre.model.logistic import logit, sigmoid
from postergenre.model.synopsis import SynopsisHead
from postergenre.model.text_encoder import shared_encoder
from postergenre.training.studio import _folds_of, cross_fitted_fusion

KEY_GENRES = ("Family", "Adventure", "Comedy", "Animation")
LR_C = 0.003


def _wordllama_lr(plots: list[str], Y: np.ndarray, tr: np.ndarray, te: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression

    Z = shared_encoder().encode([plots[i] for i in np.concatenate([tr, te])]).astype(np.float64)
    Ztr, Zte = Z[:len(tr)], Z[len(tr):]
    mu, sd = Ztr.mean(0), Ztr.std(0) + 1e-9
    Ztr, Zte = (Ztr - mu) / sd, (Zte - mu) / sd
    out = np.empty((len(te), Y.shape[1]))
    for j in range(Y.shape[1]):
        y = Y[tr, j]
        out[:, j] = (y.sum() + 1) / (len(y) + 2) if y.sum() == 0 else \
            LogisticRegression(C=LR_C, max_iter=2000).fit(Ztr, y).predict_proba(Zte)[:, 1]
    return out


def _scores(Y: np.ndarray, P: np.ndarray, genres: list[str]) -> dict[str, Any]:
    per = {g: float(roc_auc_weighted(Y[:, genres.index(g)], P[:, genres.index(g)])) for g in KEY_GENRES if g in genres}
    return {"n": int(len(Y)), "macro_auc": macro_auc(Y, P), "genre_auc": per, "ece": reliability(Y, P)["ece"]}


def compare_text_heads(ext: Any, plots: list[str | None], Y: np.ndarray, genres: list[str],
                       poster_thresholds: np.ndarray, log=print) -> dict[str, Any]:
    """Rows {signal: scores} for the poster, each text head alone (all plots) and each fused (films with both)."""
    t0 = time.perf_counter()
    fold = ext.oof["fold"].astype(np.int64)
    poster = ext.oof["poster"]
    has_text = np.array([bool(p) for p in plots])
    has_poster = np.isfinite(poster).all(axis=1)
    text_rows, both = np.flatnonzero(has_text), np.flatnonzero(has_text & has_poster)
    texts = [p or "" for p in plots]

    heads: dict[str, np.ndarray] = {}
    for name, fit_predict in (
            ("tfidf", lambda tr, te: SynopsisHead(genres=genres, encoder=None).fit([texts[i] for i in tr], Y[tr])
             .predict_proba([texts[i] for i in te])),
            ("wordllama LR", lambda tr, te: _wordllama_lr(texts, Y, tr, te))):
        S = np.full(Y.shape, np.nan)
        for tr, te in _folds_of(fold, text_rows):
            S[text_rows[te]] = fit_predict(text_rows[tr], text_rows[te])
        heads[name] = S
        log(f"text head {name}: out of fold in {time.perf_counter() - t0:.0f} s")
    heads["tfidf + wordllama (one ridge, shipped)"] = ext.oof["synopsis"]
    heads["logit average tfidf, wordllama LR"] = sigmoid((logit(heads["tfidf"]) + logit(heads["wordllama LR"])) / 2)

    rows: dict[str, Any] = {"poster (domain-aware)": _scores(Y[both], poster[both], genres)}
    for name, S in heads.items():
        rows[f"synopsis: {name}"] = _scores(Y[text_rows], S[text_rows], genres)
        fused, _ = cross_fitted_fusion(poster[both], S[both], Y[both], genres, _folds_of(fold, both),
                                       fallback_thresholds=poster_thresholds)
        rows[f"poster + synopsis: {name}"] = _scores(Y[both], fused, genres)
    return {"rows": rows, "scope": "5-fold CV on studio films (the studio CV's folds); poster and fused rows: films "
                                   "with a poster and a plot; synopsis rows: every film with a plot",
            "seconds": round(time.perf_counter() - t0, 1)}


def print_table(result: dict[str, Any], before: dict[str, Any] | None = None) -> None:
    head = f"{'signal':58s} {'n':>5s} {'macro':>6s} " + " ".join(f"{g[:9]:>9s}" for g in KEY_GENRES) + f" {'ECE':>7s}"
    print(head)
    for name, r in (before or {}).items():
        print(f"{name:58s} {r['n']:5d} {r['macro_auc']:6.3f} "
              + " ".join(f"{r['genre_auc'].get(g, float('nan')):9.3f}" for g in KEY_GENRES)
              + (f" {r['ece']:7.4f}" if r.get("ece") is not None else f" {'':>7s}"))
    for name, r in result["rows"].items():
        print(f"{name:58s} {r['n']:5d} {r['macro_auc']:6.3f} "
              + " ".join(f"{r['genre_auc'].get(g, float('nan')):9.3f}" for g in KEY_GENRES) + f" {r['ece']:7.4f}")


def before_rows(previous: dict[str, Any] | None) -> dict[str, Any]:
    """The previous run's synopsis and fused rows (benchmarks/results/quality_studio.json before this run), as
    reported then; ECE was not measured then."""
    if not previous or "metrics" not in previous:
        return {}
    m = previous["metrics"]
    out = {}
    for label, seg in (("BEFORE synopsis (previous run)", "studio_synopsis"),
                       ("BEFORE poster + synopsis (previous run)", "studio_fused")):
        entry = m.get(seg) or {}
        per = {p["genre"]: p["roc_auc"] for p in entry.get("per_genre", [])}
        cal = (m.get("calibration") or {}).get("synopsis" if "synopsis" in seg and "fused" not in seg else "fused")
        out[label] = {"n": entry.get("n_movies", 0), "macro_auc": entry["headline"]["macro_auc"]["value"],
                      "genre_auc": {g: per[g] for g in KEY_GENRES if g in per},
                      "ece": None if cal is None else cal["ece"]}
    return out
