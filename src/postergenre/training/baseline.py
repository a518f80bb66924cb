"""The predecessor's CNN as a measured baseline: k-fold CV on a stratified subset of catalog posters.

It trains from scratch on pixels (see seed_cnn.py), which costs minutes per thousand posters on a CPU, so
it runs on a stratified subset whose size and ids are recorded with the result.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.filters import MovieFilter, frequent_genres
from ..catalog.store import Catalog
from ..errors import EmptySelectionError
from ..labelled.datasets import poster_sha, training_filter
from ..labelled.labels import label_matrix
from ..labelled.split import holdout, kfold, poster_groups
from ..model.thresholds import choose_thresholds
from ..progress import Log, no_log


def seed_cnn_cv(
    catalog: Catalog,
    poster_root: Path,
    *,
    flt: MovieFilter | None = None,
    min_examples: int = 100,
    limit: int = 2000,
    folds: int = 5,
    epochs: int = 10,
    seed: int = 0,
    threshold_metric: str = "f1",
    bootstrap: int = 1000,
    log: Log = no_log,
) -> dict[str, Any]:
    """JSON-safe result: CV metrics of the seed CNN on about `limit` posters (a stratified subset over poster
    groups, so duplicates stay together; genres chosen on the whole selection)."""
    from ..labelled.metrics import evaluate_predictions
    from ..posters.store import PosterStore
    from .seed_cnn import cross_validate_seed_cnn, load_pixels

    movies = training_filter(flt).apply(catalog.movies())
    genres, dropped = frequent_genres(movies, min_examples)
    kept = set(genres)
    movies = [m for m in movies if any(g in kept for g in m.genres)]
    Y = label_matrix((m.genres for m in movies), genres)
    shas = [poster_sha(m) for m in movies]
    groups = poster_groups(shas)
    if len(movies) > limit:
        _, rows = holdout(Y, groups, limit / len(movies), seed)
    else:
        rows = np.arange(len(movies))
    if len(rows) < folds:
        raise EmptySelectionError(f"seed-cnn: only {len(rows)} posters selected, fewer than --folds {folds}")
    store = PosterStore(poster_root)
    log(f"seed-cnn: decoding {len(rows):,} posters at 200x200")
    pixels = load_pixels([store.path(shas[i]) for i in rows])
    Ys = Y[rows]
    split = kfold(Ys, groups[rows], folds, seed)
    t0 = time.perf_counter()
    oof = cross_validate_seed_cnn(pixels, Ys, split, seed=seed, epochs=epochs, log=log)
    seconds = time.perf_counter() - t0
    thresholds = choose_thresholds(Ys, oof, threshold_metric)
    cv = evaluate_predictions(
        Ys, oof, thresholds, genres, bootstrap=bootstrap, seed=seed, threshold_metric=threshold_metric
    )
    ids = sorted(movies[i].imdb_id for i in rows)
    return {
        "head": "seed-cnn",
        "cv": cv,
        "folds": folds,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "subset": {
            "movies": len(rows),
            "of": len(movies),
            "how": f"stratified subset (iterative stratification, seed {seed})",
            "ids_sha256": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        },
        "genres": genres,
        "dropped_genres": dropped,
    }
