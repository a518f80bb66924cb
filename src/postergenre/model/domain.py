"""Domain-aware poster training for the studio's G/PG films, and the one entry point training calls for the
studio extensions (domain correction, synopsis head, fusion) with their cross-validated metrics.

Method (chosen by 5-fold CV on studio films, see benchmarks/quality_studio.py): the poster head is fitted on
general films only, and a small studio head is stacked on it: studio logits = M @ general logits + d, with M
a G x G matrix pulled towards the identity (penalty `l2` on M - I). It learns how the general genres read on
family films (e.g. "Animation" and "Adventure" evidence is Family evidence there). It is fitted on the general
head's out-of-fold predictions for general films plus the studio films weighted x`w`, `w` chosen by studio CV
among the weights that cost general posters <= 0.005 macro AUC (fitted on studio films alone it cost them 0.023).
On the same folds, weighting the studio films x1/x3/x5/x10 inside the general head's training gained less
(PCA-256 proxy: best x5, +0.013 macro AUC vs +0.018 for the stacked head) and needs a full head fit per fold and
weight; the stacked head costs seconds, because the general head never sees a studio film, so its studio
predictions are out-of-sample for every fold.

Folds: iterative-stratified k-fold over studio films grouped by poster sha256 (no poster on both sides);
general films are always on the training side (they only train the general head).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .head_forward import sigmoid as expit
from .fusion import Fusion, cross_fitted_fusion, fit_fusion
from .synopsis import SynopsisHead, has_text

TENSOR_PREFIX = "domain."
FORMAT_VERSION = 1
_EPS = 1e-6

Progress = Callable[[str], None]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


class DomainCorrection:
    """Studio head stacked on the general poster head: logits' = logits @ M.T + d (M near the identity).

    sklearn-style: `fit(general_probs, Y, sample_weight=None)`, `predict_proba(general_probs)`.
    """

    def __init__(self, l2: float = 1e-3, max_iter: int = 300):
        self.l2 = l2
        self.max_iter = max_iter

    def fit(self, general_probs: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "DomainCorrection":
        L = _logit(general_probs)
        Y = np.asarray(Y, dtype=np.float64)
        if L.ndim != 2 or L.shape != Y.shape:
            raise PosterGenreError(f"domain correction: probabilities {L.shape} and labels {Y.shape} must both be [N, G]")
        n, g = L.shape
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        w = w / w.mean()
        l2 = float(self.l2)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            D, d = theta[:g * g].reshape(g, g), theta[g * g:]
            z = L + L @ D.T + d
            cell = (np.logaddexp(0, z) - Y * z) * w[:, None]
            r = (expit(z) - Y) * w[:, None] / (n * g)  # mean over cells, like the poster heads' loss
            value = cell.sum() / (n * g) + l2 * (D * D).sum()
            return value, np.concatenate([(r.T @ L + 2 * l2 * D).ravel(), r.sum(0)])

        from scipy.optimize import minimize  # fitting only: the predict path loads no optimiser

        res = minimize(loss, np.zeros(g * g + g), jac=True, method="L-BFGS-B", options={"maxiter": int(self.max_iter)})
        self.matrix_ = np.eye(g) + res.x[:g * g].reshape(g, g)
        self.bias_ = res.x[g * g:]
        return self

    def decision_function(self, general_probs: np.ndarray) -> np.ndarray:
        if not hasattr(self, "matrix_"):
            raise ModelError("domain correction is not fitted")
        return _logit(general_probs) @ self.matrix_.T + self.bias_

    def predict_proba(self, general_probs: np.ndarray) -> np.ndarray:
        return expit(self.decision_function(general_probs))

    def to_tensors(self) -> dict[str, np.ndarray]:
        return {f"{TENSOR_PREFIX}matrix": self.matrix_.astype(np.float32), f"{TENSOR_PREFIX}bias": self.bias_.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "method": "stacked studio head on general logits",
                "l2": float(self.l2), "max_iter": int(self.max_iter)}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> "DomainCorrection":
        if config.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"domain correction format {config.get('format_version')!r} is not supported")
        out = cls(l2=config.get("l2", 1e-3), max_iter=config.get("max_iter", 300))
        try:
            out.matrix_ = np.asarray(tensors[f"{TENSOR_PREFIX}matrix"], dtype=np.float64)
            out.bias_ = np.asarray(tensors[f"{TENSOR_PREFIX}bias"], dtype=np.float64)
        except KeyError as exc:
            raise ModelError(f"domain correction tensors incomplete: missing {exc.args[0]}") from exc
        return out


def studio_folds(Y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number [N] of each studio film: stratified k-fold over poster groups (one group never splits)."""
    from .split import kfold  # training only: iterstrat and sklearn stay off the predict path

    fold = np.full(len(Y), -1, dtype=np.int64)
    for k, (_, te) in enumerate(kfold(np.asarray(Y), np.asarray(groups), n_splits, seed)):
        fold[te] = k
    return fold


