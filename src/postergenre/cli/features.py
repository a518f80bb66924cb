"""CLI command: embed (thin wrapper over postergenre.features.embed)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from ..posters.store import PosterStore
from ._app import (HomeOption, RatingOption, YearMaxOption, YearMinOption, app, console, movie_filter, open_catalog,
                   paths_for)

_SHOWN = 10
# Mirrors of the library defaults, kept here so `--help` does not import torch.
DEFAULT_BACKBONE = "efficientnet-lite0"
DEFAULT_BATCH_SIZE = 4
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
DEFAULT_THREADS = 1

_EMBED_HELP = (
    "Compute the feature vectors of stored posters that are not cached yet.\n\n"
    "Vectors are cached in the catalog per poster hash, backbone and preprocessing version; each batch is "
    "committed at once, so an interrupted run loses nothing finished and a rerun continues. Posters that "
    "fail to decode are recorded with their reason and skipped (see --retry-failed).\n\n"
    "Backbones: efficientnet-lite0 (default), efficientnet-lite1, efficientnet-lite2."
)


@app.command("embed", help=_EMBED_HELP)
def embed(
    backbone: Annotated[str, typer.Option("--backbone", help="Backbone name from the registry.")] = DEFAULT_BACKBONE,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1024, help="Posters per forward pass.")] = DEFAULT_BATCH_SIZE,
    workers: Annotated[int, typer.Option("--workers", min=0, max=64,
                                         help="Batches processed at once, each decoded and run in its own thread "
                                              "(default: one per core, at most 4).")] = DEFAULT_WORKERS,
    threads: Annotated[int, typer.Option("--threads", min=1, max=256,
                                         help="Torch threads inside each forward pass.")] = DEFAULT_THREADS,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Try again posters that failed to decode before.")] = False,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    home: HomeOption = None,
) -> None:
    """See _EMBED_HELP."""
    from ..features.backbones import get_backbone
    from ..features.embed import embed_catalog

    spec = get_backbone(backbone)
    paths = paths_for(home)
    flt = movie_filter(rating, year_min, year_max, require_poster=True)
    with open_catalog(home) as catalog:
        summary = embed_catalog(catalog, PosterStore(paths.posters), spec, batch_size=batch_size, workers=workers,
                                threads=threads, flt=flt, retry_failed=retry_failed, progress=True)
    rate = f" in {summary.seconds:.0f} s ({summary.rate:.1f} posters/s)" if summary.embedded else ""
    console.print(
        f"{spec.name}: embedded [green]{summary.embedded}[/green]{rate}, already cached {summary.cached_before}, "
        f"failed [red]{summary.failed}[/red], skipped (failed before) {summary.failed_before} "
        f"of {summary.posters} distinct posters",
        highlight=False,
    )
    for reason in list(summary.failures.values())[:_SHOWN]:
        console.print(f"  {reason}", highlight=False, markup=False)
    if len(summary.failures) > _SHOWN:
        console.print(f"  … and {len(summary.failures) - _SHOWN} more")
