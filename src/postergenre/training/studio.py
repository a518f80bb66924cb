"""Training for the studio's own films: the studio extensions on top of the general poster head.

When the catalog has a `studio` collection, training (train.py) fits the poster head on the GENERAL films only
(so its probabilities are out-of-sample for every studio film), then the studio-fitting stage `fit_extensions`:
a domain correction stacked on the general head, the synopsis head on the studio films' plots, and the fusion of
the two signals, each chosen and measured by k-fold CV on studio films only (`fit_studio_extensions`); and the
poster thresholds re-tuned on the corrected out-of-fold probabilities (general and studio films), since the
shipped poster signal is the corrected one. `build_artifact` stores the result (`head_config["studio"]`, tensors
`domain.*`, `synopsis.*`, `fusion.*`, metrics `studio`).

Folds: iterative-stratified k-fold over studio films grouped by poster sha256 (no poster on both sides);
general films are always on the training side (they only train the general head).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog.records import Movie
from ..errors import PosterGenreError
from ..jsonsafe import json_safe
from ..labelled.calibration import reliability
from ..labelled.metrics import evaluate_predictions, f1_scores, macro_auc, paired_auc_gain
from ..model.assembly import SYNOPSIS_ONLY_THRESHOLDS
from ..model.domain import DomainCorrection
from ..model.fusion import Fusion
from ..model.logistic import logit
from ..model.head_forward import probabilities as head_probabilities
from ..model.synopsis import SynopsisHead, has_text
from ..model.thresholds import choose_thresholds, decide
from ..labelled.datasets import Dataset
from ..labelled.labels import label_matrix
from .options import TrainOptions
from ..labelled.split import kfold, poster_groups

STUDIO = "studio"
Progress = Callable[[str], None]


def studio_films(movies: list[Movie], genres: list[str]) -> list[Movie]:
    """The studio collection's films that carry at least one of the model's genres (with or without a poster)."""
    kept = set(genres)
    return [m for m in movies if STUDIO in (getattr(m, "collections", ()) or ()) and kept.intersection(m.genres)]


def in_studio(ds: Dataset) -> np.ndarray:
    """bool [N]: which movies of `ds` are in the studio collection."""
    return (np.array([STUDIO in cs for cs in ds.collections], dtype=bool) if ds.collections
            else np.zeros(len(ds.ids), dtype=bool))


def studio_folds(Y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number [N] of each studio film: stratified k-fold over poster groups (one group never splits)."""
    fold = np.full(len(Y), -1, dtype=np.int64)
    for k, (_, te) in enumerate(kfold(np.asarray(Y), np.asarray(groups), n_splits, seed)):
        fold[te] = k
    return fold


