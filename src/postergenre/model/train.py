"""From catalog + embedding cache to a trained, cross-validated ModelArtifact, and evaluation of a saved one.

Steps of `train_model`: assemble the data set (filters, frequent genres, cached vectors); by default k-fold CV
of the measured winner's fixed settings (seconds to a minute); with a search, a plain k-fold search on all
data to pick the settings and nested CV of the search to estimate quality honestly; thresholds chosen on the
winner's out-of-fold predictions, a final fit on everything, and the poster check. Library code: it reports
through `progress` and `log` callbacks and never prints.
"""

from __future__ import annotations

import hashlib
import shlex
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from ..catalog.filters import MovieFilter, frequent_genres, parse_collections
from ..catalog.records import Movie
from ..catalog.store import Catalog
from ..errors import EmptySelectionError, ModelError
from ..progress import ProgressFn, no_progress
from .artifact import ModelArtifact
from .head_types import DEFAULT_FEATURE_SET, DEFAULT_HEAD
from .labels import label_matrix
from .poster_check import fit_poster_check
from .search import (Candidate, FoldCache, FoldRunner, NestedResult, SearchResult, candidates_for, nested_cv,
                     nested_fits, search)
from .split import holdout, kfold, poster_groups
from .thresholds import choose_thresholds, decide

if TYPE_CHECKING:
    from ..features.registry import BackboneSpec
    from ..features.cache import EmbeddingCache

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    """The default `log`: library use shows nothing."""


COMPACT_SUFFIXES = (".w0", ".proj", ".components")
"""Large matrices stored as float16 in the artifact (halves the bundled file; predictions move < 1e-3)."""


@dataclass
class Dataset:
    """Movies selected for training or evaluation with their cached embeddings and multi-hot labels."""

    ids: list[str]
    shas: list[str]
    genres: list[str]
    X: np.ndarray  # full cached vectors [N, D_full] float32
    Y: np.ndarray  # multi-hot [N, G] int8
    backbone: str
    preprocess_version: str
    feature_set: str
    feature_slice: tuple[int, int]
    dropped_genres: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    movie_genres: list[tuple[str, ...]] = field(default_factory=list)
    titles: list[str | None] = field(default_factory=list)
    ratings: list[str | None] = field(default_factory=list)  # content rating per movie (None = unrated)
    years: list[int | None] = field(default_factory=list)
    collections: list[tuple[str, ...]] = field(default_factory=list)  # empty when the catalog has none
    vectors: tuple[str, str] = ("", "")  # the embedding-cache key X was read under (fp32 or int8 vectors)

    @property
    def features(self) -> np.ndarray:
        """The feature-set slice the head sees."""
        return self.X[:, self.feature_slice[0]:self.feature_slice[1]]

    @property
    def groups(self) -> np.ndarray:
        return poster_groups(self.shas)

    def fingerprint(self) -> dict[str, Any]:
        """sha256 over sorted (id, poster sha256, genres) plus counts: two data sets with equal hashes are the same."""
        h = hashlib.sha256()
        for imdb_id, sha, gs in sorted(zip(self.ids, self.shas, self.movie_genres)):
            h.update(f"{imdb_id}\t{sha}\t{'|'.join(gs)}\n".encode())
        return {
            "sha256": h.hexdigest(),
            "movies": len(self.ids),
            "posters": len(set(self.shas)),
            "genre_counts": {g: int(c) for g, c in zip(self.genres, self.Y.sum(axis=0))},
            "dropped_genres": self.dropped_genres,
            "profile": self.profile(),
            "vectors": "/".join(self.vectors),
        }

    def profile(self) -> dict[str, Any]:
        """What the model card says about the data, computed from it: ratings, years, collections (not hashed)."""
        n = len(self.ids)
        ratings = Counter(r for r in self.ratings if r)
        years = sorted(y for y in self.years if y is not None)
        collections = Counter(c for cs in self.collections for c in cs)
        out: dict[str, Any] = {
            "movies": n,
            "rated": int(sum(ratings.values())),
            "ratings": dict(ratings.most_common()),
            "years_known": len(years),
            "year_min": years[0] if years else None,
            "year_max": years[-1] if years else None,
            "year_median": int(statistics.median(years)) if years else None,
            "year_quartiles": [int(q) for q in statistics.quantiles(years, n=4)] if len(years) >= 4 else None,
            "collections": dict(collections.most_common()),
            "in_a_collection": int(sum(1 for cs in self.collections if cs)),
        }
        return out


