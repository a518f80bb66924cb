"""`attach_folder` and `postergenre posters attach` on a folder of real shared posters plus junk."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.posters.attach import attach_folder, imdb_id_from_name
from postergenre.posters.store import PosterStore

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
WIDE = {**os.environ, "COLUMNS": "200"}  # rich wraps at the terminal width; keep summary lines whole
GOOD = ["tt0000003", "tt0000008", "tt0000012", "tt0000439"]


@pytest.fixture()
def poster_folder(tmp_path: Path, shared_data: Path) -> Path:
    folder = tmp_path / "incoming"
    folder.mkdir()
    for imdb_id in GOOD[:3]:
        shutil.copy(shared_data / "posters" / f"{imdb_id}.jpg", folder / f"{imdb_id}.jpg")
    shutil.copy(shared_data / "posters" / f"{GOOD[3]}.jpg", folder / "TT439.JPEG")  # short id, odd case
    (folder / "tt0000099.jpg").write_bytes(b"<html>not a poster</html>")  # junk, but in the catalog
    data = (shared_data / "posters" / "tt0000003.jpg").read_bytes()
    (folder / "tt0000098.png").write_bytes(data[: len(data) // 3])  # truncated
    shutil.copy(shared_data / "posters" / "tt0000003.jpg", folder / "tt7777777.webp")  # not in catalog
    shutil.copy(shared_data / "posters" / "tt0000003.jpg", folder / "cover.jpg")  # no id in name
    (folder / "notes.txt").write_text("ignored: not a poster extension")
    return folder


def _catalog(db: Path) -> Catalog:
    catalog = Catalog(db)
    ids = GOOD + ["tt0000099", "tt0000098"]
    catalog.upsert_movies([MovieRecord(i, title=f"movie {i}", genres=("Drama",)) for i in ids])
    return catalog


def test_imdb_id_from_name() -> None:
    assert imdb_id_from_name(Path("tt0114709.jpg")) == "tt0114709"
    assert imdb_id_from_name(Path("TT114709.png")) == "tt0114709"
    assert imdb_id_from_name(Path("tt12345678.jpg")) == "tt12345678"
    assert imdb_id_from_name(Path("poster-tt0114709.jpg")) is None


def test_attach_folder(tmp_path: Path, poster_folder: Path, shared_data: Path) -> None:
    store = PosterStore(tmp_path / "store")
    with _catalog(tmp_path / "c.sqlite") as catalog:
        summary = attach_folder(catalog, store, poster_folder)
        assert (summary.scanned, summary.attached, summary.failed) == (8, 4, 2)
        assert (summary.not_in_catalog, summary.bad_names, summary.unchanged) == (1, 1, 0)
        assert summary.unknown_ids == ["tt7777777.webp"] and summary.ignored_names == ["cover.jpg"]
        for imdb_id in GOOD:
            movie = catalog.get_movie(imdb_id)
            assert movie.poster_status == "ok"
            with Image.open(shared_data / "posters" / f"{imdb_id}.jpg") as original:
                assert (movie.poster_width, movie.poster_height) == original.size
            assert store.read(movie.poster_sha256) == (shared_data / "posters" / f"{imdb_id}.jpg").read_bytes()
        junk, cut = catalog.get_movie("tt0000099"), catalog.get_movie("tt0000098")
        assert junk.poster_status == "failed" and "tt0000099.jpg: not an image" in junk.poster_error
        assert cut.poster_status == "failed" and "truncated or corrupt" in cut.poster_error
        assert catalog.get_movie("tt7777777") is None

        again = attach_folder(catalog, store, poster_folder)
        assert (again.attached, again.unchanged, again.failed) == (0, 4, 2)
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 4


def test_cli_attach(tmp_path: Path, poster_folder: Path) -> None:
    home = tmp_path / "home"
    _catalog(home / "catalog.sqlite").close()
    result = subprocess.run(
        [POSTERGENRE, "posters", "attach", str(poster_folder), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        env=WIDE,
    )
    assert result.returncode == 0, result.stderr
    assert "attached 4" in result.stdout and "failed 2" in result.stdout and "not in catalog 1" in result.stdout
    assert "tt7777777.webp" in result.stdout
    with sqlite3.connect(home / "catalog.sqlite") as conn:
        assert conn.execute("SELECT count(*) FROM posters WHERE status = 'ok'").fetchone()[0] == 4

    empty_home = tmp_path / "empty-home"
    nothing = subprocess.run(
        [POSTERGENRE, "posters", "attach", str(poster_folder), "--home", str(empty_home)],
        capture_output=True,
        text=True,
        timeout=120,
        env=WIDE,
    )
    assert nothing.returncode == 1 and "not in catalog 7" in nothing.stdout

    missing = subprocess.run(
        [POSTERGENRE, "posters", "attach", str(tmp_path / "nope"), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        env=WIDE,
    )
    assert missing.returncode == 2 and "nope: not a folder of poster files" in missing.stderr
