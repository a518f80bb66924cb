"""Genre probabilities and decided sets for every catalog movie with a poster, as one Parquet file (for BI tools).

    selected movies ─► embed what the cache misses (local engine or Ray Data) ─► cached vectors, in chunks
                    ─► ModelCore: probabilities, decide, poster check ─► Parquet rows, written chunk by chunk

One row per movie (movies sharing a poster each get their row): imdb_id, title, year, collections,
poster_sha256, one `prob_<Genre>` column per genre of the model (float64, the Predictor's numbers), `decided`
(list of genres, most probable first; the model's per-genre thresholds), `is_poster` and `poster_check_score`,
and `embedding_error` (null, or why the poster could not be embedded: then the genre columns are null).
The file's schema metadata `postergenre` (JSON) names the model, backbone, runtime, genres and thresholds.
The file is written to an anonymous temporary and renamed, so a reader never sees half a table and an
interrupted run (even kill -9) leaves nothing beside it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..catalog.filters import MovieFilter
from ..catalog.records import Movie
from ..catalog.store import Catalog
from ..errors import PosterGenreError
from ..features.cache import EmbeddingCache
from ..features.embed import EmbedSummary, embed_catalog
from ..features.runtime import InferenceRuntime
from ..files import atomic_output, sweep_partials
from ..posters.store import PosterStore
from ..progress import Progress, ProgressFn, no_progress
from .core import ModelCore

ENGINES = ("local", "ray")
CHUNK_MOVIES = 4096  # movies per read-predict-write step: ~47 MB of lite0 vectors in memory at a time
PROB_PREFIX = "prob_"
METADATA_KEY = b"postergenre"


@dataclass
class CatalogPredictionSummary:
    out: Path
    movies: int = 0  # rows written: selected movies with a stored poster
    predicted: int = 0  # rows with probabilities
    failed: int = 0  # rows whose poster could not be embedded
    seconds: float = 0.0
    embed: EmbedSummary | None = None
    swept: list[Path] = field(default_factory=list)  # temporaries of an interrupted earlier run, removed on start


def require_pyarrow() -> ModuleType:
    """`pyarrow.parquet`, or a PosterGenreError saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise PosterGenreError(f"writing Parquet needs pyarrow, which is not installed ({exc}); install it with "
                               "pip install pyarrow, or the Ray extra that brings it: pip install '.[ray]'") from exc
    return pq


def genre_columns(genres: list[str]) -> list[str]:
    return [f"{PROB_PREFIX}{g}" for g in genres]


def _schema(core: ModelCore, model_name: str) -> Any:
    import pyarrow as pa

    fields = [pa.field("imdb_id", pa.string(), nullable=False), pa.field("title", pa.string()),
              pa.field("year", pa.int32()), pa.field("collections", pa.list_(pa.string())),
              pa.field("poster_sha256", pa.string(), nullable=False)]
    fields += [pa.field(c, pa.float64()) for c in genre_columns(core.genres)]
    fields += [pa.field("decided", pa.list_(pa.string())), pa.field("is_poster", pa.bool_()),
               pa.field("poster_check_score", pa.float64()), pa.field("embedding_error", pa.string())]
    meta = {"model": model_name, "backbone": core.spec.name, "preprocess_version": core.spec.preprocess_version,
            "runtime": core.runtime_name, "genres": core.genres,
            "thresholds": {g: float(t) for g, t in zip(core.genres, core.thresholds)}}
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})