def assemble_dataset(catalog: Catalog, *, flt: MovieFilter | None = None, backbone: str | None = None,
                     feature_set: str = DEFAULT_FEATURE_SET, min_examples: int = 100,
                     genres: Sequence[str] | None = None, skip_unembedded: bool = False,
                     runtime: str = "auto") -> Dataset:
    """Select movies, keep genres with >= `min_examples` (or exactly `genres`), and load their cached vectors.

    Movies whose poster failed to embed are left out with a message; posters never embedded raise a ModelError
    that says how to embed them (or, with `skip_unembedded`, are left out with a message, e.g. to preview
    results while `postergenre embed` is still running). Movies with none of the kept genres are left out (every evaluated movie has
    at least one true genre, as in the catalog). The vectors are those `runtime` computes
    (`features.runtime.vector_key`: int8 ones where that is the default runtime).
    """
    from ..features.registry import get_backbone
    from ..features.cache import EmbeddingCache
    from ..features.runtime import vector_key

    spec = get_backbone(backbone)
    sl = spec.feature_slice(feature_set)
    from dataclasses import replace

    # Every field of the caller's filter (collections too), plus the two this data set needs.
    base = replace(flt or MovieFilter(), require_poster=True, require_genres=True)
    movies: list[Movie] = base.apply(catalog.movies())
    with EmbeddingCache(catalog.path, *vector_key(spec, runtime)) as cache:
        return _assemble(movies, cache, spec, sl, feature_set, min_examples, genres, skip_unembedded)


def _assemble(movies: list[Movie], cache: "EmbeddingCache", spec: "BackboneSpec", sl: slice, feature_set: str, min_examples: int,
              genres: Sequence[str] | None, skip_unembedded: bool) -> Dataset:
    messages: list[str] = []
    if skip_unembedded:
        missing = set(cache.missing(sorted({m.poster_sha256 for m in movies})))
        if missing:
            movies = [m for m in movies if m.poster_sha256 not in missing]
            messages.append(f"{len(missing)} posters without a {spec.name} embedding left out (embedding still running?)")
            if not movies:
                raise EmptySelectionError(f"no selected poster has a {spec.name} embedding yet: run `postergenre embed`")
    failed = cache.failures()
    if failed:
        before = len(movies)
        movies = [m for m in movies if m.poster_sha256 not in failed]
        if len(movies) < before:
            messages.append(f"{before - len(movies)} movies left out: their poster failed to embed with {spec.name}")
        if not movies:
            raise EmptySelectionError(f"no movies left: every selected poster failed to embed with {spec.name}")
    if genres is None:
        kept, dropped = frequent_genres(movies, min_examples)
        if dropped:
            messages.append(
                f"{len(dropped)} genres left out with fewer than {min_examples} examples (--min-examples): "
                + ", ".join(f"{g} ({n})" for g, n in dropped.items())
            )
    else:
        kept, dropped = list(genres), {}
    index = set(kept)
    rows = [m for m in movies if any(g in index for g in m.genres)]
    if len(rows) < len(movies):
        gone = len(movies) - len(rows)
        messages.append(f"{gone} movie{'s' if gone != 1 else ''} left out: none of {'their' if gone != 1 else 'its'} "
                        f"genres is among the {len(kept)} kept")
    if not rows:
        raise EmptySelectionError(f"no selected movie has any of the genres {', '.join(kept)}")
    shas = [m.poster_sha256 for m in rows]
    unique = sorted(set(shas))
    missing = cache.missing(unique)
    if missing:
        raise ModelError(
            f"{len(missing)} of {len(unique)} selected posters have no {spec.name} embedding yet"
            f"{' (int8 vectors, the default runtime)' if cache.backbone != spec.name else ''}: "
            f"run `postergenre embed --backbone {spec.name}`"
        )
    vectors = cache.get(unique)
    pos = {s: i for i, s in enumerate(unique)}
    X = vectors[[pos[s] for s in shas]].astype(np.float32, copy=False)
    Y = label_matrix((m.genres for m in rows), kept)
    return Dataset(
        ids=[m.imdb_id for m in rows], shas=shas, genres=list(kept), X=X, Y=Y, backbone=spec.name,
        preprocess_version=spec.preprocess_version, feature_set=feature_set, feature_slice=(sl.start or 0, sl.stop),
        dropped_genres=dict(dropped), messages=messages, movie_genres=[tuple(sorted(m.genres)) for m in rows],
        titles=[m.title for m in rows], ratings=[m.content_rating for m in rows], years=[m.year for m in rows],
        collections=[_collections_of(m) for m in rows], vectors=(cache.backbone, cache.preprocess_version),
    )


def _collections_of(movie: Movie) -> tuple[str, ...]:
    """The movie's collections (e.g. `studio`, `general`) when the catalog records them, else ()."""
    value = getattr(movie, "collections", None) or getattr(movie, "collection", None)
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(sorted(value))


