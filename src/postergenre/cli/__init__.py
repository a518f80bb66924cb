"""The `postergenre` command: thin Typer commands over the library layers.

Each interface module registers its commands on the Typer app. `main` (the installed script) imports only the
module of the command it runs, so `postergenre predict` never loads what `embed`, `serve` or `catalog import` need
(issue 26: the warm answer's start-up); `app` (help, tests, `CliRunner`) has every command.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

# The command set: each top-level command (or group) and the module that registers it, in --help's order.
COMMAND_MODULES: dict[str, str] = {
    "catalog": "catalog",
    "report": "catalog",
    "posters": "posters",
    "embed": "features",
    "predict-catalog": "scale",
    "train": "model",
    "evaluate": "model",
    "predict": "predict",
    "similar": "predict",
    "compare": "predict",
    "brief": "brief",
    "campaign": "campaign",
    "team": "team",
    "serve": "service",
}


ONE_POSTER_BLAS = frozenset({"predict", "compare"})
"""Commands whose matrix products are a few posters' (the head, the poster check): OpenBLAS's worker threads cost
~23 ms of CPU to start with numpy and never get work there, so these run on one BLAS thread unless
OPENBLAS_NUM_THREADS says otherwise (golden outputs identical with one). Catalog-wide ones (similar, train) keep
them."""


def register(command: str | None = None) -> Any:
    """The Typer app with `command`'s module imported (every module when `command` is None or unknown)."""
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for module in modules:
        importlib.import_module(f"{__name__}.{module}")
    from ._app import app

    return app


def main() -> None:
    """Entry point: registers the command named on the command line (the first word that is not an option; the
    root takes no option with a value), then runs it."""
    command = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), None)
    if command in ONE_POSTER_BLAS:  # before numpy is imported
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from . import _app

    register(command)
    _app.main()


def __getattr__(name: str) -> Any:
    if name == "app":
        return register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["COMMAND_MODULES", "ONE_POSTER_BLAS", "app", "main", "register"]
