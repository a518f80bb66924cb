"""Training for the studio's own films: the studio extensions on top of the general poster head.

When the catalog has a `studio` collection, training (train.py) fits the poster head on the GENERAL films only
(so its probabilities are out-of-sample for every studio film), then the studio-fitting stage `fit_extensions`:
a domain correction stacked on the general head, the synopsis head on the studio films' plots, and the fusion of
the two signals, each chosen and measured by k-fold CV on studio films only (`fit_studio_extensions`); and the
poster thresholds re-tuned on the corrected out-of-fold probabilities (general and studio films), since the
shipped poster signal is the corrected one. `build_artifact` stores the parts (`model.layout` says where: the
`studio` section of head_config, tensors `domain.*`, `synopsis.*`, `fusion.*`) and the metrics (`studio`).

Folds: iterative-stratified k-fold over studio films grouped by poster sha256 (no poster on both sides);
general films are always on the training side (they only train the general head).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..catalog.records import Movie
from ..errors import PosterGenreError
from ..jsonsafe import json_safe
from ..labelled.calibration import reliability
from ..labelled.datasets import Dataset
from ..labelled.labels import label_matrix
from ..labelled.metrics import evaluate_predictions, f1_scores, macro_auc, paired_auc_gain
from ..labelled.split import kfold, poster_groups
from ..model.assembly import AssembledModel
from ..model.domain import DomainCorrection
from ..model.fusion import Fusion
from ..model.logistic import logit
from ..model.synopsis import SynopsisHead, has_text
from ..model.thresholds import choose_thresholds, decide
from ..progress import Log, no_log
from .options import TrainOptions

STUDIO = "studio"


def studio_films(movies: Sequence[Movie], genres: Sequence[str]) -> list[Movie]:
    """The studio collection's films that carry at least one of the model's genres (with or without a poster)."""
    kept = set(genres)
    return [m for m in movies if STUDIO in (getattr(m, "collections", ()) or ()) and kept.intersection(m.genres)]


def in_studio(ds: Dataset) -> np.ndarray:
    """bool [N]: which movies of `ds` are in the studio collection."""
    return (
        np.array([STUDIO in cs for cs in ds.collections], dtype=bool)
        if ds.collections
        else np.zeros(len(ds.ids), dtype=bool)
    )


def studio_folds(Y: np.ndarray, groups: np.ndarray, n_splits: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number [N] of each studio film: stratified k-fold over poster groups (one group never splits)."""
    fold = np.full(len(Y), -1, dtype=np.int64)
    for k, (_, te) in enumerate(kfold(np.asarray(Y), np.asarray(groups), n_splits, seed)):
        fold[te] = k
    return fold


def _folds_of(fold: np.ndarray, rows: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) positions inside `rows` for each fold number."""
    f = fold[rows]
    return [
        (np.flatnonzero(f != k), np.flatnonzero(f == k))
        for k in range(int(fold.max()) + 1)
        if (f == k).any() and (f != k).any()
    ]


@dataclass
class StudioExtensions:
    """What `fit_studio_extensions` hands to training: the fitted parts and their CV metrics."""

    domain: DomainCorrection
    synopsis: SynopsisHead
    fusion: Fusion
    metrics: dict[str, Any]
    oof: dict[str, np.ndarray] = field(default_factory=dict)  # studio out-of-fold probabilities (for reports)
    synopsis_thresholds: np.ndarray | None = None  # decide a synopsis read alone (tuned on its OOF probabilities)

    def poster_probs(self, general_probs: np.ndarray) -> np.ndarray:
        """Domain-aware poster probabilities from the general head's probabilities."""
        return self.domain.predict_proba(general_probs)


def cross_fitted_fusion(
    poster_probs: np.ndarray,
    synopsis_probs: np.ndarray,
    Y: np.ndarray,
    genres: Sequence[str],
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    fallback_thresholds: np.ndarray | None = None,
    **params: Any,
) -> tuple[np.ndarray, np.ndarray]:
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


