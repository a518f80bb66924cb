"""A crafted file in a batch of posters: `posters attach` records it as failed and still stores and records
the good posters of the same batch (it used to abort with a traceback, the good poster stored but unrecorded)."""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

from PIL import Image

from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.posters.store import PosterStore

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
GOOD = ["tt0000003", "tt0000008", "tt0000012"]


def _crafted_blp() -> bytes:
    """A real BLP2 file from Pillow with its compression field set to an unknown value: Pillow's BLP
    decoder raises BLPFormatError (a NotImplementedError) on it, which no image code expects."""
    buf = io.BytesIO()
    Image.new("RGB", (64, 96), (200, 30, 30)).convert("P").save(buf, "BLP")
    data = bytearray(buf.getvalue())
    data[4:8] = struct.pack("<i", 7)
    return bytes(data)


def test_attach_records_a_crafted_file_as_failed_and_keeps_the_good_ones(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    for imdb_id in GOOD:
        shutil.copy(shared_data / "posters" / f"{imdb_id}.jpg", folder / f"{imdb_id}.jpg")
    # sorted between the good files, so it lands in the middle of the one batch
    (folder / "tt0000005.jpg").write_bytes(_crafted_blp())
    home = tmp_path / "home"
    with Catalog(home / "catalog.sqlite") as catalog:
        catalog.upsert_movies([MovieRecord(i, title=i, genres=("Drama",)) for i in [*GOOD, "tt0000005"]])

    result = subprocess.run(
        [POSTERGENRE, "posters", "attach", str(folder), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "attached 3" in result.stdout and "failed 1" in result.stdout
    assert "tt0000005.jpg: not an image (BLP is not accepted" in result.stdout

    with sqlite3.connect(home / "catalog.sqlite") as conn:
        rows = dict(conn.execute("SELECT imdb_id, status FROM posters").fetchall())
        error = conn.execute("SELECT error FROM posters WHERE imdb_id = 'tt0000005'").fetchone()[0]
        shas = dict(conn.execute("SELECT imdb_id, sha256 FROM posters WHERE status = 'ok'").fetchall())
    assert rows == {"tt0000003": "ok", "tt0000008": "ok", "tt0000012": "ok", "tt0000005": "failed"}
    assert "tt0000005.jpg" in error and "BLP" in error
    store = PosterStore(home / "posters")
    for imdb_id in GOOD:  # stored AND recorded: the recorded hash names a stored file with the same bytes
        assert store.read(shas[imdb_id]) == (shared_data / "posters" / f"{imdb_id}.jpg").read_bytes()
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 3  # the crafted file was not stored
