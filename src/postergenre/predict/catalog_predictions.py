"""Every catalog film read the way `predict` reads it, as one Parquet file (for BI tools).

    selected movies ─► embed the views the model reads that the cache misses (local engine or Ray Data)
                    ─► cached vectors of each view, in chunks
                    ─► ModelCore.read_embeddings (poster, + its plot when it has one) / read_synopsis (plot only)
                    ─► Parquet rows, written chunk by chunk

One row per selected movie with a poster or a plot (movies sharing a poster each get their row): imdb_id, title,
year, collections, poster_sha256, `signal` (the reading of the row: "poster", "synopsis" or "poster+synopsis", as
`predict` names it; null when the poster could not be embedded and there is no plot), one `prob_<Genre>` column per
genre with that reading's probabilities (float64, the Predictor's numbers), `poster_prob_<Genre>` (the poster alone)
and `synopsis_prob_<Genre>` (the plot alone) beside it, `decided` (genres, most probable first, with the thresholds
of the row's signal), `reads_as`, `is_poster` and `poster_check_score`, and `embedding_error` (null, or why the
poster could not be embedded: the row then holds the plot's reading, or no genres without a plot). A model without
a synopsis head reads posters only. The prediction runs in this process whatever engine embedded the posters, so
the local and Ray engines write the same numbers. The file's schema metadata `postergenre` (JSON) names the model,
backbone, runtime, the views read, genres and thresholds.
The file is written to an anonymous temporary and renamed, so a reader never sees half a table and an
interrupted run (even kill -9) leaves nothing beside it.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..catalog.filters import MovieFilter
from ..catalog.records import Movie
from ..catalog.store import Catalog
from ..errors import PosterGenreError
from ..features.cache import ViewCaches
from ..features.embed import EmbedSummary, embed_catalog
from ..features.runtime import InferenceRuntime
from ..files import atomic_output, sweep_partials
from ..posters.store import PosterStore
from ..progress import Progress, ProgressFn, no_progress
from .core import ModelCore
from .results import GenreReading

ENGINES = ("local", "ray")
CHUNK_MOVIES = 4096  # movies per read-predict-write step: ~47 MB of lite0 vectors in memory at a time
PROB_PREFIX = "prob_"
SIGNAL_PREFIXES = {"poster": "poster_prob_", "synopsis": "synopsis_prob_"}
"""Columns of each signal alone, beside the reading's `prob_` columns."""
METADATA_KEY = b"postergenre"


@dataclass
class CatalogPredictionSummary:
    out: Path
    movies: int = 0  # rows written: selected movies with a stored poster or a plot
    predicted: int = 0  # rows with probabilities
    failed: int = 0  # rows whose poster could not be embedded (read from the plot alone where there is one)
    signals: dict[str, int] = field(default_factory=dict)  # rows per reading: poster, synopsis, poster+synopsis
    seconds: float = 0.0
    embed: EmbedSummary | None = None
    swept: list[Path] = field(default_factory=list)  # temporaries of an interrupted earlier run, removed on start


def require_pyarrow() -> ModuleType:
    """`pyarrow.parquet`, or a PosterGenreError saying how to install it."""
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise PosterGenreError(
            f"writing Parquet needs pyarrow, which is not installed ({exc}); install it with "
            "pip install pyarrow, or the Ray extra that brings it: pip install '.[ray]'"
        ) from exc


def genre_columns(genres: list[str], prefix: str = PROB_PREFIX) -> list[str]:
    return [f"{prefix}{g}" for g in genres]


def _schema(core: ModelCore, model_name: str) -> Any:
    import pyarrow as pa

    fields = [
        pa.field("imdb_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("year", pa.int32()),
        pa.field("collections", pa.list_(pa.string())),
        pa.field("poster_sha256", pa.string()),
        pa.field("signal", pa.string()),
    ]
    for prefix in (PROB_PREFIX, *SIGNAL_PREFIXES.values()):
        fields += [pa.field(c, pa.float64()) for c in genre_columns(core.genres, prefix)]
    fields += [
        pa.field("decided", pa.list_(pa.string())),
        pa.field("reads_as", pa.list_(pa.string())),
        pa.field("is_poster", pa.bool_()),
        pa.field("poster_check_score", pa.float64()),
        pa.field("embedding_error", pa.string()),
    ]
    meta = {
        "model": model_name,
        "backbone": core.spec.name,
        "preprocess_version": core.spec.preprocess_version,
        "runtime": core.runtime_name,
        "views": list(core.views),
        "genres": core.genres,
        "thresholds": {g: float(t) for g, t in zip(core.genres, core.thresholds, strict=True)},
    }
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})


def _readings(core: ModelCore, movies: list[Movie], cache: ViewCaches) -> list[GenreReading | None]:
    """Each movie's reading, as `predict` makes it: its poster's cached vectors (one per view the model reads) with
    its plot when the model reads plots, the plot alone when the poster misses a vector, None with neither."""
    plots = [m.plot if core.has_synopsis and m.plot and m.plot.strip() else None for m in movies]
    shas = [_poster(m) for m in movies]
    missing = set(cache.missing([s for s in shas if s]))
    embedded = {i: s for i, s in enumerate(shas) if s and s not in missing}  # movie row -> poster with a vector
    posters = list(embedded)
    readings: list[GenreReading | None] = [None] * len(movies)
    if posters:
        unique = list(dict.fromkeys(embedded.values()))
        vectors = cache.get(unique)
        row = {s: j for j, s in enumerate(unique)}
        read = core.read_embeddings(vectors[[row[embedded[i]] for i in posters]], [plots[i] for i in posters])
        for i, reading in zip(posters, read, strict=True):
            readings[i] = reading
    story_only = {i: plot for i, plot in enumerate(plots) if readings[i] is None and plot}  # movie row -> its plot
    if story_only:
        for i, reading in zip(story_only, core.read_synopsis(list(story_only.values())), strict=True):
            readings[i] = reading
    return readings