def _metrics(
    Y: np.ndarray,
    probs: np.ndarray,
    genres: Sequence[str],
    thresholds: np.ndarray | None,
    seed: int,
    bootstrap: int,
    decided: np.ndarray | None = None,
) -> dict[str, Any]:
    """Headline metrics (evaluate_predictions) plus Family on its own line; thresholds chosen OOF if None."""
    t = choose_thresholds(Y, probs) if thresholds is None else thresholds
    ev = evaluate_predictions(Y, probs, t, genres, bootstrap=bootstrap, seed=seed, auc_bootstrap=min(bootstrap, 200))
    out = {
        "n_movies": ev["n_movies"],
        "headline": ev["headline"],
        "per_genre": [
            {k: p[k] for k in ("genre", "support", "roc_auc", "average_precision", "f1", "threshold")}
            for p in ev["per_genre"]
        ],
    }
    fam = next((p for p in ev["per_genre"] if p["genre"] == "Family"), None)
    out["family_auc"] = fam["roc_auc"] if fam else None
    if decided is not None:
        out["micro_f1_cross_fitted"] = f1_scores(Y, decided)["micro_f1"]
    return out


@dataclass
class _StudioFilms:
    """The studio films' inputs, checked, one row per film, with their folds."""

    general: np.ndarray  # [N, G] the general head's probabilities (rows without a poster: ignored)
    Y: np.ndarray
    genres: list[str]
    plots: list[str | None]  # None: no plot
    fold: np.ndarray  # [N] fold number
    poster_rows: np.ndarray
    text_rows: np.ndarray
    both: np.ndarray  # films with a poster and a plot


@dataclass
class _GeneralFilms:
    """General films' labels and the general head's out-of-fold probabilities on them, in folds of their own."""

    Y: np.ndarray
    P: np.ndarray
    fold: np.ndarray
    base_auc: float  # macro ROC AUC of the general head alone


def _studio_films(
    general_probs: np.ndarray,
    Y: np.ndarray,
    genres: Sequence[str],
    has_poster: np.ndarray,
    plots: Sequence[str | None],
    groups: np.ndarray,
    n_splits: int,
    seed: int,
) -> _StudioFilms:
    Y = np.asarray(Y)
    genres = list(genres)
    P = np.asarray(general_probs, dtype=np.float64)
    hp = np.asarray(has_poster, dtype=bool)
    texts: list[str | None] = [None if not has_text([t])[0] else str(t) for t in plots]
    ht = has_text(texts)
    if not (P.shape == Y.shape == (len(hp), len(genres))) or len(texts) != len(hp) or len(groups) != len(hp):
        raise PosterGenreError(
            f"fit_studio_extensions: {len(hp)} films need probabilities and labels [N, "
            f"{len(genres)}], plots and groups of length N; got {P.shape}, {Y.shape}, {len(texts)}, "
            f"{len(groups)}"
        )
    return _StudioFilms(
        P,
        Y,
        genres,
        texts,
        studio_folds(Y, groups, n_splits, seed),
        np.flatnonzero(hp),
        np.flatnonzero(ht),
        np.flatnonzero(hp & ht),
    )


def _general_films(general_oof: tuple[np.ndarray, np.ndarray], n_splits: int, seed: int) -> _GeneralFilms:
    yg, pg = np.asarray(general_oof[0]), np.asarray(general_oof[1], dtype=np.float64)
    return _GeneralFilms(yg, pg, np.random.default_rng(seed).permutation(len(yg)) % n_splits, macro_auc(yg, logit(pg)))


def _correction(
    films: _StudioFilms,
    general: _GeneralFilms | None,
    weight: float | None,
    l2: float,
    rows: np.ndarray,
    general_rows: np.ndarray | None,
) -> DomainCorrection:
    """A correction fitted on studio `rows` alone (`weight` None), or with them weighted x`weight` beside the general
    films `general_rows`."""
    if weight is None or general is None or general_rows is None:
        return DomainCorrection(l2=l2).fit(films.general[rows], films.Y[rows])
    probs = np.concatenate([films.general[rows], general.P[general_rows]])
    labels = np.concatenate([films.Y[rows], general.Y[general_rows]])
    w = np.concatenate([np.full(len(rows), float(weight)), np.ones(len(general_rows))])
    return DomainCorrection(l2=l2).fit(probs, labels, sample_weight=w)


