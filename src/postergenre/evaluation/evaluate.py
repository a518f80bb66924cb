"""Quality of a saved model on catalog movies: the headline, per segment (collection, G/PG; poster alone and with a
synopsis), the family-genre confusion, and what the numbers measure (skill on unseen movies, or memory).

Predictions are the product's own (the model assembled as the model core assembles it), so a report shows what
users get. The HTML is `render.evaluation_report`'s job; this module only computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ..catalog.filters import MovieFilter
from ..catalog.genres import FAMILY_RATINGS
from ..catalog.store import Catalog
from ..labelled.datasets import Dataset, assemble_dataset, plots_of, subset
from ..labelled.metrics import evaluate_predictions
from ..labelled.split import holdout
from ..model.artifact import ModelArtifact
from ..model.assembly import COMBINED, POSTER, assemble
from ..model.layout import saved_views
from ..model.synopsis import has_text
from ..model.thresholds import decide
from ..progress import Log, no_log


def evaluate_model(
    artifact: ModelArtifact,
    catalog: Catalog,
    *,
    flt: MovieFilter | None = None,
    holdout_fraction: float | None = None,
    seed: int = 0,
    bootstrap: int = 1000,
    log: Log = no_log,
) -> tuple[dict[str, Any], Dataset, np.ndarray]:
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
    from ..features.registry import get_backbone

    spec = get_backbone(artifact.backbone)
    artifact.check_compatible(spec.name, spec.preprocess_version)
    ds = assemble_dataset(
        catalog,
        flt=flt,
        backbone=artifact.backbone,
        feature_set=artifact.feature_set,
        genres=artifact.genres,
        views=saved_views(artifact.head_config),
    )
    for m in ds.messages:
        log(m)
    relation = relation_to_training(artifact, ds, holdout_fraction, seed)
    if holdout_fraction:
        _, te = holdout(ds.Y, ds.groups, holdout_fraction, seed)
        ds = subset(ds, te)
        log(f"hold-out: {len(te):,} movies ({holdout_fraction:.0%} of the selection, seed {seed})")
    studio_note = studio_relation(artifact, ds)
    # Studio films are never held out from the studio extensions, so with them the whole is no longer "held out".
    held_out = relation.held_out and not studio_note
    if not studio_note:
        sentence = str(relation)
    else:
        sentence = f"{studio_note}; the general head: {relation}" if relation.held_out else f"{relation}; {studio_note}"
    if not held_out:
        log(f"warning: {sentence}")
    plots = plots_of(catalog, ds.ids)
    signals = product_signals(artifact, ds.view_vectors, plots)
    probs = signals.poster
    result = evaluate_predictions(ds.Y, probs, signals.poster_thresholds, ds.genres, bootstrap=bootstrap, seed=seed)
    result["model"] = {
        "backbone": artifact.backbone,
        "feature_set": artifact.feature_set,
        "head": artifact.head_type,
        "created_at": artifact.created_at,
        "training_data": artifact.data_fingerprint.get("sha256"),
        "evaluation_data": ds.fingerprint()["sha256"],
        "relation": sentence,
        "relation_kind": relation.kind.value,
        "held_out": held_out,
        "studio_extensions": signals.synopsis is not None,
        "signal": (
            "poster (general head + studio domain correction)"
            if signals.synopsis is not None
            else "poster (general head)"
        ),
    }
    result["holdout_fraction"] = holdout_fraction
    result["segments"] = segment_metrics(
        ds, signals, relation, bootstrap=bootstrap, seed=seed, studio_trained=signals.synopsis is not None
    )
    result["confusion"] = family_confusion(ds.Y, signals, ds.genres)
    return result, ds, probs


class Relation(Enum):
    """How evaluated movies relate to the general head's training data (decided from the data fingerprint)."""

    HELD_OUT = "held out"  # the hold-out `train --holdout` kept out: unseen movies
    TRAINED = "trained"  # every evaluated movie trained the head
    TRAINED_MINUS_HOLDOUT = "trained minus its hold-out"  # the selection the head trained on, hold-out included
    COLLECTION_TRAINED = "collection trained"  # one collection of the selection is exactly what trained the head
    COLLECTION_MINUS_HOLDOUT = "collection minus its hold-out"  # that collection, minus the head's hold-out
    DIFFERS = "differs"  # other movies than the training data; overlap unknown
    UNKNOWN = "unknown"  # the model records no data fingerprint


