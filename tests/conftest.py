"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from sampling import spread

# Shared fixtures: studio_setup (evaluation, training, model tests), browser (service and render tests), the bundled
# model with a few posters and the in-process CLI runner (predict and cli tests).
pytest_plugins = ["studio_setup", "chromium", "bundled_model"]

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSTERGENRE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real posters + movies.csv; tests read its counts, never assume them), or skip."""
    if not (SHARED_DATA / "movies.csv").is_file():
        pytest.skip(f"shared poster data not found at {SHARED_DATA} (set POSTERGENRE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_rows(shared_data: Path) -> list[dict]:
    with open(shared_data / "movies.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def poster_files(shared_data: Path, shared_rows: list[dict]) -> list[Path]:
    """Eight real poster files spread over the shared data."""
    files = [shared_data / row["poster"] for row in spread(shared_rows, 40)]
    files = [f for f in files if f.is_file()][:8]
    assert len(files) == 8
    return files


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh POSTERGENRE_HOME for one test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("POSTERGENRE_HOME", str(folder))
    return folder


def build_poster_home(folder: Path, rows: list[dict], shared_data: Path) -> Path:
    """A data folder with `rows` of movies.csv imported and their shared posters attached (not embedded).

    The subset CSV uses absolute poster paths, and the poster folder holds symlinks, so nothing is copied
    except into the home's own poster store.
    """
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore

    source = folder / "source"
    (source / "posters").mkdir(parents=True)
    with open(source / "movies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            poster = shared_data / row["poster"]
            (source / "posters" / poster.name).symlink_to(poster)
            writer.writerow({**row, "poster": str(poster)})
    paths = get_paths(folder / "home").ensure()
    read = read_catalog(source / "movies.csv")
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(read.records, source=str(source / "movies.csv"), fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), source / "posters")
    return paths.home


@pytest.fixture(scope="session")
def make_poster_home(shared_data: Path):
    """`make_poster_home(folder, rows)`: see build_poster_home."""
    return lambda folder, rows: build_poster_home(Path(folder), rows, shared_data)


SMALL_HOME_MOVIES = 164


@pytest.fixture(scope="session")
def small_home(shared_data: Path, shared_rows: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with SMALL_HOME_MOVIES shared movies (spread over movies.csv) imported, attached and embedded with
    the default backbone. Session-wide and shared: tests must not write to it (copy it first)."""
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.embed import embed_catalog
    from postergenre.features.registry import get_backbone
    from postergenre.posters.store import PosterStore

    home = build_poster_home(tmp_path_factory.mktemp("small_home"), spread(shared_rows, SMALL_HOME_MOVIES), shared_data)
    paths = get_paths(home)
    with Catalog(paths.db) as catalog:
        summary = embed_catalog(catalog, PosterStore(paths.posters), get_backbone())
    assert summary.complete and summary.failed == 0, summary
    return home


STUDIO_POSTERS = 60  # studio films with a poster in `studio_home`: enough for comparable titles in every group


@pytest.fixture(scope="session")
def studio_home(small_home: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`small_home` copied, plus the studio's catalog (ratings, plots) with STUDIO_POSTERS of its posters attached
    and embedded: a home like the README's, small. Session-wide and shared: tests must not write to it."""
    import shutil

    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.embed import embed_catalog
    from postergenre.features.registry import get_backbone
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore

    folder = tmp_path_factory.mktemp("studio_home")
    home = folder / "home"
    shutil.copytree(small_home, home)
    studio = shared_data / "studio-catalog"
    chosen = folder / "studio-posters"
    chosen.mkdir()
    for poster in sorted((studio / "posters").glob("tt*.jpg"))[:STUDIO_POSTERS]:
        (chosen / poster.name).symlink_to(poster)
    paths = get_paths(home)
    read = read_catalog(studio / "imdb_api_export.csv")
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(
            read.records, collection="studio", source=str(studio / "imdb_api_export.csv"), fmt=read.fmt
        )
        attach_folder(catalog, PosterStore(paths.posters), chosen)
        summary = embed_catalog(catalog, PosterStore(paths.posters), get_backbone())
    assert summary.complete and summary.failed == 0, summary
    return home


# -- the fast subset (`make test-fast` = pytest -m "not slow"; `make test` and CI run everything) ----------------
_SLOW_FIXTURES = {"small_home", "studio_home", "studio_setup", "home_copy", "make_poster_home"}
"""Fixtures that embed a catalog, train a model or build a data folder: every test using one is slow."""
_SLOW_PATHS = (
    "tests/scale/",
    "tests/posters/test_faults_attach.py",
    "tests/model/test_faults_model_overwrite.py",
    "tests/service/test_browser.py",
    "tests/service/test_fuzz.py",
    "tests/service/test_abuse.py",
    "tests/cli/test_cli_service.py",
)
"""Whole modules that start Ray clusters, browsers, fuzzers or server processes."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath)).resolve().relative_to(REPO).as_posix()
        if _SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())) or path.startswith(_SLOW_PATHS):
            item.add_marker(pytest.mark.slow)