@dataclass
class TrainOptions:
    """Everything `postergenre train` can set that changes the model; saved in the artifact as used.

    The defaults are the measured winner (DEFAULT_HEAD with its DEFAULT_SETTINGS on DEFAULT_FEATURE_SET), fitted
    with plain k-fold CV; a head search is opt-in (`head="auto"` or `search=True`).
    """

    backbone: str | None = None  # None = the registry's default; the saved options name the one used
    feature_set: str = DEFAULT_FEATURE_SET
    head: str = DEFAULT_HEAD
    params: dict[str, list[Any]] = field(default_factory=dict)
    search: bool = False
    folds: int = 5
    inner_folds: int | None = 3  # None in a saved artifact that did no search
    min_examples: int = 100
    threshold_metric: str = "f1"
    seed: int = 0
    bootstrap: int = 1000
    compact: bool = True
    holdout: float | None = None  # keep this fraction out of training (evaluate it with `evaluate --holdout`)
    threads: int | None = None  # torch CPU threads during training (restored afterwards)
    rating: str | None = None  # content-rating filter as given, e.g. "G,PG"
    year_min: int | None = None
    year_max: int | None = None
    collection: str | None = None  # collection filter as given, e.g. "studio,general"
    embedded_only: bool = False
    note: str | None = None
    studio: bool = True  # train the studio extensions when the catalog has a `studio` collection (model/studio.py)

    @property
    def searches(self) -> bool:
        return self.head == "auto" or self.search

    def candidates(self) -> list[Candidate]:
        """The head settings these options cross-validate; a bad setting name or value raises here."""
        return candidates_for(self.head, self.params, search=self.search)

    def movie_filter(self) -> MovieFilter:
        from ..catalog.genres import normalise_rating

        ratings = None
        if self.rating:
            ratings = frozenset(normalise_rating(r) or r.strip() for r in self.rating.split(",") if r.strip())
        return MovieFilter(ratings=ratings, year_min=self.year_min, year_max=self.year_max,
                           collections=parse_collections(self.collection))

    def command(self) -> str:
        """The `postergenre train` command that reproduces these options (the data folder comes from
        $POSTERGENRE_HOME, the output folder is the caller's choice, so neither is in it)."""
        flags = {"backbone": "--backbone", "feature_set": "--feature-set", "head": "--head", "search": "--search",
                 "folds": "--folds", "inner_folds": "--inner-folds", "min_examples": "--min-examples",
                 "threshold_metric": "--threshold-metric", "seed": "--seed", "bootstrap": "--bootstrap",
                 "compact": "--no-compact", "holdout": "--holdout", "threads": "--threads", "rating": "--rating",
                 "year_min": "--year-min", "year_max": "--year-max", "collection": "--collection", "embedded_only": "--embedded-only", "note": "--note",
                 "studio": "--no-studio"}
        defaults = TrainOptions()
        always = {"backbone", "feature_set", "head"}  # spelled out so the command still means this if defaults move
        parts = ["postergenre", "train"]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "params":
                parts += [a for k, v in value.items() for a in ("--param", f"{k}={','.join(_flag_value(x) for x in v)}")]
                continue
            if f.name == "inner_folds" and not self.searches:
                continue  # only a search uses inner folds
            if value is None or (f.name not in always and value == getattr(defaults, f.name)):
                continue
            if isinstance(value, bool):  # a non-default flag: --search, --embedded-only or --no-compact
                parts.append(flags[f.name])
                continue
            parts += [flags[f.name], _flag_value(value)]
        return shlex.join(parts)


def _flag_value(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)


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