def _chunk_table(
    core: ModelCore, schema: Any, movies: list[Movie], cache: ViewCaches, failures: dict[str, str]
) -> tuple[Any, list[GenreReading | None]]:
    """The rows of `movies` -> (pyarrow table, each row's reading or None)."""
    import pyarrow as pa

    readings = _readings(core, movies, cache)
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    signal_columns = {
        "": genre_columns(core.genres),
        **{s: genre_columns(core.genres, p) for s, p in SIGNAL_PREFIXES.items()},
    }
    for movie, reading in zip(movies, readings, strict=True):
        columns["imdb_id"].append(movie.imdb_id)
        columns["title"].append(movie.title)
        columns["year"].append(movie.year)
        columns["collections"].append(list(movie.collections))
        columns["poster_sha256"].append(movie.poster_sha256)
        columns["signal"].append(reading.signal if reading else None)
        probs = _signal_probabilities(reading)
        for signal, names in signal_columns.items():
            values = probs.get(signal) or {}
            for genre, name in zip(core.genres, names, strict=True):
                columns[name].append(values.get(genre))
        columns["decided"].append(list(reading.decided) if reading else None)
        columns["reads_as"].append(list(reading.summary["reads_as"]) if reading else None)
        check = reading.poster_check if reading else {}
        columns["is_poster"].append(check.get("is_poster"))
        columns["poster_check_score"].append(check.get("score"))
        embedded = reading is not None and reading.signal != "synopsis"
        sha = _poster(movie)
        columns["embedding_error"].append(None if embedded or not sha else failures.get(sha, "no cached embedding"))
    return pa.table(columns, schema=schema), readings


def _poster(movie: Movie) -> str | None:
    """The sha256 of the movie's stored poster, None without one."""
    return movie.poster_sha256 if movie.poster_status == "ok" and movie.poster_sha256 else None


def _signal_probabilities(reading: GenreReading | None) -> dict[str, dict[str, float] | None]:
    """{"": the reading's probabilities, "poster": the poster alone, "synopsis": the plot alone} (None: no such
    signal in this reading)."""
    if reading is None:
        return {}
    alone = {"poster": reading.poster_probabilities, "synopsis": reading.synopsis_probabilities}
    if reading.signal in alone and alone[reading.signal] is None:  # a single signal is its own reading
        alone[reading.signal] = reading.probabilities
    return {"": reading.probabilities, **alone}


def predict_catalog(
    catalog: Catalog,
    store: PosterStore,
    core: ModelCore,
    out: Path | str,
    *,
    model_name: str = "",
    flt: MovieFilter | None = None,
    engine: str = "local",
    ray_options: Any = None,
    runtime_cache: Path | str | None = None,
    progress: ProgressFn = no_progress,
) -> CatalogPredictionSummary:
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
    summary.embed = _embed_missing(catalog, store, core, flt, engine, ray_options, runtime_cache, progress)
    movies = sorted(
        (m for m in catalog.movies(flt) if _poster(m) or (core.has_synopsis and m.plot and m.plot.strip())),
        key=lambda m: m.imdb_id,
    )
    schema = _schema(core, model_name)
    task = f"read {len(core.genres)} genres"
    # The vectors of the runtime that embedded them (an int8 runtime keeps its own, see features/quantize.py).
    # The file appears whole at the end or not at all: atomic_output leaves nothing behind even after kill -9.
    key = (summary.embed.backbone, summary.embed.preprocess_version)
    with (
        ViewCaches(catalog.path, key, core.views) as cache,
        atomic_output(out) as file,
        pq.ParquetWriter(file, schema, compression="zstd") as writer,
    ):
        failures = cache.failures()
        progress(Progress(task, 0, len(movies)))
        for i in range(0, len(movies), CHUNK_MOVIES):
            chunk = movies[i : i + CHUNK_MOVIES]
            table, readings = _chunk_table(core, schema, chunk, cache, failures)
            writer.write_table(table)
            summary.movies += len(chunk)
            summary.predicted += sum(r is not None for r in readings)
            summary.failed += sum(
                1 for m, r in zip(chunk, readings, strict=True) if _poster(m) and (r is None or r.signal == "synopsis")
            )
            for r in readings:
                if r is not None:
                    summary.signals[r.signal] = summary.signals.get(r.signal, 0) + 1
            progress(Progress(task, summary.movies, len(movies), ok=summary.predicted, failed=summary.failed))
        if not movies:
            writer.write_table(schema.empty_table())
    summary.seconds = time.perf_counter() - start
    return summary


def _embed_missing(
    catalog: Catalog,
    store: PosterStore,
    core: ModelCore,
    flt: MovieFilter | None,
    engine: str,
    ray_options: Any,
    runtime_cache: Path | str | None,
    progress: ProgressFn,
) -> EmbedSummary:
    """Embed the model's views of the selected posters that the cache misses, with `engine`."""
    spec = core.spec
    runtime = core.embedder if isinstance(core.embedder, InferenceRuntime) else "auto"
    if engine == "ray":
        from ..features.ray_engine import RayOptions, embed_catalog_ray

        return embed_catalog_ray(
            catalog,
            store,
            spec,
            options=ray_options or RayOptions(),
            flt=flt,
            progress=progress,
            runtime=runtime,
            runtime_cache=runtime_cache,
            views=core.views,
        )
    return embed_catalog(
        catalog,
        store,
        spec,
        flt=flt,
        progress=progress,
        runtime=runtime,
        runtime_cache=runtime_cache,
        views=core.views,
    )
