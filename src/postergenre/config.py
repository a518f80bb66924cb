"""Where postergenre keeps its data: one folder, overridable by POSTERGENRE_HOME."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir

HOME_ENV = "POSTERGENRE_HOME"


@dataclass(frozen=True)
class Paths:
    """Every file location derives from `home`, so one variable moves everything."""

    home: Path

    @property
    def db(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def posters(self) -> Path:
        return self.home / "posters"

    @property
    def campaign_posters(self) -> Path:
        """The team's campaign posters: confidential, kept apart from the catalog's store (never embedded or
        trained on unless someone adds them to the catalog on purpose)."""
        return self.home / "campaigns" / "posters"

    @property
    def models(self) -> Path:
        return self.home / "models"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    def ensure(self) -> Paths:
        from .files import make_folder  # a file in the way is one clear line (OutputPathError), not a traceback

        for folder in (self.home, self.posters, self.models, self.reports):
            make_folder(folder)
        return self


def get_paths(home: Path | str | None = None) -> Paths:
    """`home` argument, else $POSTERGENRE_HOME, else the per-user data folder."""
    chosen = home or os.environ.get(HOME_ENV) or user_data_dir("postergenre", appauthor=False)
    return Paths(Path(chosen).expanduser().resolve())