def _chunk_table(core: ModelCore, schema: Any, movies: list[Movie], cache: EmbeddingCache,
                 failures: dict[str, str]) -> tuple[Any, int]:
    """The rows of `movies` -> (pyarrow table, rows with probabilities)."""
    import pyarrow as pa

    shas = [m.poster_sha256 for m in movies]
    missing = set(cache.missing(shas))
    have = [s for s in dict.fromkeys(shas) if s not in missing]
    row_of = {s: i for i, s in enumerate(have)}
    vectors = cache.get(have) if have else np.zeros((0, core.spec.feature_dim), dtype=np.float32)
    probs = core.probabilities(vectors) if have else np.zeros((0, len(core.genres)))
    checks = core.check(vectors) if have else []
    decided = [core.decided_genres(p) for p in probs]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for movie in movies:
        i = row_of.get(movie.poster_sha256)
        columns["imdb_id"].append(movie.imdb_id)
        columns["title"].append(movie.title)
        columns["year"].append(movie.year)
        columns["collections"].append(list(movie.collections))
        columns["poster_sha256"].append(movie.poster_sha256)
        for g, name in enumerate(genre_columns(core.genres)):
            columns[name].append(None if i is None else float(probs[i, g]))
        columns["decided"].append(None if i is None else decided[i])
        columns["is_poster"].append(None if i is None else checks[i]["is_poster"])
        columns["poster_check_score"].append(None if i is None else checks[i]["score"])
        columns["embedding_error"].append(
            None if i is not None else failures.get(movie.poster_sha256, "no cached embedding"))
    return pa.table(columns, schema=schema), len(movies) - sum(1 for m in movies if m.poster_sha256 not in row_of)


def predict_catalog(catalog: Catalog, store: PosterStore, core: ModelCore, out: Path | str, *,
                    model_name: str = "", flt: MovieFilter | None = None, engine: str = "local",
                    ray_options: Any = None, runtime_cache: Path | str | None = None,
                    progress: ProgressFn = no_progress) -> CatalogPredictionSummary:
    """Embed what the selected movies' posters miss (with `engine`), then write their predictions to `out`.

    `engine`: "local" (this process's threads) or "ray" (features.ray_engine, with `ray_options`).
    """
    if engine not in ENGINES:
        raise PosterGenreError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    pq = require_pyarrow()
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise PosterGenreError(f"{out}: the output file must end in .parquet")
    start = time.perf_counter()
    summary = CatalogPredictionSummary(out, swept=sweep_partials(out))
    spec = core.spec
    runtime = core.embedder if isinstance(core.embedder, InferenceRuntime) else "auto"
    if engine == "ray":
        from ..features.ray_engine import RayOptions, embed_catalog_ray

        summary.embed = embed_catalog_ray(catalog, store, spec, options=ray_options or RayOptions(), flt=flt,
                                          progress=progress, runtime=runtime, runtime_cache=runtime_cache)
    else:
        summary.embed = embed_catalog(catalog, store, spec, flt=flt, progress=progress, runtime=runtime,
                                      runtime_cache=runtime_cache)
    movies = sorted((m for m in catalog.movies(flt) if m.poster_status == "ok" and m.poster_sha256),
                    key=lambda m: m.imdb_id)
    schema = _schema(core, model_name)
    task = f"predict {len(core.genres)} genres"
    # The vectors of the runtime that embedded them (an int8 runtime keeps its own, see features/quantize.py).
    # The file appears whole at the end or not at all: atomic_output leaves nothing behind even after kill -9.
    with EmbeddingCache(catalog.path, summary.embed.backbone, summary.embed.preprocess_version) as cache, \
            atomic_output(out) as file, pq.ParquetWriter(file, schema, compression="zstd") as writer:
        failures = cache.failures()
        progress(Progress(task, 0, len(movies)))
        for i in range(0, len(movies), CHUNK_MOVIES):
            chunk = movies[i:i + CHUNK_MOVIES]
            table, predicted = _chunk_table(core, schema, chunk, cache, failures)
            writer.write_table(table)
            summary.movies += len(chunk)
            summary.predicted += predicted
            summary.failed += len(chunk) - predicted
            progress(Progress(task, summary.movies, len(movies), ok=summary.predicted, failed=summary.failed))
        if not movies:
            writer.write_table(schema.empty_table())
    summary.seconds = time.perf_counter() - start
    return summary