def _folds_of(fold: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions inside `rows` for each fold number."""
    f = fold[rows]
    return [(np.flatnonzero(f != k), np.flatnonzero(f == k)) for k in range(int(fold.max()) + 1)
            if (f == k).any() and (f != k).any()]


@dataclass
class StudioExtensions:
    """What `fit_studio_extensions` hands to training: fitted parts, their artifact tensors/config, CV metrics."""

    domain: DomainCorrection
    synopsis: SynopsisHead
    fusion: Fusion
    metrics: dict[str, Any]
    oof: dict[str, np.ndarray] = field(default_factory=dict)  # studio out-of-fold probabilities (for reports)
    synopsis_thresholds: np.ndarray | None = None  # decide a synopsis read alone (tuned on its OOF probabilities)

    def tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        """Every tensor for the artifact's safetensors file (prefixes domain., synopsis., fusion., synopsis_only.);
        `compact`: the synopsis head's large arrays quantized (SynopsisHead.to_tensors)."""
        out = self.domain.to_tensors() | self.synopsis.to_tensors(compact) | self.fusion.to_tensors()
        if self.synopsis_thresholds is not None:
            out[SYNOPSIS_ONLY_THRESHOLDS] = np.asarray(self.synopsis_thresholds, dtype=np.float32)
        return out

    def config(self) -> dict[str, Any]:
        """JSON-safe config for the artifact's model.json (key `studio`)."""
        out = {"domain": self.domain.config(), "synopsis": self.synopsis.config(), "fusion": self.fusion.config()}
        if self.synopsis_thresholds is not None:
            out["synopsis_only"] = {"thresholds": f"tensor {SYNOPSIS_ONLY_THRESHOLDS}, tuned on out-of-fold synopsis "
                                                  "probabilities of studio films (a synopsis read without a poster)"}
        return out

    def poster_probs(self, general_probs: np.ndarray) -> np.ndarray:
        """Domain-aware poster probabilities from the general head's probabilities."""
        return self.domain.predict_proba(general_probs)


def cross_fitted_fusion(poster_probs: np.ndarray, synopsis_probs: np.ndarray, Y: np.ndarray, genres: Sequence[str],
                        folds: Sequence[tuple[np.ndarray, np.ndarray]], *, fallback_thresholds: np.ndarray | None = None,
                        **params: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fused probabilities [N, G] and decided genres [N, G] where each fold's fusion and thresholds were fitted
    on the other folds only (the inputs themselves should already be out-of-fold predictions)."""
    p = np.asarray(poster_probs, dtype=np.float64)
    fused = p.copy()
    decided = np.zeros(p.shape, dtype=bool)
    for tr, te in folds:
        fusion = Fusion(genres, **params).fit(p[tr], synopsis_probs[tr], Y[tr], fallback_thresholds=fallback_thresholds)
        fused[te] = fusion.fuse(p[te], synopsis_probs[te])
        decided[te] = decide(fused[te], fusion.thresholds_)
    return fused, decided


def _metrics(Y: np.ndarray, probs: np.ndarray, genres: Sequence[str], thresholds: np.ndarray | None, seed: int,
             bootstrap: int, decided: np.ndarray | None = None) -> dict[str, Any]:
    """Headline metrics (evaluate_predictions) plus Family on its own line; thresholds chosen OOF if None."""
    t = choose_thresholds(Y, probs) if thresholds is None else thresholds
    ev = evaluate_predictions(Y, probs, t, genres, bootstrap=bootstrap, seed=seed, auc_bootstrap=min(bootstrap, 200))
    out = {"n_movies": ev["n_movies"], "headline": ev["headline"],
           "per_genre": [{k: p[k] for k in ("genre", "support", "roc_auc", "average_precision", "f1", "threshold")}
                         for p in ev["per_genre"]]}
    fam = next((p for p in ev["per_genre"] if p["genre"] == "Family"), None)
    out["family_auc"] = fam["roc_auc"] if fam else None
    if decided is not None:
        out["micro_f1_cross_fitted"] = f1_scores(Y, decided)["micro_f1"]
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
    if general_oof is not None:
        yg, pg = np.asarray(general_oof[0]), np.asarray(general_oof[1], dtype=np.float64)
        gfold = np.random.default_rng(seed).permutation(len(yg)) % n_splits
        base_general = macro_auc(yg, logit(pg))
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
                "studio_macro_auc": macro_auc(Y[poster_rows], logit(oof[poster_rows]))}
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
    fp = fusion_params or {}
    fused, decided = cross_fitted_fusion(oof_poster[both], oof_syn[both], Y[both], genres, _folds_of(fold, both),
                                         fallback_thresholds=poster_thresholds, **fp)
    fusion = Fusion(genres, **fp).fit(oof_poster[both], oof_syn[both], Y[both], fallback_thresholds=poster_thresholds)

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
        # Reliability of each signal's out-of-fold probabilities (the fused ones cross-fitted), pooled over genres.
        "calibration": {"poster": reliability(Yp, oof_poster[poster_rows]),
                        "synopsis": reliability(Y[text_rows], oof_syn[text_rows]),
                        "fused": reliability(Yb, fused)},
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
    synopsis_thresholds = choose_thresholds(Y[text_rows], oof_syn[text_rows])
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"studio extensions fitted in {metrics['seconds']} s")
    oof = {"poster_general": P, "poster": oof_poster, "synopsis": oof_syn, "fold": fold.astype(np.float64)}
    return StudioExtensions(domain, synopsis, fusion, metrics, oof, synopsis_thresholds)


@dataclass
class StudioFit:
    """The studio-fitting stage's result: what the artifact stores for the studio extensions."""

    extensions: StudioExtensions
    thresholds: np.ndarray  # the poster thresholds, re-tuned on the corrected out-of-fold probabilities
    tensors: dict[str, np.ndarray]
    config: dict[str, Any]
    metrics: dict[str, Any]  # JSON-safe
    films: dict[str, int]


def fit_extensions(ds: Dataset, movies: Sequence[Movie], head_tensors: dict[str, np.ndarray],
                   feature_slice: Sequence[int], *, labels: np.ndarray, oof: np.ndarray, poster_thresholds: np.ndarray,
                   opts: TrainOptions, log: Progress) -> StudioFit:
    """The studio extensions on top of a general head fitted without studio films.

    `ds`: the whole data set (its studio films' vectors feed the head); `movies`: the catalog's movies (studio films
    without a poster still train the synopsis head); `labels`/`oof`: the general films' labels and the head's
    out-of-fold probabilities on them; `poster_thresholds`: the general head's thresholds.
    """
    films = studio_films(list(movies), ds.genres)
    rows_in_studio = in_studio(ds)
    vectors = {sha: ds.X[i] for i, sha in enumerate(ds.shas) if rows_in_studio[i]}
    has_poster = np.array([m.poster_sha256 in vectors for m in films], dtype=bool)
    general_probs = np.full((len(films), len(ds.genres)), 0.5)
    rows = np.flatnonzero(has_poster)
    if len(rows):
        X = np.stack([vectors[films[i].poster_sha256] for i in rows])
        general_probs[rows] = head_probabilities(head_tensors, list(feature_slice), X)
    Y = label_matrix((m.genres for m in films), ds.genres)
    # A shared poster never lands on both sides of a fold; a film without a poster is its own group.
    groups = poster_groups([m.poster_sha256 if has_poster[i] else f"id:{m.imdb_id}" for i, m in enumerate(films)])
    ext = fit_studio_extensions(general_probs, Y, ds.genres, has_poster=has_poster, plots=[m.plot for m in films],
                                groups=groups, general_oof=(labels, oof), poster_thresholds=poster_thresholds,
                                n_splits=opts.folds, seed=opts.seed, bootstrap=opts.bootstrap, progress=log)
    # The shipped poster signal is the corrected one: its thresholds come from corrected out-of-fold probabilities.
    thresholds = choose_thresholds(np.concatenate([labels, Y[rows]]),
                                   np.concatenate([ext.poster_probs(oof), ext.oof["poster"][rows]]),
                                   opts.threshold_metric)
    films_info = {"films": len(films), "with_poster": int(has_poster.sum()),
                  "with_plot": int(sum(bool(m.plot and m.plot.strip()) for m in films))}
    return StudioFit(ext, thresholds, ext.tensors(compact=opts.compact), ext.config(), json_safe(ext.metrics),
                     films_info)
