"""Training as stages, each a function with a typed result, and the artifact built once from them:

    plan_folds ─► cross_validate ─► report ─► fit_final ─► fit_extensions (studio.py) ─► build_artifact

`train` runs them all: with a `studio` collection in the catalog (and `TrainOptions.studio`), the poster head is
trained on the general films only and the studio extensions (domain correction, synopsis head, fusion) on top of
it (see studio.py), reading the poster-only model as it will answer (`poster_model`: the one build,
`model.assembly.assemble`); otherwise a poster-only model. The parts go into the artifact through `model.layout`.
Library code: it reports through `progress` and `log` callbacks and never prints.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.records import Movie
from ..errors import PosterGenreError
from ..features.views import views_text
from ..labelled.datasets import Dataset, data_key, subset
from ..labelled.metrics import cross_fitted_f1, evaluate_predictions
from ..labelled.split import Split, holdout, kfold
from ..model.artifact import ModelArtifact
from ..model.assembly import AssembledModel, assemble
from ..model.layout import ModelParts
from ..model.parts import PosterHead
from ..model.poster_check import PosterCheck
from ..model.thresholds import choose_thresholds
from ..progress import Log, ProgressFn, no_log, no_progress
from ..threads import torch_threads
from .options import TrainOptions
from .search import Candidate, FoldCache, FoldRunner, NestedResult, SearchResult, nested_cv, nested_fits, search
from .studio import StudioFit, fit_extensions, in_studio, studio_films


def _inner_folds(opts: TrainOptions) -> int:
    """--inner-folds of a search: set whenever several candidates are searched (None only in a saved artifact)."""
    if opts.inner_folds is None:
        raise PosterGenreError("a search of several candidates needs --inner-folds")
    return opts.inner_folds


@dataclass
class FoldPlan:
    """What is cross-validated how: the movies trained on (after any hold-out), the candidates, the outer folds."""

    ds: Dataset
    candidates: list[Candidate]
    outer: list[Split]
    sample_weight: np.ndarray | None = None

    @property
    def searching(self) -> bool:
        return len(self.candidates) > 1

    def total_fits(self, opts: TrainOptions) -> int:
        n = len(self.candidates)
        cv = n * opts.folds + nested_fits(n, opts.folds, _inner_folds(opts)) if self.searching else opts.folds
        return cv + 1  # + the final fit


@dataclass
class CrossValidation:
    """Out-of-fold predictions: the selection search (all data) and the nested estimate of its quality."""

    selection: SearchResult
    nested: NestedResult
    runner: FoldRunner
    fold_cache: FoldCache


@dataclass
class CvReport:
    """The shipped poster thresholds (winner's out-of-fold predictions) and the metrics reported for the head."""

    thresholds: np.ndarray
    evaluation: dict[str, Any]
    metrics: dict[str, Any]


@dataclass
class FinalFit:
    """The winner fitted on every movie, with the poster check: the parts of a poster-only model."""

    candidate: Candidate
    head: PosterHead
    poster_check: PosterCheck
    feature_slice: tuple[int, int]
    views: tuple[str, ...]

    def parts(self) -> ModelParts:
        start, stop = self.feature_slice
        return ModelParts(
            self.head,
            (int(start), int(stop)),
            head_settings=self.candidate.settings,
            poster_check=self.poster_check,
            views=self.views,
        )


@dataclass
class TrainResult:
    artifact: ModelArtifact
    selection: SearchResult
    nested: NestedResult
    evaluation: dict[str, Any]
    seconds: float
    fold_cache: FoldCache
    reused_folds: int = 0
    labels: np.ndarray | None = None  # Y of the movies trained on (after any hold-out), aligned with nested.oof
    studio: StudioFit | None = None


def plan_folds(
    ds: Dataset, opts: TrainOptions, log: Log = no_log, *, sample_weight: np.ndarray | None = None
) -> FoldPlan:
    """Candidates (a bad setting raises here, before any fit), the hold-out cut away, the outer k folds."""
    candidates = opts.candidates()
    if opts.holdout:
        tr, te = holdout(ds.Y, ds.groups, opts.holdout, opts.seed)
        log(
            f"hold-out: {len(te):,} movies ({opts.holdout:.0%}, seed {opts.seed}) kept out of training; "
            f"evaluate them with `postergenre evaluate MODEL --holdout {opts.holdout}`"
        )
        ds = subset(ds, tr)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[tr]
    return FoldPlan(ds, candidates, kfold(ds.Y, ds.groups, opts.folds, opts.seed), sample_weight)


def cross_validate(
    plan: FoldPlan,
    opts: TrainOptions,
    log: Log = no_log,
    *,
    progress: ProgressFn = no_progress,
    cache_dir: Path | None = None,
) -> CrossValidation:
    """k-fold CV of the fixed settings, or a selection search plus nested CV of the search.

    `cache_dir` keeps each fold's out-of-fold probabilities so a rerun after an interruption continues."""
    ds, cands = plan.ds, plan.candidates
    X, Y = (ds.view_features if len(ds.views) > 1 else ds.features), ds.Y
    total = plan.total_fits(opts)
    views = f", {len(ds.views)} views each ({', '.join(ds.views)})" if len(ds.views) > 1 else ""
    log(
        f"{len(ds.ids):,} movies ({len(set(ds.shas)):,} posters{views}), {len(ds.genres)} genres, {X.shape[-1]} "
        f"features ({ds.backbone} {ds.feature_set}); {len(cands)} candidate(s), {opts.folds}-fold CV, {total} fits"
    )
    cache = FoldCache(cache_dir, data_key(ds))
    runner = FoldRunner(
        X, Y, cache=cache, progress=progress, total=total, task="training", sample_weight=plan.sample_weight, log=log
    )
    if plan.searching:
        log(f"selection search ({opts.folds}-fold CV on all data):")
        selection = search(cands, X, Y, plan.outer, log=log, runner=runner)
        log(f"nested CV of the search ({opts.folds} outer x {opts.inner_folds} inner folds) for the reported metrics:")
        nested = nested_cv(
            cands, X, Y, ds.groups, plan.outer, inner_folds=_inner_folds(opts), seed=opts.seed, log=log, runner=runner
        )
    else:
        selection = search(cands, X, Y, plan.outer, log=log, runner=runner)
        nested = NestedResult(selection.oof[cands[0].label], [cands[0].label] * len(plan.outer), [])
    return CrossValidation(selection, nested, runner, cache)


def report(plan: FoldPlan, cv: CrossValidation, opts: TrainOptions) -> CvReport:
    """Thresholds for the shipped head (the winner's selection out-of-fold predictions) and the reported metrics
    (the nested, honest out-of-fold predictions, thresholds chosen on them; see cross_fitted_f1)."""
    Y = plan.ds.Y
    thresholds = choose_thresholds(Y, cv.selection.oof[cv.selection.best.label], opts.threshold_metric)
    nested_thresholds = choose_thresholds(Y, cv.nested.oof, opts.threshold_metric)
    evaluation = evaluate_predictions(
        Y,
        cv.nested.oof,
        nested_thresholds,
        plan.ds.genres,
        bootstrap=opts.bootstrap,
        seed=opts.seed,
        threshold_metric=opts.threshold_metric,
    )
    evaluation["cross_fitted_thresholds"] = cross_fitted_f1(Y, cv.nested.oof, plan.outer, opts.threshold_metric)
    metrics = {
        "cv": evaluation,
        "estimate": "nested CV of the search" if plan.searching else f"{opts.folds}-fold CV of fixed settings",
        "folds": opts.folds,
        "inner_folds": opts.inner_folds if plan.searching else None,
        "chosen_per_outer_fold": cv.nested.chosen,
        "search_table": cv.selection.table(),
    }
    return CvReport(thresholds, evaluation, metrics)


def fit_final(plan: FoldPlan, cv: CrossValidation, opts: TrainOptions, log: Log = no_log) -> FinalFit:
    """The winner on every movie (every view of it), and the poster check (on the posters as given)."""
    best = cv.selection.best
    log(f"fitting {best.label} on all {len(plan.ds.ids):,} movies")
    head = cv.runner.fit(best, np.arange(len(plan.ds.Y)))
    cv.runner.step(f"{best.label} on all movies")
    return FinalFit(best, head, PosterCheck().fit(plan.ds.X), plan.ds.feature_slice, plan.ds.views)


def poster_model(ds: Dataset, parts: ModelParts, thresholds: np.ndarray, *, compact: bool) -> AssembledModel:
    """A poster-only model of `ds` from its fitted parts, saved in memory (`compact` as the file would be) and built
    as it will answer: what the studio stage reads the general head's probabilities from."""
    return assemble(_saved(ds, parts, thresholds, compact=compact))


def _saved(
    ds: Dataset,
    parts: ModelParts,
    thresholds: np.ndarray,
    *,
    compact: bool,
    head_extra: dict[str, Any] | None = None,
    **record: Any,
) -> ModelArtifact:
    """`ds`'s model as its artifact stores it: the parts saved (`compact`: large arrays in smaller dtypes), with
    `head_extra` added to the head's config and `record` (metrics, data fingerprint, options) beside them."""
    head_type, head_config, tensors = parts.saved(compact=compact)
    return ModelArtifact(
        genres=ds.genres,
        thresholds=thresholds,
        backbone=ds.backbone,
        preprocess_version=ds.preprocess_version,
        feature_set=ds.feature_set,
        head_type=head_type,
        head_config=head_config | (head_extra or {}),
        tensors=tensors,
        **record,
    )


def build_artifact(
    plan: FoldPlan,
    cv: CrossValidation,
    rep: CvReport,
    final: FinalFit,
    opts: TrainOptions,
    *,
    seconds: float,
    studio: StudioFit | None = None,
) -> ModelArtifact:
    """The model artifact, once, from the stage results (with the studio extensions when they were fitted: their
    parts, metrics, and the poster thresholds re-tuned on the corrected probabilities); `opts.compact` stores the
    large arrays in smaller dtypes."""
    ds = plan.ds
    # As used: the backbone resolved (not None), the views the data set holds, inner folds only when a search used them.
    used = TrainOptions(
        **(
            asdict(opts)
            | {
                "backbone": ds.backbone,
                "views": views_text(ds.views),
                "inner_folds": opts.inner_folds if plan.searching else None,
            }
        )
    )
    parts = final.parts()
    metrics = rep.metrics | {"train_seconds": round(seconds, 1)}
    options = asdict(used) | {
        "messages": ds.messages,
        "command": used.command(),
        "sample_weighted": plan.sample_weight is not None,
    }
    thresholds = rep.thresholds
    if studio is not None:
        ext = studio.extensions
        parts = replace(
            parts,
            domain=ext.domain,
            synopsis=ext.synopsis,
            fusion=ext.fusion,
            synopsis_thresholds=ext.synopsis_thresholds,
        )
        thresholds = studio.thresholds
        metrics["studio"] = studio.metrics
        options["studio_films"] = studio.films
    return _saved(
        ds,
        parts,
        thresholds,
        compact=opts.compact,
        head_extra={"threshold_metric": opts.threshold_metric},
        metrics=metrics,
        data_fingerprint=ds.fingerprint(),
        training_options=options,
    )


def train(
    ds: Dataset,
    opts: TrainOptions,
    log: Log = no_log,
    *,
    movies: Sequence[Movie] = (),
    progress: ProgressFn = no_progress,
    cache_dir: Path | None = None,
    sample_weight: np.ndarray | None = None,
) -> TrainResult:
    """Every stage; returns the artifact unsaved.

    `movies`: the catalog's movies; when `opts.studio` and some are in the `studio` collection (and `ds` is not
    studio films only), the poster head trains on the general films of `ds` and the studio extensions on the
    studio films (with or without a poster). `progress` gets one report per fold fit (task "training");
    `sample_weight` [N] weighs movies in every fit.
    """
    t_start = time.perf_counter()
    studio_rows = in_studio(ds)
    extended = opts.studio and bool(studio_films(movies, ds.genres)) and not studio_rows.all()
    general = ds
    if extended:
        general = subset(ds, np.flatnonzero(~studio_rows))
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[~studio_rows]
        log(
            f"poster head on the {len(general.ids):,} general films; the {int(studio_rows.sum()):,} studio films "
            "with a poster (and every studio film in the catalog) train the studio extensions"
        )
    plan = plan_folds(general, opts, log, sample_weight=sample_weight)
    with torch_threads(opts.threads):
        cv = cross_validate(plan, opts, log, progress=progress, cache_dir=cache_dir)
        rep = report(plan, cv, opts)
        final = fit_final(plan, cv, opts, log)
    studio = None
    if extended:
        general_model = poster_model(plan.ds, final.parts(), rep.thresholds, compact=opts.compact)
        studio = fit_extensions(
            ds,
            movies,
            general_model,
            labels=plan.ds.Y,
            oof=cv.nested.oof,
            poster_thresholds=rep.thresholds,
            opts=opts,
            log=log,
        )
    seconds = time.perf_counter() - t_start  # the whole training, studio extensions included
    artifact = build_artifact(plan, cv, rep, final, opts, seconds=seconds, studio=studio)
    return TrainResult(
        artifact,
        cv.selection,
        cv.nested,
        rep.evaluation,
        seconds,
        cv.fold_cache,
        reused_folds=cv.fold_cache.hits,
        labels=plan.ds.Y,
        studio=studio,
    )