def _domain_candidate(
    films: _StudioFilms, general: _GeneralFilms | None, weight: float | None, l2: float, n_splits: int
) -> dict[str, Any]:
    """One studio weight's out-of-fold corrected probabilities on studio films and, with general films, what it
    costs them (each fold's correction never saw that fold's general films; studio films all train)."""
    rows = films.poster_rows
    oof = np.full(films.general.shape, np.nan)
    all_general = None if general is None else np.arange(len(general.Y))
    for tr, te in _folds_of(films.fold, rows):
        oof[rows[te]] = _correction(films, general, weight, l2, rows[tr], all_general).predict_proba(
            films.general[rows[te]]
        )
    cand: dict[str, Any] = {
        "studio_weight": weight,
        "oof": oof,
        "studio_macro_auc": macro_auc(films.Y[rows], logit(oof[rows])),
    }
    if weight is not None and general is not None:
        gz = np.zeros(general.P.shape)
        for k in range(n_splits):
            held = general.fold == k
            gz[held] = _correction(films, general, weight, l2, rows, np.flatnonzero(~held)).decision_function(
                general.P[held]
            )
        cand["general_macro_auc"] = macro_auc(general.Y, gz)
        cand["general_change"] = cand["general_macro_auc"] - general.base_auc
    return cand