@dataclass(frozen=True)
class TrainingRelation:
    """The relation as data (what decides a segment's `measures`), and the sentence that says it to people."""

    kind: Relation
    collection: str | None = None  # the collection that trained the head (COLLECTION_* kinds)
    holdout: float | None = None  # the head's own hold-out fraction, when it had one
    seed: int = 0
    n_movies: int = 0

    @property
    def held_out(self) -> bool:
        return self.kind is Relation.HELD_OUT

    def measures(self, collections: set[str]) -> str:
        """'skill', 'memory' or 'unknown': what the numbers on movies of `collections` measure (general head only)."""
        if self.kind is Relation.HELD_OUT:
            return "skill"
        if self.collection is not None and self.collection not in collections:
            return "skill"  # the head was trained on exactly another collection's movies
        if self.kind in (Relation.DIFFERS, Relation.UNKNOWN):
            return "unknown"
        return "memory"

    def __str__(self) -> str:
        k, h, name = self.kind, self.holdout, self.collection
        if k is Relation.HELD_OUT:
            return "held out: none of the evaluated movies was used to train this model"
        if k is Relation.TRAINED:
            return (
                "every evaluated movie was used to train this model: the numbers measure memory, not skill "
                "(train with --holdout, or read the model card's cross-validated metrics)"
            )
        if k is Relation.TRAINED_MINUS_HOLDOUT:
            return (
                f"the model was trained on this selection minus its {h:.0%} hold-out (seed {self.seed}); evaluate "
                f"with --holdout {h} --seed {self.seed} for unseen movies"
            )
        if k is Relation.COLLECTION_MINUS_HOLDOUT:
            return (
                f"the model was trained on the `{name}` collection of this selection minus its {h:.0%} hold-out "
                f"(seed {self.seed}); evaluate with --collection {name} --holdout {h} for unseen movies"
            )
        if k is Relation.COLLECTION_TRAINED:
            return (
                f"the {self.n_movies:,} evaluated movies of the `{name}` collection were all used to train this "
                "model: numbers on them measure memory, not skill (train with --holdout, or read the model "
                "card's cross-validated metrics)"
            )
        if k is Relation.DIFFERS:
            return "the evaluated movies differ from the model's training data; any overlap is unknown"
        return "unknown relation to the training data (the model records no data fingerprint)"


def relation_to_training(
    artifact: ModelArtifact, ds: Dataset, holdout_fraction: float | None, seed: int
) -> TrainingRelation:
    """Whether evaluating `artifact` on `ds` (or its hold-out part) measures skill or memory.

    Decided from the training data fingerprint: the selection (or the training part of the same split) is
    rebuilt and hashed, so a match proves which movies the model saw. When the whole selection does not match,
    each of its collections is tried (a model trained with `--collection general` evaluated on every collection).
    """
    trained = artifact.data_fingerprint.get("sha256")
    if not trained:
        return TrainingRelation(Relation.UNKNOWN)
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
            return TrainingRelation(
                Relation.COLLECTION_MINUS_HOLDOUT, name, trained_holdout, artifact.training_options.get("seed", 0)
            )
        return TrainingRelation(Relation.COLLECTION_TRAINED, name, n_movies=len(part.ids))
    return TrainingRelation(Relation.DIFFERS)


def _relation_of(
    artifact: ModelArtifact, ds: Dataset, holdout_fraction: float | None, seed: int, trained: str
) -> TrainingRelation | None:
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
            return TrainingRelation(Relation.HELD_OUT, holdout=trained_holdout, seed=trained_seed)
        return TrainingRelation(Relation.TRAINED_MINUS_HOLDOUT, holdout=trained_holdout, seed=trained_seed)
    if ds.fingerprint()["sha256"] == trained:
        return TrainingRelation(Relation.TRAINED)
    return None


STUDIO_COLLECTION = "studio"
"""The collection whose films train the studio extensions (domain correction, synopsis head, fusion)."""
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
    return (
        f"{n:,} evaluated movies are in the `{STUDIO_COLLECTION}` collection, whose films trained this model's "
        "studio extensions (domain correction, synopsis head, fusion): numbers on them measure memory, not skill "
        "(the model card's studio section gives k-fold CV on studio films)"
    )


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
        if with_synopsis and self.combined is not None and self.combined_thresholds is not None:
            fused = rows[self.has_plot[rows]]
            out[self.has_plot[rows]] = decide(self.combined[fused], self.combined_thresholds)
        return out


def product_signals(artifact: ModelArtifact, X_full: np.ndarray, plots: Sequence[str | None]) -> ProductSignals:
    """Poster (and, where the model has the studio extensions and a movie a plot, poster + synopsis) probabilities
    of full cached vectors (of each view the model reads, [N, V, D]), from the model assembled as the model core
    assembles it (`model.assembly`), each signal with the thresholds the model decides it with."""
    model = assemble(artifact, X_full.shape[-1])
    general = model.general_probabilities(X_full)
    present = has_text(list(plots))
    poster = model.poster_probabilities(X_full)
    if not model.has_synopsis:
        return ProductSignals(poster, model.thresholds_for(POSTER), general, present)
    synopsis = model.synopsis_probabilities([p if ok else None for p, ok in zip(plots, present, strict=True)])
    return ProductSignals(
        poster=poster,
        poster_thresholds=model.thresholds_for(POSTER),
        general=general,
        has_plot=present,
        synopsis=synopsis,
        combined=model.fuse(poster, synopsis),
        combined_thresholds=model.thresholds_for(COMBINED),
    )


