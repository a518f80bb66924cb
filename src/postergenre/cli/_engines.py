"""The batch-engine options shared by embed and predict-catalog: --engine local|ray, --address, --ray-*."""

from __future__ import annotations

from typing import Annotated

import typer

from ..features.ray_engine import DEFAULT_RAY_BATCH_SIZE

__all__ = [
    "DEFAULT_RAY_BATCH_SIZE",
    "ENGINES",
    "AddressOption",
    "EngineOption",
    "RayActorsOption",
    "RayBatchSizeOption",
    "ray_options",
]

ENGINES = ("local", "ray")


def _check_engine(value: str) -> str:
    if value not in ENGINES:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(ENGINES)}")
    return value


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        callback=_check_engine,
        help="Batch engine: local (this machine's threads) or ray (Ray Data on a local cluster or the one at "
        "--address; needs the ray extra, see the README).",
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address", help="With --engine ray: the cluster to use, e.g. HEAD:6379 or auto (default: start a local one)."
    ),
]
RayActorsOption = Annotated[
    int | None,
    typer.Option(
        "--ray-actors",
        min=1,
        max=10_000,
        help="With --engine ray: actors embedding at once, one CPU each (default: one per CPU of the cluster, "
        "less one for the driver from 4 CPUs up).",
    ),
]
RayBatchSizeOption = Annotated[
    int,
    typer.Option(
        "--ray-batch-size",
        min=1,
        max=100_000,
        help="With --engine ray: posters per Ray batch, each merged into the cache in one transaction.",
    ),
]


def ray_options(engine: str, address: str | None, actors: int | None, batch_size: int):
    """The RayOptions of the engine options; Ray-only options without --engine ray are a usage error."""
    from ..features.ray_engine import RayOptions

    if engine != "ray" and (address is not None or actors is not None or batch_size != DEFAULT_RAY_BATCH_SIZE):
        raise typer.BadParameter("--address, --ray-actors and --ray-batch-size need --engine ray")
    return RayOptions(address=address, actors=actors, batch_size=batch_size)