def cross_fitted_f1(Y: np.ndarray, P: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]], metric: str) -> dict[str, float]:
    """Micro/macro F1 when each fold's thresholds come only from the other folds' predictions.

    The headline F1 uses thresholds tuned on all out-of-fold predictions (as the shipped model does); this
    number shows how much that tuning flatters it.
    """
    decided = np.zeros(Y.shape, dtype=bool)
    for _, te in folds:
        rest = np.setdiff1d(np.arange(len(Y)), te)
        decided[te] = decide(P[te], choose_thresholds(Y[rest], P[rest], metric))
    y = Y.astype(bool)
    tp, fp, fn = (y & decided).sum(0), (~y & decided).sum(0), (y & ~decided).sum(0)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1)
    per = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return {"micro_f1": float(micro), "macro_f1": float(per.mean())}


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Use `n` torch CPU threads inside the block and restore the previous count after it."""
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def dataset_for(catalog: Catalog, opts: TrainOptions) -> Dataset:
    """The training data set exactly as `opts` selects it (filters, backbone, feature set, genres)."""
    return assemble_dataset(catalog, flt=opts.movie_filter(), backbone=opts.backbone, feature_set=opts.feature_set,
                            min_examples=opts.min_examples, skip_unembedded=opts.embedded_only)


def data_key(ds: Dataset) -> str:
    """Identity of the training matrix for the fold cache: data fingerprint, genre columns, features used."""
    h = hashlib.sha256()
    for part in (ds.fingerprint()["sha256"], "|".join(ds.genres), ds.backbone, ds.preprocess_version, "/".join(ds.vectors),
                 f"{ds.feature_slice[0]}:{ds.feature_slice[1]}"):
        h.update(part.encode())
        h.update(b"\n")
    return h.hexdigest()


def train_model(ds: Dataset, opts: TrainOptions, log: Log = _quiet, *, progress: ProgressFn = no_progress,
                cache_dir: Path | None = None, sample_weight: np.ndarray | None = None) -> TrainResult:
    """Cross-validate, choose thresholds, fit on everything; returns the artifact unsaved.

    `progress` gets one report per fold fit (task "training"); `cache_dir` keeps each fold's out-of-fold
    probabilities so a rerun after an interruption continues (None keeps nothing); `sample_weight` [N] weighs
    movies in every fit (e.g. a studio's own films).
    """
    from .metrics import evaluate_predictions

    t_start = time.perf_counter()
    # Settings are checked before any fitting, so a typo fails in a second, not after the first fold.
    cands = opts.candidates()
    if opts.holdout:
        tr, te = holdout(ds.Y, ds.groups, opts.holdout, opts.seed)
        log(f"hold-out: {len(te):,} movies ({opts.holdout:.0%}, seed {opts.seed}) kept out of training; "
            f"evaluate them with `postergenre evaluate MODEL --holdout {opts.holdout}`")
        ds = subset(ds, tr)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)[tr]
    X, Y, groups = ds.features, ds.Y, ds.groups
    outer = kfold(Y, groups, opts.folds, opts.seed)
    searching = len(cands) > 1
    total = (len(cands) * opts.folds + nested_fits(len(cands), opts.folds, opts.inner_folds) if searching
             else opts.folds) + 1  # + the final fit
    log(f"{len(ds.ids):,} movies ({len(set(ds.shas)):,} posters), {len(ds.genres)} genres, {X.shape[1]} features "
        f"({ds.backbone} {ds.feature_set}); {len(cands)} candidate(s), {opts.folds}-fold CV, {total} fits")
    cache = FoldCache(cache_dir, data_key(ds))
    runner = FoldRunner(X, Y, cache=cache, progress=progress, total=total, task="training",
                        sample_weight=sample_weight, log=log)
    with torch_threads(opts.threads):
        if searching:
            log(f"selection search ({opts.folds}-fold CV on all data):")
            selection = search(cands, X, Y, outer, log=log, runner=runner)
            log(f"nested CV of the search ({opts.folds} outer x {opts.inner_folds} inner folds) for the reported metrics:")
            nested = nested_cv(cands, X, Y, groups, outer, inner_folds=opts.inner_folds, seed=opts.seed, log=log,
                               runner=runner)
        else:
            selection = search(cands, X, Y, outer, log=log, runner=runner)
            oof = selection.oof[cands[0].label]
            nested = NestedResult(oof, [cands[0].label] * len(outer), [])
        best = selection.best
        # Thresholds for the shipped model: on the winner's out-of-fold predictions from the selection CV.
        thresholds = choose_thresholds(Y, selection.oof[best.label], opts.threshold_metric)
        # Reported metrics: the nested (honest) out-of-fold predictions, thresholds chosen on them (see cross_fitted_f1).
        nested_thresholds = choose_thresholds(Y, nested.oof, opts.threshold_metric)
        evaluation = evaluate_predictions(Y, nested.oof, nested_thresholds, ds.genres, bootstrap=opts.bootstrap,
                                          seed=opts.seed, threshold_metric=opts.threshold_metric)
        evaluation["cross_fitted_thresholds"] = cross_fitted_f1(Y, nested.oof, outer, opts.threshold_metric)
        log(f"fitting {best.label} on all {len(ds.ids):,} movies")
        head = runner.fit(best, np.arange(len(Y)))
        runner.step(f"{best.label} on all movies")
        tensors = head.export()
        pc_tensors, pc_config = fit_poster_check(ds.X)
    tensors.update(pc_tensors)
    if opts.compact:
        tensors = {k: (v.astype(np.float16) if k.endswith(COMPACT_SUFFIXES) else v) for k, v in tensors.items()}
    seconds = time.perf_counter() - t_start
    metrics = {
        "cv": evaluation,
        "estimate": "nested CV of the search" if searching else f"{opts.folds}-fold CV of fixed settings",
        "folds": opts.folds,
        "inner_folds": opts.inner_folds if searching else None,
        "chosen_per_outer_fold": nested.chosen,
        "search_table": selection.table(),
        "train_seconds": round(seconds, 1),
    }
    # As used: the backbone resolved (not None), inner folds only when a search used them.
    used = TrainOptions(**(asdict(opts) | {"backbone": ds.backbone, "inner_folds": opts.inner_folds if searching else None}))
    artifact = ModelArtifact(
        genres=ds.genres, thresholds=thresholds, backbone=ds.backbone, preprocess_version=ds.preprocess_version,
        feature_set=ds.feature_set, head_type=best.head_type,
        head_config={"settings": best.settings, "feature_slice": list(ds.feature_slice), "poster_check": pc_config,
                     "threshold_metric": opts.threshold_metric},
        tensors=tensors, metrics=metrics, data_fingerprint=ds.fingerprint(),
        training_options=asdict(used) | {"messages": ds.messages, "command": used.command(),
                                         "sample_weighted": sample_weight is not None},
    )
    return TrainResult(artifact, selection, nested, evaluation, seconds, cache, reused_folds=cache.hits, labels=Y)


def evaluate_model(artifact: ModelArtifact, catalog: Catalog, *, flt: MovieFilter | None = None,
                   holdout_fraction: float | None = None, seed: int = 0, bootstrap: int = 1000,
                   log: Log = _quiet) -> tuple[dict[str, Any], Dataset, np.ndarray]:
    """Metrics of a saved model on catalog movies (optionally only a stratified hold-out part of them).

    Predictions are computed as the model core computes them: the general head's numpy forward pass, then (for
    a model with studio extensions) the studio domain correction, and where a movie has a plot the fusion with
    the synopsis head (decided with the fusion's thresholds). The headline is the poster signal alone (what a
    poster gets); `result["segments"]` adds per collection and G/PG, poster-only and with synopsis;
    `result["confusion"]` counts which family genres are decided for which true ones. Returns
    (result, data set, poster probabilities).

    The hold-out uses the same poster grouping and seed as training splits; evaluating on movies the model
    was trained on measures memory, not skill, so the result says whether the data matches the training
    fingerprint (and whether studio films, which train the studio extensions, are among them).
    """
    from .metrics import evaluate_predictions
    from ..features.registry import get_backbone

    spec = get_backbone(artifact.backbone)
    artifact.check_compatible(spec.name, spec.preprocess_version)
    ds = assemble_dataset(catalog, flt=flt, backbone=artifact.backbone, feature_set=artifact.feature_set,
                          genres=artifact.genres)
    for m in ds.messages:
        log(m)
    relation = relation_to_training(artifact, ds, holdout_fraction, seed)
    if holdout_fraction:
        _, te = holdout(ds.Y, ds.groups, holdout_fraction, seed)
        ds = subset(ds, te)
        log(f"hold-out: {len(te):,} movies ({holdout_fraction:.0%} of the selection, seed {seed})")
    general_relation, studio_note = relation, studio_relation(artifact, ds)
    if studio_note:
        # Studio films are never held out from the studio extensions, so the whole is no longer "held out".
        relation = (f"{studio_note}; the general head: {relation}" if relation.startswith("held out")
                    else f"{relation}; {studio_note}")
    if not relation.startswith("held out"):
        log(f"warning: {relation}")
    plots = plots_of(catalog, ds.ids)
    signals = product_signals(artifact, ds.X, plots)
    probs = signals.poster
    result = evaluate_predictions(ds.Y, probs, signals.poster_thresholds, ds.genres, bootstrap=bootstrap, seed=seed)
    result["model"] = {"backbone": artifact.backbone, "feature_set": artifact.feature_set, "head": artifact.head_type,
                       "created_at": artifact.created_at, "training_data": artifact.data_fingerprint.get("sha256"),
                       "evaluation_data": ds.fingerprint()["sha256"], "relation": relation,
                       "studio_extensions": signals.synopsis is not None,
                       "signal": ("poster (general head + studio domain correction)" if signals.synopsis is not None
                                  else "poster (general head)")}
    result["holdout_fraction"] = holdout_fraction
    result["segments"] = segment_metrics(ds, signals, general_relation, bootstrap=bootstrap, seed=seed,
                                         studio_trained=signals.synopsis is not None)
    result["confusion"] = family_confusion(ds.Y, signals, ds.genres)
    return result, ds, probs


def relation_to_training(artifact: ModelArtifact, ds: Dataset, holdout_fraction: float | None, seed: int) -> str:
    """Whether evaluating `artifact` on `ds` (or its hold-out part) measures skill or memory.

    Decided from the training data fingerprint: the selection (or the training part of the same split) is
    rebuilt and hashed, so a match proves which movies the model saw. When the whole selection does not match,
    each of its collections is tried (a model trained with `--collection general` evaluated on every collection).
    """
    trained = artifact.data_fingerprint.get("sha256")
    if not trained:
        return "unknown relation to the training data (the model records no data fingerprint)"
    found = _relation_of(artifact, ds, holdout_fraction, seed, trained)
    if found is not None:
        return found
    collections = sorted({c for cs in ds.collections for c in cs})
    for name in collections if len(collections) > 1 else ():
        part = subset(ds, np.flatnonzero([name in cs for cs in ds.collections]))
        if _relation_of(artifact, part, holdout_fraction, seed, trained) is None:
            continue
        trained_holdout = artifact.training_options.get("holdout")
        if trained_holdout:
            return (f"the model was trained on the `{name}` collection of this selection minus its "
                    f"{trained_holdout:.0%} hold-out (seed {artifact.training_options.get('seed', 0)}); evaluate with "
                    f"--collection {name} --holdout {trained_holdout} for unseen movies")
        return (f"the {len(part.ids):,} evaluated movies of the `{name}` collection were all used to train this model: "
                "numbers on them measure memory, not skill (train with --holdout, or read the model card's "
                "cross-validated metrics)")
    return "the evaluated movies differ from the model's training data; any overlap is unknown"


def _relation_of(artifact: ModelArtifact, ds: Dataset, holdout_fraction: float | None, seed: int,
                 trained: str) -> str | None:
    """The relation when `ds` is exactly the training selection (or it with the same hold-out), else None."""
    trained_holdout = artifact.training_options.get("holdout")
    trained_seed = artifact.training_options.get("seed", 0)
    if trained_holdout:
        if len(ds.ids) < 2:
            return None
        train_part, _ = holdout(ds.Y, ds.groups, trained_holdout, trained_seed)
        if subset(ds, train_part).fingerprint()["sha256"] != trained:
            return None
        if holdout_fraction == trained_holdout and seed == trained_seed:
            return "held out: none of the evaluated movies was used to train this model"
        return (f"the model was trained on this selection minus its {trained_holdout:.0%} hold-out (seed "
                f"{trained_seed}); evaluate with --holdout {trained_holdout} --seed {trained_seed} for unseen movies")
    if ds.fingerprint()["sha256"] == trained:
        return ("every evaluated movie was used to train this model: the numbers measure memory, not skill "
                "(train with --holdout, or read the model card's cross-validated metrics)")
    return None


STUDIO_COLLECTION = "studio"
"""The collection whose films train the studio extensions (domain correction, synopsis head, fusion)."""
FAMILY_RATINGS = ("G", "PG")
FAMILY_GENRES = ("Family", "Animation", "Adventure", "Fantasy", "Comedy", "Music")
"""The genres marketing tells apart within family films (the confusion view, in this order)."""
MIN_SEGMENT_MOVIES = 10
SEGMENT_AUC_RESAMPLES = 200  # bootstrap resamples per segment: segments are many, intervals need no more


def studio_relation(artifact: ModelArtifact, ds: Dataset) -> str | None:
    """A sentence when evaluated studio films also trained the model's studio extensions (memory), else None."""
    if not artifact.head_config.get("studio"):
        return None
    n = sum(1 for cs in ds.collections if STUDIO_COLLECTION in cs)
    if not n:
        return None
    return (f"{n:,} evaluated movies are in the `{STUDIO_COLLECTION}` collection, whose films trained this model's "
            "studio extensions (domain correction, synopsis head, fusion): numbers on them measure memory, not skill "
            "(the model card's studio section gives k-fold CV on studio films)")