def evaluation_segments(ds: Dataset) -> list[dict[str, Any]]:
    """The segments quality is reported for: everything, each collection, G/PG, and each collection's G/PG films.
    Empty segments are left out; a repeat of an earlier segment (the same movies) is named beside it instead
    ("all evaluated movies = collection studio" when only studio films were evaluated)."""
    n = len(ds.ids)
    rated = np.array([r in FAMILY_RATINGS for r in ds.ratings] if ds.ratings else [False] * n, dtype=bool)
    collections = sorted({c for cs in ds.collections for c in cs})
    member = {c: np.array([c in cs for cs in ds.collections], dtype=bool) for c in collections}
    family = "/".join(FAMILY_RATINGS)
    candidates: list[tuple[str, str | None, list[str] | None, np.ndarray]] = [
        ("all evaluated movies", None, None, np.ones(n, dtype=bool))
    ]
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


def _segment_quality(
    Y: np.ndarray, probs: np.ndarray, thresholds: np.ndarray, genres: Sequence[str], *, bootstrap: int, seed: int
) -> dict[str, Any]:
    """Macro ROC AUC (95% interval), Family ROC AUC and micro-F1 of one signal on one segment (JSON-safe)."""
    n = len(Y)
    if n < MIN_SEGMENT_MOVIES:
        return {"n_movies": n, "note": f"fewer than {MIN_SEGMENT_MOVIES} movies: not measured"}
    resamples = min(bootstrap, SEGMENT_AUC_RESAMPLES)
    ev = evaluate_predictions(Y, probs, thresholds, genres, bootstrap=resamples, seed=seed, auc_bootstrap=resamples)
    family = next((p for p in ev["per_genre"] if p["genre"] == "Family"), None)
    return {
        "n_movies": n,
        "macro_auc": ev["headline"]["macro_auc"],
        "micro_f1": ev["headline"]["micro_f1"],
        "family_auc": family["roc_auc"] if family else None,
        "bootstrap_resamples": resamples,
        "per_genre": [{k: p[k] for k in ("genre", "support", "roc_auc", "f1")} for p in ev["per_genre"]],
    }


def _measures(relation: TrainingRelation, collections: set[str], studio_trained: bool) -> str:
    """'skill', 'memory' or 'unknown': what the numbers of a segment whose movies are in `collections` measure,
    from the general head's relation to training and the studio extensions (trained on every studio film)."""
    if studio_trained and STUDIO_COLLECTION in collections:
        return "memory"
    return relation.measures(collections)


def segment_metrics(
    ds: Dataset, signals: ProductSignals, relation: TrainingRelation, *, bootstrap: int, seed: int, studio_trained: bool
) -> list[dict[str, Any]]:
    """Per segment (see `evaluation_segments`): the poster signal on all its movies and, for a model with a
    synopsis head, on its movies with a plot the poster signal alone and poster + synopsis (the combined estimate,
    fusion thresholds), so the two are compared on the same films. `relation`: the general head's relation to
    training; each segment says what its numbers measure (`measures`: skill, memory or unknown)."""
    out = []
    for seg in evaluation_segments(ds):
        rows = seg.pop("rows")
        seg["n_movies"] = len(rows)
        seg["measures"] = _measures(
            relation, {c for i in rows for c in ds.collections[i]} if ds.collections else set(), studio_trained
        )
        seg["signals"] = {
            "poster": _segment_quality(
                ds.Y[rows], signals.poster[rows], signals.poster_thresholds, ds.genres, bootstrap=bootstrap, seed=seed
            )
        }
        if signals.combined is not None and signals.combined_thresholds is not None:
            plotted = rows[signals.has_plot[rows]]
            seg["with_plot"] = len(plotted)
            if 0 < len(plotted) < len(rows):
                seg["signals"]["poster, films with a synopsis"] = _segment_quality(
                    ds.Y[plotted],
                    signals.poster[plotted],
                    signals.poster_thresholds,
                    ds.genres,
                    bootstrap=bootstrap,
                    seed=seed,
                )
            if len(plotted):
                seg["signals"]["poster + synopsis"] = _segment_quality(
                    ds.Y[plotted],
                    signals.combined[plotted],
                    signals.combined_thresholds,
                    ds.genres,
                    bootstrap=bootstrap,
                    seed=seed,
                )
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
        counts = [
            [int((yt[:, i] & d[:, k] & (~yt[:, k] if k != i else True)).sum()) for k in range(len(cols))]
            for i in range(len(cols))
        ]
        return {"n_movies": len(rows), "true_counts": [int(v) for v in yt.sum(axis=0)], "decided": counts}

    every = np.arange(len(y))
    out: dict[str, Any] = {
        "genres": [genres[j] for j in cols],
        "rule": "row: movies with that true genre; cell: how many of them get the column genre decided "
        "(off the diagonal only when it is not one of their genres)",
        "signals": {"poster": matrix(every, signals.decided(every, with_synopsis=False))},
    }
    if signals.combined is not None and signals.has_plot.any():
        plotted = np.flatnonzero(signals.has_plot)
        out["signals"]["poster + synopsis"] = matrix(plotted, signals.decided(plotted, with_synopsis=True))
    return out
