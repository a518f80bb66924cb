"""Shared by the benchmark scripts: a deterministic sample of the shared catalog, and a temporary data folder
holding it (imported and attached the way `postergenre catalog import` and `posters attach` do)."""

from __future__ import annotations

import csv
from pathlib import Path


def spread_rows(data: Path, n: int, *, with_genres: bool = False) -> list[dict]:
    """`n` rows of `data`/movies.csv spread evenly over the file (deterministic); `with_genres`: only rows with a
    poster and genres."""
    with open(data / "movies.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not with_genres or (r["poster"] and r["genres"])]
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def make_home(root: Path, rows: list[dict], data: Path) -> Path:
    """A data folder under `root` with `rows` imported and their posters (symlinked) attached -> its path."""
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore

    source = root / "source" / "posters"
    source.mkdir(parents=True)
    with open(root / "source" / "movies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            poster = data / row["poster"]
            (source / poster.name).symlink_to(poster)
            writer.writerow({**row, "poster": str(poster)})
    paths = get_paths(root / "home").ensure()
    read = read_catalog(root / "source" / "movies.csv")
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(read.records, source="benchmark", fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), source)
    return paths.home