def plots_of(catalog: Catalog, ids: Sequence[str]) -> list[str | None]:
    """Each movie's stored plot (its synopsis), None where the catalog has none."""
    wanted = set(ids)
    plots = {m.imdb_id: m.plot for m in catalog.movies() if m.imdb_id in wanted}
    return [plots.get(i) for i in ids]


@dataclass
class ProductSignals:
    """The genre probabilities the product gives each evaluated movie, computed as the model core does."""

    poster: np.ndarray  # [N, G] the poster signal: general head, then the studio correction when the model has one
    poster_thresholds: np.ndarray  # [G]
    general: np.ndarray  # [N, G] the general head alone
    has_plot: np.ndarray  # bool [N]
    synopsis: np.ndarray | None = None  # [N, G], NaN rows without a plot; None: the model has no synopsis head
    combined: np.ndarray | None = None  # [N, G] poster + synopsis where a plot exists, else the poster signal
    combined_thresholds: np.ndarray | None = None  # the fusion's thresholds (used where a plot exists)

    def decided(self, rows: np.ndarray, *, with_synopsis: bool) -> np.ndarray:
        """Decided genres [len(rows), G] as a user sees them: fused ones (fusion thresholds) where asked and a plot
        exists, else poster ones (poster thresholds)."""
        out = decide(self.poster[rows], self.poster_thresholds)
        if with_synopsis and self.combined is not None:
            fused = rows[self.has_plot[rows]]
            out[self.has_plot[rows]] = decide(self.combined[fused], self.combined_thresholds)
        return out