def _choose_correction(
    films: _StudioFilms,
    general: _GeneralFilms | None,
    studio_weights: Sequence[float],
    l2: float,
    max_general_loss: float,
    n_splits: int,
    log: Log,
    t0: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(every candidate, the chosen one): the best studio CV among the weights that cost general films at most
    `max_general_loss` macro AUC (else the one that costs them least)."""
    candidates = []
    for weight in list(studio_weights) if general is not None else [None]:
        cand = _domain_candidate(films, general, weight, l2, n_splits)
        candidates.append(cand)
        log(
            f"domain correction, studio weight {weight}: studio macro AUC {cand['studio_macro_auc']:.4f}"
            + (f", general {cand['general_change']:+.4f}" if weight is not None else "")
            + f" ({time.perf_counter() - t0:.1f} s)"
        )
    allowed = [c for c in candidates if c.get("general_change", 0.0) >= -max_general_loss] or [
        max(candidates, key=lambda c: c.get("general_change", 0.0))
    ]
    return candidates, max(allowed, key=lambda c: c["studio_macro_auc"])


def _synopsis_oof(films: _StudioFilms, params: dict[str, Any], n_splits: int, log: Log, t0: float) -> np.ndarray:
    """Out-of-fold synopsis probabilities of every studio film with a plot, on the studio folds."""
    rows = films.text_rows
    oof = np.full(films.general.shape, np.nan)
    for k, (tr, te) in enumerate(_folds_of(films.fold, rows)):
        head = SynopsisHead(genres=films.genres, **params).fit([films.plots[i] for i in rows[tr]], films.Y[rows[tr]])
        oof[rows[te]] = head.predict_proba([films.plots[i] for i in rows[te]])
        log(f"synopsis head fold {k + 1}/{n_splits}: {time.perf_counter() - t0:.1f} s")
    return oof


def _studio_metrics(
    films: _StudioFilms,
    oof_poster: np.ndarray,
    oof_syn: np.ndarray,
    fused: np.ndarray,
    decided: np.ndarray,
    *,
    n_splits: int,
    seed: int,
    bootstrap: int,
) -> dict[str, Any]:
    """Per segment, the out-of-fold numbers of each signal (see `fit_studio_extensions`)."""
    Y, P, genres = films.Y, films.general, films.genres
    pr, tr, both = films.poster_rows, films.text_rows, films.both
    Yp, Yb = Y[pr], Y[both]
    return {
        "folds": n_splits,
        "seed": seed,
        "scope": (
            "k-fold CV on studio films only, grouped by poster sha256; thresholds chosen on out-of-fold predictions"
        ),
        "studio_poster_general": _metrics(Yp, P[pr], genres, None, seed, bootstrap),
        "studio_poster": _metrics(Yp, oof_poster[pr], genres, None, seed, bootstrap),
        "studio_synopsis": _metrics(Y[tr], oof_syn[tr], genres, None, seed, bootstrap),
        "studio_synopsis_poster_films": _metrics(Yb, oof_syn[both], genres, None, seed, bootstrap),
        "studio_poster_both_films": _metrics(Yb, oof_poster[both], genres, None, seed, bootstrap),
        "studio_fused": _metrics(Yb, fused, genres, None, seed, bootstrap, decided=decided),
        "domain_gain": paired_auc_gain(Yp, P[pr], oof_poster[pr], genres, seed=seed),
        "fusion_gain_over_poster": paired_auc_gain(Yb, oof_poster[both], fused, genres, seed=seed),
        # Reliability of each signal's out-of-fold probabilities (the fused ones cross-fitted), pooled over genres.
        "calibration": {
            "poster": reliability(Yp, oof_poster[pr]),
            "synopsis": reliability(Y[tr], oof_syn[tr]),
            "fused": reliability(Yb, fused),
        },
    }


def _final_correction(
    films: _StudioFilms,
    general: _GeneralFilms | None,
    chosen: dict[str, Any],
    candidates: list[dict[str, Any]],
    *,
    l2: float,
    max_general_loss: float,
    n_splits: int,
    metrics: dict[str, Any],
) -> DomainCorrection:
    """The chosen correction fitted on every studio film (and the general films); its choice and general cost go
    into `metrics`."""
    weight = chosen["studio_weight"]
    rows = films.poster_rows
    domain = _correction(films, general, weight, l2, rows, None if general is None else np.arange(len(general.Y)))
    if weight is not None and general is not None:
        metrics["general"] = {
            "macro_auc_general_head": general.base_auc,
            "macro_auc_with_domain_correction": chosen["general_macro_auc"],
            "change": chosen["general_change"],
            "n_movies": len(general.Y),
            "scope": f"{n_splits}-fold CV over general films of the correction",
        }
    metrics["domain_choice"] = {
        "chosen_studio_weight": weight,
        "max_general_loss": max_general_loss,
        "candidates": [{k: v for k, v in c.items() if k != "oof"} for c in candidates],
    }
    return domain


def fit_studio_extensions(
    general_probs: np.ndarray,
    Y: np.ndarray,
    genres: Sequence[str],
    *,
    has_poster: np.ndarray,
    plots: Sequence[str | None],
    groups: np.ndarray,
    general_oof: tuple[np.ndarray, np.ndarray] | None = None,
    poster_thresholds: np.ndarray | None = None,
    n_splits: int = 5,
    seed: int = 0,
    bootstrap: int = 1000,
    domain_l2: float = 1e-3,
    studio_weights: Sequence[float] = (3.0, 10.0),
    max_general_loss: float = 0.005,
    synopsis_params: dict[str, Any] | None = None,
    fusion_params: dict[str, Any] | None = None,
    log: Log = no_log,
) -> StudioExtensions:
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

    Stages: the domain correction chosen by CV (`_choose_correction`), the synopsis head out of fold, the fusion
    cross-fitted on both, the metrics, then every part refitted on all studio films. Returns the parts and `metrics`
    with, per segment, out-of-fold numbers: `studio_poster_general` (general head alone), `studio_poster`
    (domain-aware), `studio_synopsis`, `studio_fused`, the per-genre gain of domain-aware over general-only with
    intervals, and `general`.
    """
    t0 = time.perf_counter()
    films = _studio_films(general_probs, Y, genres, has_poster, plots, groups, n_splits, seed)
    log(
        f"studio CV: {len(films.Y)} films, {len(films.poster_rows)} with a poster, {len(films.text_rows)} with a "
        f"plot, {n_splits} folds"
    )
    general = None if general_oof is None else _general_films(general_oof, n_splits, seed)
    candidates, chosen = _choose_correction(
        films, general, studio_weights, domain_l2, max_general_loss, n_splits, log, t0
    )
    oof_poster = chosen["oof"]
    sp = synopsis_params or {}
    oof_syn = _synopsis_oof(films, sp, n_splits, log, t0)
    fused, decided, fusion = _fit_fusion(films, oof_poster, oof_syn, poster_thresholds, fusion_params or {})
    metrics = _studio_metrics(
        films, oof_poster, oof_syn, fused, decided, n_splits=n_splits, seed=seed, bootstrap=bootstrap
    )
    domain = _final_correction(
        films,
        general,
        chosen,
        candidates,
        l2=domain_l2,
        max_general_loss=max_general_loss,
        n_splits=n_splits,
        metrics=metrics,
    )
    text_rows = films.text_rows
    synopsis = SynopsisHead(genres=films.genres, **sp).fit([films.plots[i] for i in text_rows], films.Y[text_rows])
    synopsis_thresholds = choose_thresholds(films.Y[text_rows], oof_syn[text_rows])
    metrics["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"studio extensions fitted in {metrics['seconds']} s")
    oof = _oof_arrays(films, oof_poster, oof_syn, fused)
    return StudioExtensions(domain, synopsis, fusion, metrics, oof, synopsis_thresholds)


def _oof_arrays(films: _StudioFilms, oof_poster: np.ndarray, oof_syn: np.ndarray, fused: np.ndarray) -> dict:
    """Every studio film's out-of-fold probabilities per signal (NaN where a film lacks it) and its fold."""
    fused_all = np.full(films.general.shape, np.nan)
    fused_all[films.both] = fused
    return {
        "poster_general": films.general,
        "poster": oof_poster,
        "synopsis": oof_syn,
        "fused": fused_all,
        "fold": films.fold.astype(np.float64),
    }


def _fit_fusion(
    films: _StudioFilms,
    oof_poster: np.ndarray,
    oof_syn: np.ndarray,
    poster_thresholds: np.ndarray | None,
    params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, Fusion]:
    """The fusion stage, on the films with a poster and a plot: an honest estimate (`fused` probabilities and
    `decided` genres) from fusions fitted on other folds' out-of-fold predictions, and the shipped fusion fitted on
    all of them."""
    both, Yb = films.both, films.Y[films.both]
    fused, decided = cross_fitted_fusion(
        oof_poster[both],
        oof_syn[both],
        Yb,
        films.genres,
        _folds_of(films.fold, both),
        fallback_thresholds=poster_thresholds,
        **params,
    )
    fusion = Fusion(films.genres, **params).fit(
        oof_poster[both], oof_syn[both], Yb, fallback_thresholds=poster_thresholds
    )
    return fused, decided, fusion


@dataclass
class StudioFit:
    """The studio-fitting stage's result: the parts the artifact stores for the studio extensions."""

    extensions: StudioExtensions
    thresholds: np.ndarray  # the poster thresholds, re-tuned on the corrected out-of-fold probabilities
    metrics: dict[str, Any]  # JSON-safe
    films: dict[str, int]


def fit_extensions(
    ds: Dataset,
    movies: Sequence[Movie],
    general: AssembledModel,
    *,
    labels: np.ndarray,
    oof: np.ndarray,
    poster_thresholds: np.ndarray,
    opts: TrainOptions,
    log: Log = no_log,
) -> StudioFit:
    """The studio extensions on top of a general head fitted without studio films.

    `ds`: the whole data set (its studio films' vectors of every view feed the head, which reads them as the model
    will: the mean of its logits over the views); `movies`: the catalog's movies (studio films
    without a poster still train the synopsis head); `general`: the poster-only model just fitted, built as it will
    answer (`model.assembly.assemble`); `labels`/`oof`: the general films' labels and the head's out-of-fold
    probabilities on them; `poster_thresholds`: the general head's thresholds.
    """
    films = studio_films(list(movies), ds.genres)
    rows_in_studio = in_studio(ds)
    vectors = {sha: ds.view_vectors[i] for i, sha in enumerate(ds.shas) if rows_in_studio[i]}  # [V, D]: its views
    embedded = [m.poster_sha256 if m.poster_sha256 in vectors else None for m in films]
    has_poster = np.array([sha is not None for sha in embedded], dtype=bool)
    general_probs = np.full((len(films), len(ds.genres)), 0.5)
    rows = np.flatnonzero(has_poster)
    if len(rows):
        general_probs[rows] = general.general_probabilities(np.stack([vectors[s] for s in embedded if s is not None]))
    Y = label_matrix((m.genres for m in films), ds.genres)
    # A shared poster never lands on both sides of a fold; a film without a poster is its own group.
    groups = poster_groups([sha or f"id:{m.imdb_id}" for sha, m in zip(embedded, films, strict=True)])
    ext = fit_studio_extensions(
        general_probs,
        Y,
        ds.genres,
        has_poster=has_poster,
        plots=[m.plot for m in films],
        groups=groups,
        general_oof=(labels, oof),
        poster_thresholds=poster_thresholds,
        n_splits=opts.folds,
        seed=opts.seed,
        bootstrap=opts.bootstrap,
        log=log,
    )
    # The shipped poster signal is the corrected one: its thresholds come from corrected out-of-fold probabilities.
    thresholds = choose_thresholds(
        np.concatenate([labels, Y[rows]]),
        np.concatenate([ext.poster_probs(oof), ext.oof["poster"][rows]]),
        opts.threshold_metric,
    )
    films_info = {
        "films": len(films),
        "with_poster": int(has_poster.sum()),
        "with_plot": int(sum(bool(m.plot and m.plot.strip()) for m in films)),
    }
    return StudioFit(ext, thresholds, json_safe(ext.metrics), films_info)
