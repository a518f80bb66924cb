"""Training for the studio's own films: the general poster head, then the studio extensions on top of it.

When the catalog has a `studio` collection, `train_with_studio`:
1. trains the poster head on the GENERAL films only (the usual CV, thresholds and poster check), so its
   probabilities are out-of-sample for every studio film;
2. fits the studio extensions (`domain.fit_studio_extensions`): a domain correction stacked on the general head,
   the synopsis head on the studio films' plots, and the fusion of the two signals — each chosen and measured by
   k-fold CV on studio films only;
3. re-tunes the poster thresholds on the corrected out-of-fold probabilities (general and studio films), since the
   shipped poster signal is the corrected one, and stores everything in one artifact (`head_config["studio"]`,
   tensors `domain.*`, `synopsis.*`, `fusion.*`, metrics `studio`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..catalog.records import Movie
from ..progress import ProgressFn, no_progress
from .domain import StudioExtensions, fit_studio_extensions
from .head_forward import probabilities as head_probabilities
from .labels import label_matrix
from .split import poster_groups
from .thresholds import choose_thresholds
from .train import Dataset, TrainOptions, TrainResult, subset, train_model

STUDIO = "studio"
Log = Callable[[str], None]


def studio_films(movies: list[Movie], genres: list[str]) -> list[Movie]:
    """The studio collection's films that carry at least one of the model's genres (with or without a poster)."""
    kept = set(genres)
    return [m for m in movies if STUDIO in (getattr(m, "collections", ()) or ()) and kept.intersection(m.genres)]


def train_with_studio(ds: Dataset, catalog_movies: list[Movie], opts: TrainOptions, log: Log, *,
                      progress: ProgressFn = no_progress, cache_dir=None) -> tuple[TrainResult, StudioExtensions | None]:
    """Train the poster head on general films and, when studio films exist, the studio extensions on top of it."""
    in_studio = np.array([STUDIO in cs for cs in ds.collections], dtype=bool) if ds.collections else \
        np.zeros(len(ds.ids), dtype=bool)
    films = studio_films(catalog_movies, ds.genres)
    if not films or in_studio.all():
        return train_model(ds, opts, log, progress=progress, cache_dir=cache_dir), None
    general = subset(ds, np.flatnonzero(~in_studio))
    log(f"poster head on the {len(general.ids):,} general films; the {int(in_studio.sum()):,} studio films with a "
        f"poster (and {len(films):,} studio films in all) train the studio extensions")
    result = train_model(general, opts, log, progress=progress, cache_dir=cache_dir)
    artifact = result.artifact

    vectors = {sha: ds.X[i] for i, sha in enumerate(ds.shas) if in_studio[i]}
    has_poster = np.array([m.poster_sha256 in vectors for m in films], dtype=bool)
    general_probs = np.full((len(films), len(ds.genres)), 0.5)
    rows = np.flatnonzero(has_poster)
    if len(rows):
        X = np.stack([vectors[films[i].poster_sha256] for i in rows])
        general_probs[rows] = head_probabilities(artifact.tensors, artifact.head_config["feature_slice"], X)
    Y = label_matrix((m.genres for m in films), ds.genres)
    # A shared poster never lands on both sides of a fold; a film without a poster is its own group.
    groups = poster_groups([m.poster_sha256 if has_poster[i] else f"id:{m.imdb_id}" for i, m in enumerate(films)])
    ext = fit_studio_extensions(general_probs, Y, ds.genres, has_poster=has_poster, plots=[m.plot for m in films],
                                groups=groups, general_oof=(result.labels, result.nested.oof),
                                poster_thresholds=artifact.thresholds, n_splits=opts.folds, seed=opts.seed,
                                bootstrap=opts.bootstrap, progress=log)

    # The shipped poster signal is the corrected one: its thresholds come from corrected out-of-fold probabilities.
    corrected_general = ext.poster_probs(result.nested.oof)
    studio_oof = ext.oof["poster"][rows]
    artifact.thresholds = choose_thresholds(np.concatenate([result.labels, Y[rows]]),
                                            np.concatenate([corrected_general, studio_oof]), opts.threshold_metric)
    artifact.tensors.update(ext.tensors(compact=opts.compact))  # the synopsis weights are the bulk of the file
    artifact.head_config["studio"] = ext.config()
    artifact.metrics["studio"] = json_safe(ext.metrics)
    artifact.training_options["studio_films"] = {"films": len(films), "with_poster": int(has_poster.sum()),
                                                 "with_plot": int(sum(bool(m.plot and m.plot.strip()) for m in films))}
    return result, ext


def json_safe(value: Any) -> Any:
    """numpy values → plain JSON types; NaN and infinities → None (model.json is strict JSON)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