def product_signals(artifact: ModelArtifact, X_full: np.ndarray, plots: Sequence[str | None]) -> ProductSignals:
    """Poster (and, where the model has the studio extensions and a movie a plot, poster + synopsis) probabilities
    of full cached vectors, by the same steps as the model core: numpy head forward, studio domain correction,
    fusion with the synopsis head."""
    from scipy.special import expit

    from .head_forward import logits
    from .synopsis import has_text

    fs = artifact.head_config.get("feature_slice") or (0, X_full.shape[1])
    general = expit(logits(artifact.tensors, fs, X_full).astype(np.float64))
    present = has_text(list(plots))
    config = artifact.head_config.get("studio")
    if not config:
        return ProductSignals(general, np.asarray(artifact.thresholds, dtype=np.float64), general, present)
    from .domain import StudioExtensions

    ext = StudioExtensions.from_saved(artifact.tensors, config)
    out = ext.predict(general, [p if ok else None for p, ok in zip(plots, present)])
    return ProductSignals(
        poster=np.asarray(out["poster_probabilities"], dtype=np.float64),
        poster_thresholds=np.asarray(artifact.thresholds, dtype=np.float64), general=general, has_plot=present,
        synopsis=np.asarray(out["synopsis_probabilities"], dtype=np.float64),
        combined=np.asarray(out["probabilities"], dtype=np.float64),
        combined_thresholds=np.asarray(ext.fusion.thresholds, dtype=np.float64))


