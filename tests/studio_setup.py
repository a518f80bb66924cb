"""A small real studio set-up for the evaluation tests: general posters (the small_home fixture) plus studio films
from the studio export (their real posters embedded, their real plots), a general poster head trained on the
general films, and studio extensions fitted on the studio films as `train` does."""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

STUDIO_WITH_POSTER = 120  # studio films with a local poster (real posters, embedded here)
STUDIO_WITHOUT_POSTER = 700  # studio rows whose poster is not on disk, as in real life: they train the synopsis head


@dataclass
class StudioSetup:
    home: Path
    studio_model: Path  # general head + head_config["studio"] + metrics["studio"]
    poster_model: Path  # the same general head alone (a poster-only model, like the bundled one)
    studio_ids: list[str]  # studio films with an embedded poster


def _studio_subset(shared_data: Path, folder: Path) -> tuple[Path, Path, list[str]]:
    """A subset of the studio export (same columns) and a folder of symlinks to its local posters."""
    source = shared_data / "studio-catalog" / "imdb_api_export.csv"
    if not source.is_file():
        pytest.skip(f"studio export not found at {source}")
    posters = source.parent / "posters"
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    with_poster = [r for r in rows if (posters / f"{r['id']}.jpg").is_file()][::5][:STUDIO_WITH_POSTER]
    without = [r for r in rows if not (posters / f"{r['id']}.jpg").is_file()][:STUDIO_WITHOUT_POSTER]
    folder.mkdir(parents=True)
    (folder / "posters").mkdir()
    for r in with_poster:
        (folder / "posters" / f"{r['id']}.jpg").symlink_to(posters / f"{r['id']}.jpg")
    out = folder / "studio.csv"
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(with_poster + without)
    return out, folder / "posters", [r["id"] for r in with_poster]


@pytest.fixture(scope="session")
def studio_setup(small_home: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> StudioSetup:
    from postergenre.catalog.filters import MovieFilter
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.embed import embed_catalog
    from postergenre.features.registry import get_backbone
    from postergenre.labelled.datasets import assemble_dataset
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore
    from postergenre.render.model_card import model_card
    from postergenre.training.options import TrainOptions
    from postergenre.training.train import train

    root = tmp_path_factory.mktemp("studio_eval")
    home = root / "home"
    shutil.copytree(small_home, home, symlinks=True)
    csv_path, poster_dir, ids = _studio_subset(shared_data, root / "source")
    paths = get_paths(home)
    read = read_catalog(csv_path)
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(read.records, collection="studio", source=str(csv_path), fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), poster_dir)
        summary = embed_catalog(catalog, PosterStore(paths.posters), get_backbone(), threads=1)
        assert summary.complete and summary.failed == 0, summary
        # The general head: general films only (so its studio predictions are out-of-sample, as in training).
        opts = TrainOptions(head="logreg", folds=3, min_examples=5, bootstrap=30, threads=1, params={"l2": [3e-3]})
        general = assemble_dataset(
            catalog, flt=MovieFilter(collections=frozenset({"general"})), min_examples=opts.min_examples
        )
        trained = train(general, opts)
        artifact = trained.artifact
        # The studio model exactly as `postergenre train` makes it (general head + studio extensions).
        everything = assemble_dataset(catalog, min_examples=opts.min_examples)
        movies = catalog.movies()
    poster_model = root / "poster-model"
    artifact.save(poster_model, card=model_card(artifact.metadata()))
    result = train(everything, opts, movies=movies)
    assert result.studio is not None and result.artifact.head_config["studio"]["synopsis"]["n_texts"] > 0
    studio_model = root / "studio-model"
    result.artifact.save(studio_model, card=model_card(result.artifact.metadata()))
    return StudioSetup(home, studio_model, poster_model, ids)
