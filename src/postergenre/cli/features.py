"""CLI command: embed (thin wrapper over postergenre.features.embed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..features.embed import DEFAULT_BATCH_SIZE, DEFAULT_RUNTIME, DEFAULT_THREADS, DEFAULT_WORKERS, EmbedSummary
from ..features.registry import DEFAULT_BACKBONE, backbone_names
from ..features.views import ONE_VIEW, views_text
from ..posters.store import PosterStore
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
    paths_for,
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

if TYPE_CHECKING:
    from rich.console import Console

    from ..catalog.filters import MovieFilter
    from ..catalog.store import Catalog

_SHOWN = 10
RUNTIMES_FOLDER = "runtimes"  # under the data folder: exported ONNX graphs, keyed by backbone and versions

_EMBED_HELP = (
    "Compute the feature vectors of stored posters that are not cached yet.\n\n"
    "Vectors are cached in the catalog per poster hash, backbone and preprocessing version; each batch is "
    "committed at once, so an interrupted run loses nothing finished and a rerun continues. Posters that "
    "fail to decode are recorded with their reason and skipped (see --retry-failed).\n\n"
    f"Backbones: {', '.join(f'{n} (default)' if n == DEFAULT_BACKBONE else n for n in backbone_names(plugins=False))}"
    ", and any installed through the postergenre.backbones entry point.\n\n"
    "Runtimes: auto (the default: onnx-int8 where a calibration table ships for the backbone, else onnx, else "
    "torch); onnx-int8 (ONNX Runtime on the graph quantized to int8 with the package's calibration table; "
    "vectors within cosine ~0.999 of fp32, cached apart); onnx (ONNX Runtime fp32 on a graph exported once "
    "per installation, copied into <home>/runtimes for Ray nodes); torch. onnx and torch give the same vectors "
    "(within 1e-4) and share the cache. "
    "train, evaluate and similar read the default runtime's vectors.\n\n"
    "Views: the posters as given by default (what serving and comparable titles read); --views poster,mirror adds "
    "each poster's mirror image, cached under its own key. The default `train` recipe reads both, and `train` and "
    "`evaluate` embed the views they read where the cache misses them, so embedding them here first is optional "
    "(a rerun computes only what is missing)."
)


@app.command("embed", help=_EMBED_HELP)
def embed(
    backbone: Annotated[str, typer.Option("--backbone", help="Backbone name from the registry.")] = DEFAULT_BACKBONE,
    runtime: RuntimeOption = DEFAULT_RUNTIME,
    views: Annotated[
        str, typer.Option("--views", help="Views of each poster to embed: poster (the default) or poster,mirror.")
    ] = views_text(ONE_VIEW),
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1024, help="Posters per forward pass.")
    ] = DEFAULT_BATCH_SIZE,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            max=64,
            help="Batches processed at once, each decoded and run in its own thread "
            "(default: one per core, at most 4).",
        ),
    ] = DEFAULT_WORKERS,
    threads: Annotated[
        int, typer.Option("--threads", min=1, max=256, help="Intra-op threads inside each forward pass.")
    ] = DEFAULT_THREADS,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try again posters that failed to decode before.")
    ] = False,
    engine: EngineOption = "local",
    address: AddressOption = None,
    ray_actors: RayActorsOption = None,
    ray_batch_size: RayBatchSizeOption = DEFAULT_RAY_BATCH_SIZE,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    collection: CollectionOption = None,
    home: HomeOption = None,
) -> None:
    """See _EMBED_HELP."""
    from ..features.embed import embed_catalog
    from ..features.registry import get_backbone
    from ..features.views import parse_views

    options = ray_options(engine, address, ray_actors, ray_batch_size)
    chosen = parse_views(views)
    spec = get_backbone(backbone)
    paths = paths_for(home)
    flt = movie_filter(home, rating, year_min, year_max, collection, require_poster=True)
    if engine == "ray":  # Ray Data; --batch-size, --workers and --threads are the local engine's
        from ..features.ray_engine import embed_catalog_ray, require_ray

        require_ray()
        with open_catalog(home) as catalog, progress_display() as show:
            summary = embed_catalog_ray(
                catalog,
                PosterStore(paths.posters),
                spec,
                options=options,
                flt=flt,
                retry_failed=retry_failed,
                progress=show,
                runtime=runtime,
                runtime_cache=paths.home / RUNTIMES_FOLDER,
                views=chosen,
            )
    else:
        with open_catalog(home) as catalog, progress_display() as show:
            summary = embed_catalog(
                catalog,
                PosterStore(paths.posters),
                spec,
                batch_size=batch_size,
                workers=workers,
                threads=threads,
                flt=flt,
                retry_failed=retry_failed,
                progress=show,
                runtime=runtime,
                runtime_cache=paths.home / RUNTIMES_FOLDER,
                views=chosen,
            )
    _print_summary(spec.name, summary)


def _print_summary(name: str, summary: EmbedSummary, out: Console = console) -> None:
    """What embed did: counts and speed, then the first failures' reasons."""
    rate = f" in {summary.seconds:.0f} s ({summary.rate:.1f} posters/s, {summary.runtime})" if summary.embedded else ""
    out.print(
        f"{name} ({' + '.join(summary.views)}): embedded [green]{summary.embedded}[/green]{rate}, "
        f"already cached {summary.cached_before}, "
        f"failed [red]{summary.failed}[/red], skipped (failed before) {summary.failed_before} "
        f"of {summary.posters} distinct posters",
        highlight=False,
    )
    for reason in list(summary.failures.values())[:_SHOWN]:
        out.print(f"  {reason}", highlight=False, markup=False)
    if len(summary.failures) > _SHOWN:
        out.print(f"  … and {len(summary.failures) - _SHOWN} more")


def embed_first(catalog: Catalog, home: Path | None, flt: MovieFilter | None, backbone: str | None, views: Any) -> None:
    """Before `train` or `evaluate`: embed the views their selection reads where the cache misses them, with
    progress and a line on stderr when there was anything to do (their stdout carries their tables)."""
    from ..labelled.datasets import embed_selection

    paths = paths_for(home)
    with progress_display() as show:
        summary = embed_selection(
            catalog,
            PosterStore(paths.posters),
            flt=flt,
            backbone=backbone,
            views=views,
            runtime_cache=paths.home / RUNTIMES_FOLDER,
            progress=show,
        )
    if summary.embedded or summary.failed:
        _print_summary(backbone or DEFAULT_BACKBONE, summary, err_console)
