"""CLI command: predict-catalog (Parquet of every catalog poster's genres; local or Ray Data engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    CollectionOption,
    HomeOption,
    RatingOption,
    RuntimeOption,
    YearMaxOption,
    YearMinOption,
    app,
    console,
    err_console,
    movie_filter,
    open_catalog,
    output_file,
    paths_for,
    shown,
)
from ._engines import (
    DEFAULT_RAY_BATCH_SIZE,
    AddressOption,
    EngineOption,
    RayActorsOption,
    RayBatchSizeOption,
    ray_options,
)
from ._progress import progress_display


@app.command("predict-catalog")
def predict_catalog(
    out: Annotated[
        Path, typer.Option("--out", callback=output_file, help="Parquet file to write (replaced atomically).")
    ],
    model: Annotated[Path | None, typer.Option("--model", help="Model folder (default: the bundled model).")] = None,
    engine: EngineOption = "local",
    address: AddressOption = None,
    ray_actors: RayActorsOption = None,
    ray_batch_size: RayBatchSizeOption = DEFAULT_RAY_BATCH_SIZE,
    runtime: RuntimeOption = "auto",
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    collection: CollectionOption = None,
    home: HomeOption = None,
) -> None:
    """Every catalog film read the way `predict` reads it (poster, plot, or both), as one Parquet file.

    One row per movie with a poster or a plot: imdb_id, title, year, collections, poster_sha256, signal (poster,
    synopsis or poster+synopsis), prob_<Genre> (that reading), poster_prob_<Genre> and synopsis_prob_<Genre> (each
    signal alone), decided, reads_as, is_poster, poster_check_score, embedding_error. Posters without a cached
    embedding are embedded first with the chosen engine (resumable, like `postergenre embed`); the genres are read
    in this process, so both engines write the same numbers.
    """
    from ..model.artifact import DEFAULT_MODEL_DIR
    from ..posters.store import PosterStore
    from ..predict.catalog_predictions import predict_catalog as run, require_pyarrow
    from ..predict.core import ModelCore
    from .features import RUNTIMES_FOLDER

    options = ray_options(engine, address, ray_actors, ray_batch_size)
    if engine == "ray":
        from ..features.ray_engine import require_ray

        require_ray()
    require_pyarrow()
    paths = paths_for(home)
    cache = paths.home / RUNTIMES_FOLDER
    core = ModelCore.load(model, runtime=runtime, runtime_cache=cache)
    flt = movie_filter(home, rating, year_min, year_max, collection)
    with open_catalog(home) as catalog, progress_display() as show:
        summary = run(
            catalog,
            PosterStore(paths.posters),
            core,
            out,
            model_name=str(model or DEFAULT_MODEL_DIR),
            flt=flt,
            engine=engine,
            ray_options=options,
            runtime_cache=cache,
            progress=show,
        )
    if summary.swept:  # the run removes them on start; said here, on stderr
        n = len(summary.swept)
        err_console.print(
            f"removed {n} temporary file{'s' if n > 1 else ''} left by an interrupted run beside {shown(out)}",
            highlight=False,
            soft_wrap=True,
        )
    embedded = summary.embed.embedded if summary.embed else 0
    signals = ", ".join(f"{n} {signal}" for signal, n in sorted(summary.signals.items()))
    console.print(
        f"{out}: {summary.movies} movies ({summary.predicted} read: {signals or 'none'}; "
        f"[red]{summary.failed}[/red] posters without an embedding; {embedded} posters embedded first with "
        f"the {engine} engine) in {summary.seconds:.0f} s",
        highlight=False,
    )