def _folds_of(fold: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions inside `rows` for each fold number."""
    f = fold[rows]
    return [(np.flatnonzero(f != k), np.flatnonzero(f == k)) for k in range(int(fold.max()) + 1)
            if (f == k).any() and (f != k).any()]


def paired_auc_gain(Y: np.ndarray, base: np.ndarray, new: np.ndarray, genres: Sequence[str], *,
                    resamples: int = 500, seed: int = 0) -> dict[str, Any]:
    """ROC AUC of `new` minus `base` on the same films, per genre and macro, with 95% paired-bootstrap intervals."""
    from .metrics import roc_auc_weighted

    Y = np.asarray(Y).astype(bool)
    n, g = Y.shape
    rng = np.random.default_rng(seed)
    w = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    cols = [j for j in range(g) if 0 < Y[:, j].sum() < n]
    per, dist = [], []
    for j in cols:
        d_point = roc_auc_weighted(Y[:, j], new[:, j]) - roc_auc_weighted(Y[:, j], base[:, j])
        d = roc_auc_weighted(Y[:, j], new[:, j], w) - roc_auc_weighted(Y[:, j], base[:, j], w)
        dist.append(d)
        lo, hi = np.nanpercentile(d, [2.5, 97.5])
        per.append({"genre": genres[j], "support": int(Y[:, j].sum()), "base_auc": float(roc_auc_weighted(Y[:, j], base[:, j])),
                    "new_auc": float(roc_auc_weighted(Y[:, j], new[:, j])), "gain": float(d_point),
                    "ci_low": float(lo), "ci_high": float(hi)})
    macro = np.nanmean(np.stack(dist), axis=0)
    lo, hi = np.nanpercentile(macro, [2.5, 97.5])
    return {"macro_gain": float(np.mean([p["gain"] for p in per])), "ci_low": float(lo), "ci_high": float(hi),
            "per_genre": per, "resamples": resamples}


@dataclass
class StudioExtensions:
    """What `fit_studio_extensions` hands to training: fitted parts, their artifact tensors/config, CV metrics."""

    domain: DomainCorrection
    synopsis: SynopsisHead
    fusion: Fusion
    metrics: dict[str, Any]
    oof: dict[str, np.ndarray] = field(default_factory=dict)  # studio out-of-fold probabilities (for reports)

    def tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        """Every tensor for the artifact's safetensors file (prefixes domain., synopsis., fusion.); `compact`:
        the synopsis head's large arrays quantized (SynopsisHead.to_tensors)."""
        return self.domain.to_tensors() | self.synopsis.to_tensors(compact) | self.fusion.to_tensors()

    def config(self) -> dict[str, Any]:
        """JSON-safe config for the artifact's model.json (key `studio`)."""
        return {"domain": self.domain.config(), "synopsis": self.synopsis.config(), "fusion": self.fusion.config()}

    def poster_probs(self, general_probs: np.ndarray) -> np.ndarray:
        """Domain-aware poster probabilities from the general head's probabilities."""
        return self.domain.predict_proba(general_probs)

    def predict(self, general_probs: np.ndarray, synopses: Sequence[str | None] | None = None) -> dict[str, np.ndarray]:
        """The three signals: `poster_probabilities`, `synopsis_probabilities` (NaN rows without text) and
        `probabilities` (fused; equal to the poster signal where there is no synopsis)."""
        poster = self.poster_probs(general_probs)
        if synopses is None:
            return {"probabilities": poster, "poster_probabilities": poster}
        syn = self.synopsis.predict_proba(list(synopses))
        return {"probabilities": self.fusion.fuse(poster, syn), "poster_probabilities": poster,
                "synopsis_probabilities": syn}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> "StudioExtensions":
        return cls(DomainCorrection.from_saved(tensors, config["domain"]),
                   SynopsisHead.from_saved(tensors, config["synopsis"]),
                   Fusion.from_saved(tensors, config["fusion"]), metrics={})


def _metrics(Y: np.ndarray, probs: np.ndarray, genres: Sequence[str], thresholds: np.ndarray | None, seed: int,
             bootstrap: int, decided: np.ndarray | None = None) -> dict[str, Any]:
    """Headline metrics (evaluate_predictions) plus Family on its own line; thresholds chosen OOF if None."""
    from .metrics import evaluate_predictions
    from .thresholds import choose_thresholds

    t = choose_thresholds(Y, probs) if thresholds is None else thresholds
    ev = evaluate_predictions(Y, probs, t, genres, bootstrap=bootstrap, seed=seed, auc_bootstrap=min(bootstrap, 200))
    out = {"n_movies": ev["n_movies"], "headline": ev["headline"],
           "per_genre": [{k: p[k] for k in ("genre", "support", "roc_auc", "average_precision", "f1", "threshold")}
                         for p in ev["per_genre"]]}
    fam = next((p for p in ev["per_genre"] if p["genre"] == "Family"), None)
    out["family_auc"] = fam["roc_auc"] if fam else None
    if decided is not None:
        y = np.asarray(Y).astype(bool)
        tp, fp, fn = (y & decided).sum(), (~y & decided).sum(), (y & ~decided).sum()
        out["micro_f1_cross_fitted"] = float(2 * tp / max(2 * tp + fp + fn, 1))
    return out


def fit_studio_extensions(general_probs: np.ndarray, Y: np.ndarray, genres: Sequence[str], *, has_poster: np.ndarray,
                          plots: Sequence[str | None], groups: np.ndarray,
                          general_oof: tuple[np.ndarray, np.ndarray] | None = None,
                          poster_thresholds: np.ndarray | None = None, n_splits: int = 5, seed: int = 0,
                          bootstrap: int = 1000, domain_l2: float = 1e-3, studio_weights: Sequence[float] = (3.0, 10.0),
                          max_general_loss: float = 0.005, synopsis_params: dict[str, Any] | None = None,
                          fusion_params: dict[str, Any] | None = None,
                          progress: Progress | None = None) -> StudioExtensions:
    """Fit the studio extensions and measure them by k-fold CV on studio films only.

    Inputs, one row per STUDIO film (with or without a poster, with or without a plot):
    - `general_probs` [N, G]: the general poster head's probabilities (a head fitted on general films only, so
      they are out-of-sample for every studio film); rows without a poster are ignored (fill them with 0.5).
    - `Y` [N, G] multi-hot in the model's genre order `genres`; `has_poster` bool [N]; `plots` (None/"" = none);
    - `groups` [N]: poster sha256 group ids (films without a poster: a unique id each), so a shared poster
      never lands on both sides of a fold.
    - `general_oof` (optional but recommended): (Y_general, out-of-fold general-head probabilities on general
      films, e.g. from training's own CV). With it, the correction is fitted on general films AND studio films,
      the studio films weighted by each of `studio_weights`; the weight is chosen by studio CV among those that
      cost general films at most `max_general_loss` macro AUC (5-fold CV over general films). Without it, the
      correction is fitted on studio films only (it then usually costs general posters ~0.02 macro AUC).
    - `poster_thresholds`: the poster model's thresholds (fallback for genres too rare among studio films).

    Returns the parts fitted on all studio films and `metrics` with, per segment, out-of-fold numbers:
    `studio_poster_general` (general head alone), `studio_poster` (domain-aware), `studio_synopsis`,
    `studio_fused`, the per-genre gain of domain-aware over general-only with intervals, and `general`.
    """
    log = progress or (lambda _m: None)
    t0 = time.perf_counter()
    Y = np.asarray(Y)
    genres = list(genres)
    P = np.asarray(general_probs, dtype=np.float64)
    hp = np.asarray(has_poster, dtype=bool)
    plots = [None if not has_text([t])[0] else str(t) for t in plots]
    ht = has_text(plots)
    if not (P.shape == Y.shape == (len(hp), len(genres))) or len(plots) != len(hp) or len(groups) != len(hp):
        raise PosterGenreError(f"fit_studio_extensions: {len(hp)} films need probabilities and labels [N, {len(genres)}], "
                               f"plots and groups of length N; got {P.shape}, {Y.shape}, {len(plots)}, {len(groups)}")
    fold = studio_folds(Y, groups, n_splits, seed)
    poster_rows, text_rows = np.flatnonzero(hp), np.flatnonzero(ht)
    both = np.flatnonzero(hp & ht)
    log(f"studio CV: {len(hp)} films, {len(poster_rows)} with a poster, {len(text_rows)} with a plot, {n_splits} folds")

    # Poster: domain correction, out of fold, for each candidate studio weight.
    from .heads import macro_auc

    if general_oof is not None:
        yg, pg = np.asarray(general_oof[0]), np.asarray(general_oof[1], dtype=np.float64)
        gfold = np.random.default_rng(seed).permutation(len(yg)) % n_splits
        base_general = macro_auc(yg, _logit(pg))
    weights = list(studio_weights) if general_oof is not None else [None]
    candidates: list[dict[str, Any]] = []
    for weight in weights:
        def fit_corr(rows: np.ndarray, general_rows: np.ndarray | None) -> DomainCorrection:
            if weight is None:
                return DomainCorrection(l2=domain_l2).fit(P[rows], Y[rows])
            probs = np.concatenate([P[rows], pg[general_rows]])
            labels = np.concatenate([Y[rows], yg[general_rows]])
            w = np.concatenate([np.full(len(rows), float(weight)), np.ones(len(general_rows))])
            return DomainCorrection(l2=domain_l2).fit(probs, labels, sample_weight=w)

        oof = np.full(P.shape, np.nan)
        all_general = None if weight is None else np.arange(len(yg))
        for tr, te in _folds_of(fold, poster_rows):
            oof[poster_rows[te]] = fit_corr(poster_rows[tr], all_general).predict_proba(P[poster_rows[te]])
        cand = {"studio_weight": weight, "oof": oof,
                "studio_macro_auc": macro_auc(Y[poster_rows], _logit(oof[poster_rows]))}
        if weight is not None:
            # General films: each fold's correction never saw that fold's general films (studio films all train).
            gz = np.zeros(pg.shape)
            for k in range(n_splits):
                gz[gfold == k] = fit_corr(poster_rows, np.flatnonzero(gfold != k)).decision_function(pg[gfold == k])
            cand["general_macro_auc"] = macro_auc(yg, gz)
            cand["general_change"] = cand["general_macro_auc"] - base_general
        candidates.append(cand)
        log(f"domain correction, studio weight {weight}: studio macro AUC {cand['studio_macro_auc']:.4f}"
            + (f", general {cand['general_change']:+.4f}" if weight is not None else "")
            + f" ({time.perf_counter() - t0:.1f} s)")
    allowed = [c for c in candidates if c.get("general_change", 0.0) >= -max_general_loss] or \
        [max(candidates, key=lambda c: c.get("general_change", 0.0))]
    chosen = max(allowed, key=lambda c: c["studio_macro_auc"])
    oof_poster = chosen["oof"]

    # Synopsis: out of fold on every studio film with a plot, on the same folds.
    oof_syn = np.full(P.shape, np.nan)
    sp = synopsis_params or {}
    for k, (tr, te) in enumerate(_folds_of(fold, text_rows)):
        head = SynopsisHead(genres=genres, **sp).fit([plots[i] for i in text_rows[tr]], Y[text_rows[tr]])
        oof_syn[text_rows[te]] = head.predict_proba([plots[i] for i in text_rows[te]])
        log(f"synopsis head fold {k + 1}/{n_splits}: {time.perf_counter() - t0:.1f} s")

    # Fusion: honest estimate with fusions fitted on other folds' OOF predictions; the shipped one on all of them.
    fp = {"fallback_thresholds": poster_thresholds} | (fusion_params or {})
    fused, decided = cross_fitted_fusion(oof_poster[both], oof_syn[both], Y[both], genres, _folds_of(fold, both), **fp)
    fusion = fit_fusion(oof_poster[both], oof_syn[both], Y[both], genres, **fp)

    Yp, Yb = Y[poster_rows], Y[both]
    metrics: dict[str, Any] = {
        "folds": n_splits, "seed": seed,
        "scope": "k-fold CV on studio films only, grouped by poster sha256; thresholds chosen on out-of-fold predictions",
        "studio_poster_general": _metrics(Yp, P[poster_rows], genres, None, seed, bootstrap),
        "studio_poster": _metrics(Yp, oof_poster[poster_rows], genres, None, seed, bootstrap),
        "studio_synopsis": _metrics(Y[text_rows], oof_syn[text_rows], genres, None, seed, bootstrap),
        "studio_synopsis_poster_films": _metrics(Yb, oof_syn[both], genres, None, seed, bootstrap),
        "studio_poster_both_films": _metrics(Yb, oof_poster[both], genres, None, seed, bootstrap),
        "studio_fused": _metrics(Yb, fused, genres, None, seed, bootstrap, decided=decided),
        "domain_gain": paired_auc_gain(Yp, P[poster_rows], oof_poster[poster_rows], genres, seed=seed),
        "fusion_gain_over_poster": paired_auc_gain(Yb, oof_poster[both], fused, genres, seed=seed),
    }

    # Final parts on all studio films.
    weight = chosen["studio_weight"]
    if weight is None:
        domain = DomainCorrection(l2=domain_l2).fit(P[poster_rows], Yp)
    else:
        domain = DomainCorrection(l2=domain_l2).fit(
            np.concatenate([P[poster_rows], pg]), np.concatenate([Yp, yg]),
            sample_weight=np.concatenate([np.full(len(poster_rows), float(weight)), np.ones(len(yg))]))
        metrics["general"] = {"macro_auc_general_head": base_general,
                              "macro_auc_with_domain_correction": chosen["general_macro_auc"],
                              "change": chosen["general_change"], "n_movies": int(len(yg)),
                              "scope": f"{n_splits}-fold CV over general films of the correction"}
    metrics["domain_choice"] = {
        "chosen_studio_weight": weight, "max_general_loss": max_general_loss,
        "candidates": [{k: v for k, v in c.items() if k != "oof"} for c in candidates]}
    synopsis = SynopsisHead(genres=genres, **sp).fit([plots[i] for i in text_rows], Y[text_rows])
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"studio extensions fitted in {metrics['seconds']} s")
    oof = {"poster_general": P, "poster": oof_poster, "synopsis": oof_syn, "fold": fold.astype(np.float64)}
    return StudioExtensions(domain, synopsis, fusion, metrics, oof)
