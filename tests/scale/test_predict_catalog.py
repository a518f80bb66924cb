"""predict-catalog with the local engine (no Ray needed), and the install hint when Ray is missing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from postergenre.config import get_paths
from postergenre.posters.store import PosterStore

CLI = str(Path(sys.executable).with_name("postergenre"))


def test_predict_catalog_local_engine_writes_every_movie_and_names_failures(copy_home, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed: pip install pyarrow or '.[ray]'")
    from postergenre.predict.predictor import Predictor

    home = copy_home()
    store = PosterStore(get_paths(home).posters)
    with sqlite3.connect(get_paths(home).db) as conn:
        # two posters of films the --year-min 1900 below keeps (the sample's first films are older)
        broken, second = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT e.sha256 FROM embeddings e JOIN posters p ON p.sha256 = e.sha256 "
                "JOIN movies m ON m.imdb_id = p.imdb_id WHERE m.year >= 1900 ORDER BY e.sha256 LIMIT 2"
            )
        ]
        conn.execute("DELETE FROM embeddings WHERE sha256 IN (?, ?)", (broken, second))
    path = store.path(broken)
    path.unlink()  # the copy may hold a link into the shared store: replace it, never write through it
    path.write_bytes(b"not an image at all")
    out = tmp_path / "catalog.parquet"

    run = subprocess.run(
        [CLI, "predict-catalog", "--out", str(out), "--home", str(home), "--year-min", "1900"],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert run.returncode == 0, run.stderr
    table = pq.read_table(out)
    meta = json.loads(table.schema.metadata[b"postergenre"])
    rows = table.to_pylist()
    assert [f"prob_{g}" for g in meta["genres"]] == [c for c in table.column_names if c.startswith("prob_")]
    assert meta["views"] == ["poster", "mirror"]  # the bundled model reads each poster and its mirror image
    assert [r["imdb_id"] for r in rows] == sorted(r["imdb_id"] for r in rows) and len(rows) >= 150
    failed = [r for r in rows if r["embedding_error"]]
    assert {r["poster_sha256"] for r in failed} == {broken}
    assert all(r["decided"] is None and r[f"prob_{meta['genres'][0]}"] is None for r in failed)
    ok = [r for r in rows if not r["embedding_error"]]
    assert any(r["poster_sha256"] == second for r in ok)  # embedded first, then predicted
    assert all(r["decided"] and r["poster_check_score"] >= 0 for r in ok)

    predictor = Predictor.load(home=home)
    for row in [r for r in ok if r["poster_sha256"] == second] + ok[::50]:
        result = predictor.predict(store.path(row["poster_sha256"]))
        got = np.array([row[f"prob_{g}"] for g in predictor.genres])
        assert float(np.abs(got - [result.probabilities[g] for g in predictor.genres]).max()) <= 1e-5
        assert row["decided"] == list(result.decided) and row["is_poster"] == result.poster_check["is_poster"]


_WITHOUT_RAY = (
    "import sys; sys.modules['ray'] = None; sys.argv = ['postergenre', *sys.argv[1:]]; "
    "from postergenre.cli import main; main()"
)


@pytest.mark.parametrize("command", [["embed"], ["predict-catalog", "--out", "x.parquet"]])
def test_without_ray_the_ray_engine_says_how_to_install_it(command, tmp_path):
    # Ray is installed wherever this suite runs the Ray tests: its absence is simulated by blocking the import.
    run = subprocess.run(
        [sys.executable, "-c", _WITHOUT_RAY, *command, "--engine", "ray", "--home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 2, run.stderr
    assert "pip install '.[ray]'" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "x.parquet").exists()


def test_ray_only_options_need_the_ray_engine(tmp_path):
    run = subprocess.run(
        [CLI, "embed", "--address", "127.0.0.1:6379", "--home", str(tmp_path / "home")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "need --engine ray" in run.stderr