def evaluation_segments(ds: Dataset) -> list[dict[str, Any]]:
    """The segments quality is reported for: everything, each collection, G/PG, and each collection's G/PG films.
    Empty segments are left out; a repeat of an earlier segment (the same movies) is named beside it instead
    ("all evaluated movies = collection studio" when only studio films were evaluated)."""
    n = len(ds.ids)
    rated = np.array([r in FAMILY_RATINGS for r in ds.ratings] if ds.ratings else [False] * n, dtype=bool)
    collections = sorted({c for cs in ds.collections for c in cs})
    member = {c: np.array([c in cs for cs in ds.collections], dtype=bool) for c in collections}
    family = "/".join(FAMILY_RATINGS)
    candidates = [("all evaluated movies", None, None, np.ones(n, dtype=bool))]
    candidates += [(f"collection {c}", c, None, member[c]) for c in collections]
    candidates.append((f"rated {family}", None, list(FAMILY_RATINGS), rated))
    candidates += [(f"collection {c}, rated {family}", c, list(FAMILY_RATINGS), member[c] & rated) for c in collections]
    out: list[dict[str, Any]] = []
    seen: dict[bytes, dict[str, Any]] = {}
    for name, collection, ratings, mask in candidates:
        key = np.packbits(mask).tobytes()
        if not mask.any():
            continue
        if key in seen:
            same = seen[key]
            same["segment"] += f" = {name}"
            same["collection"] = same["collection"] or collection
            same["ratings"] = same["ratings"] or ratings
            continue
        seen[key] = {"segment": name, "collection": collection, "ratings": ratings, "rows": np.flatnonzero(mask)}
        out.append(seen[key])
    return out


def _segment_quality(Y: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, genres: Sequence[str], *,
                     bootstrap: int, seed: int) -> dict[str, Any]:
    """Macro ROC AUC (95% interval), Family ROC AUC and micro-F1 of one signal on one segment (JSON-safe)."""
    from .metrics import evaluate_predictions

    n = int(len(Y))
    if n < MIN_SEGMENT_MOVIES:
        return {"n_movies": n, "note": f"fewer than {MIN_SEGMENT_MOVIES} movies: not measured"}
    resamples = min(bootstrap, SEGMENT_AUC_RESAMPLES)
    ev = evaluate_predictions(Y, probs, thresholds, genres, bootstrap=resamples, seed=seed, auc_bootstrap=resamples)
    family = next((p for p in ev["per_genre"] if p["genre"] == "Family"), None)
    return {"n_movies": n, "macro_auc": ev["headline"]["macro_auc"], "micro_f1": ev["headline"]["micro_f1"],
            "family_auc": family["roc_auc"] if family else None, "bootstrap_resamples": resamples,
            "per_genre": [{k: p[k] for k in ("genre", "support", "roc_auc", "f1")} for p in ev["per_genre"]]}


