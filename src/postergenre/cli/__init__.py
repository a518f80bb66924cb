"""The `postergenre` command: thin Typer commands over the library layers."""

from __future__ import annotations

import importlib

from ._app import app, main

# Each interface module registers its commands on `app`; the list is the command set.
for _module in ("catalog", "posters", "features", "scale", "model", "predict", "brief", "campaign", "team",
                "service"):
    importlib.import_module(f"{__name__}.{_module}")

__all__ = ["app", "main"]