def _measures(relation: str, collections: set[str], studio_trained: bool) -> str:
    """'skill', 'memory' or 'unknown': what the numbers of a segment whose movies are in `collections` measure,
    from the general head's relation to training (`relation_to_training`) and the studio extensions."""
    import re

    if studio_trained and STUDIO_COLLECTION in collections:
        return "memory"
    if relation.startswith("held out"):
        return "skill"
    trained_on = re.search(r"`([^`]+)` collection", relation)
    if trained_on and trained_on.group(1) not in collections:
        return "skill"  # the head was trained on exactly another collection's movies
    return "memory" if "memory" in relation or "minus its" in relation else "unknown"


def segment_metrics(ds: Dataset, signals: ProductSignals, relation: str, *, bootstrap: int, seed: int,
                    studio_trained: bool) -> list[dict[str, Any]]:
    """Per segment (see `evaluation_segments`): the poster signal on all its movies and, for a model with a
    synopsis head, on its movies with a plot the poster signal alone and poster + synopsis (the combined estimate,
    fusion thresholds), so the two are compared on the same films. `relation`: the general head's relation to
    training; each segment says what its numbers measure (`measures`: skill, memory or unknown)."""
    out = []
    for seg in evaluation_segments(ds):
        rows = seg.pop("rows")
        seg["n_movies"] = int(len(rows))
        seg["measures"] = _measures(relation, {c for i in rows for c in ds.collections[i]} if ds.collections else set(),
                                    studio_trained)
        seg["signals"] = {"poster": _segment_quality(ds.Y[rows], signals.poster[rows], signals.poster_thresholds,
                                                     ds.genres, bootstrap=bootstrap, seed=seed)}
        if signals.combined is not None:
            plotted = rows[signals.has_plot[rows]]
            seg["with_plot"] = int(len(plotted))
            if 0 < len(plotted) < len(rows):
                seg["signals"]["poster, films with a synopsis"] = _segment_quality(
                    ds.Y[plotted], signals.poster[plotted], signals.poster_thresholds, ds.genres,
                    bootstrap=bootstrap, seed=seed)
            if len(plotted):
                seg["signals"]["poster + synopsis"] = _segment_quality(
                    ds.Y[plotted], signals.combined[plotted], signals.combined_thresholds, ds.genres,
                    bootstrap=bootstrap, seed=seed)
        out.append(seg)
    return out


def family_confusion(Y: np.ndarray, signals: ProductSignals, genres: Sequence[str]) -> dict[str, Any] | None:
    """Which family genres the model mixes up: for the movies of each true family genre, how many get each family
    genre decided. The diagonal counts hits; off the diagonal only decisions of a genre the movie does NOT have
    (a mix-up, not a second true genre). Poster signal on every movie; for a model with a synopsis head also the
    decisions a user sees with the synopsis (movies with a plot). None when fewer than two family genres."""
    genres = list(genres)
    cols = [genres.index(g) for g in FAMILY_GENRES if g in genres]
    if len(cols) < 2:
        return None
    y = np.asarray(Y).astype(bool)

    def matrix(rows: np.ndarray, decided: np.ndarray) -> dict[str, Any]:
        yt, d = y[rows][:, cols], decided[:, cols]
        counts = [[int((yt[:, i] & d[:, k] & (~yt[:, k] if k != i else True)).sum()) for k in range(len(cols))]
                  for i in range(len(cols))]
        return {"n_movies": int(len(rows)), "true_counts": [int(v) for v in yt.sum(axis=0)], "decided": counts}

    every = np.arange(len(y))
    out = {"genres": [genres[j] for j in cols],
           "rule": "row: movies with that true genre; cell: how many of them get the column genre decided "
                   "(off the diagonal only when it is not one of their genres)",
           "signals": {"poster": matrix(every, signals.decided(every, with_synopsis=False))}}
    if signals.combined is not None and signals.has_plot.any():
        plotted = np.flatnonzero(signals.has_plot)
        out["signals"]["poster + synopsis"] = matrix(plotted, signals.decided(plotted, with_synopsis=True))
    return out


def subset(ds: Dataset, idx: np.ndarray) -> Dataset:
    return Dataset(
        ids=[ds.ids[i] for i in idx], shas=[ds.shas[i] for i in idx], genres=ds.genres, X=ds.X[idx], Y=ds.Y[idx],
        backbone=ds.backbone, preprocess_version=ds.preprocess_version, feature_set=ds.feature_set,
        feature_slice=ds.feature_slice, dropped_genres=ds.dropped_genres, messages=ds.messages,
        movie_genres=[ds.movie_genres[i] for i in idx], titles=_pick(ds.titles, idx), ratings=_pick(ds.ratings, idx),
        years=_pick(ds.years, idx), collections=_pick(ds.collections, idx), vectors=ds.vectors,
    )


def _pick(values: list, idx: np.ndarray) -> list:
    return [values[i] for i in idx] if values else []

