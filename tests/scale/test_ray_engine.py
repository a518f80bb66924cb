"""The Ray Data engine on a local 2-CPU cluster: same vectors as the local engine, resumable after SIGKILL,
predict-catalog through it. One Ray cluster for the whole module (starting one costs seconds)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.features.cache import EmbeddingCache, ViewCaches
from postergenre.features.embed import selected_posters
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import load_runtime, vector_key
from postergenre.features.views import MIRROR, POSTER, view_key
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore
from sampling import spread

CLI = str(Path(sys.executable).with_name("postergenre"))
RAY_MISSING = "ray[data] is not installed: pip install '.[ray]' (make test installs it)"

pytest.importorskip("ray.data", reason=RAY_MISSING)

from postergenre.features.ray_engine import RayOptions, embed_catalog_ray, ray_session  # noqa: E402

SPEC = get_backbone()


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for this module -> its address, for CLI runs to join."""
    with ray_session(RayOptions(num_cpus=2)) as ray:
        yield ray.get_runtime_context().gcs_address


def _cache(home: Path, view: str = POSTER) -> EmbeddingCache:
    """The default runtime's (int8) vectors of one view of the posters (the poster as given by default)."""
    return EmbeddingCache(get_paths(home).db, *view_key(vector_key(SPEC), view))


def _embed_ray(home: Path, **options) -> object:
    paths = get_paths(home)
    with Catalog(paths.db) as catalog:
        return embed_catalog_ray(
            catalog,
            PosterStore(paths.posters),
            SPEC,
            options=RayOptions(**options),
            runtime_cache=paths.home / "runtimes",
        )


def _forget_vectors(home: Path, keep: int = 0) -> list[str]:
    """Delete the cached vectors (of every view) of all posters but the first `keep` (by hash) -> the hashes of all
    of them, sorted."""
    with sqlite3.connect(get_paths(home).db) as conn:
        shas = [r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM embeddings ORDER BY sha256")]
        conn.executemany("DELETE FROM embeddings WHERE sha256 = ?", [(s,) for s in shas[keep:]])
    return shas


def test_ray_vectors_equal_the_local_engines(cluster, small_home, copy_home):
    home = copy_home()
    shas = _forget_vectors(home)  # small_home's vectors were computed by the local engine (conftest.small_home)

    broken = PosterStore(get_paths(home).posters).path(shas[0])
    broken.unlink()  # the copy may hold a link into the shared store: replace it, never write through it
    broken.write_bytes(b"not an image at all")

    summary = _embed_ray(home, actors=2, batch_size=16)

    assert summary.complete and summary.embedded == len(shas) - 1 >= 150 and summary.runtime == "onnx-int8"
    assert list(summary.failures) == [shas[0]] and shas[0] in summary.failures[shas[0]]
    assert summary.views == (POSTER, MIRROR)  # both views by default, as the local engine embedded small_home
    for view in (POSTER, MIRROR):
        with _cache(small_home, view) as local:
            expected = local.get(shas[1:])
        with _cache(home, view) as cache:
            got = cache.get(shas[1:])
            assert cache.count() == len(shas) - 1 and list(cache.failures()) == [shas[0]]
        assert float(np.abs(got - expected).max()) <= 1e-5, view
        assert len({v.tobytes() for v in got}) == len(shas) - 1  # no vector landed on another poster's row
    again = _embed_ray(home)  # a rerun finds nothing to do (the failure is skipped) and starts no pipeline
    assert again.embedded == 0 and again.failed_before == 1 and again.runtime == "" and again.complete


def _whole_rows(db: Path) -> dict[str, list[str]]:
    """{view's backbone key: its posters' hashes}; every row written is whole."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT backbone, sha256, dim, length(vector) FROM embeddings").fetchall()
    out: dict[str, list[str]] = {}
    for backbone, sha, dim, size in rows:
        assert dim == SPEC.feature_dim and size == 4 * dim, sha
        out.setdefault(backbone, []).append(sha)
    return out


def _complete(rows: dict[str, list[str]]) -> set[str]:
    """The posters with a vector of both views."""
    keys = [view_key(vector_key(SPEC), view)[0] for view in (POSTER, MIRROR)]
    return set(rows.get(keys[0], [])) & set(rows.get(keys[1], []))


def test_sigkill_of_the_ray_cli_loses_only_unfinished_batches(
    cluster, shared_rows, make_poster_home, runtime_graphs, tmp_path
):
    home = make_poster_home(tmp_path, spread(shared_rows, 240, 7))
    shutil.copytree(runtime_graphs, home / "runtimes", dirs_exist_ok=True)
    db = get_paths(home).db
    with Catalog(db) as catalog:
        shas = selected_posters(catalog)
    _cache(home).close()  # the embeddings table exists before the run starts writing it
    proc = subprocess.Popen(
        [
            CLI,
            "embed",
            "--engine",
            "ray",
            "--address",
            cluster,
            "--ray-actors",
            "1",
            "--ray-batch-size",
            "8",
            "--views",
            "poster,mirror",
            "--home",
            str(home),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_complete(_whole_rows(db))) >= 16:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        _, err = proc.communicate()
    before = _complete(_whole_rows(db))
    assert 16 <= len(before) < len(shas), f"kill landed outside the run ({len(before)} of {len(shas)}): {err[-2000:]}"

    summary = _embed_ray(home, actors=2)  # the rerun, in this process, on the same cluster

    assert summary.cached_before == len(before) and summary.embedded == len(shas) - len(before)
    for view_rows in _whole_rows(db).values():
        assert sorted(view_rows) == shas  # every poster once in each view: no duplicates, none missing
    store = PosterStore(get_paths(home).posters)
    with (
        ViewCaches(get_paths(home).db, vector_key(SPEC), (POSTER, MIRROR)) as caches,
        load_runtime(SPEC, cache_dir=home / "runtimes") as rt,
    ):
        got = caches.get(shas)
        fresh = rt.embed_views([decode_image(store.path(s)) for s in shas], (POSTER, MIRROR))
    assert float(np.abs(got - fresh).max()) <= 1e-5


def test_predict_catalog_on_ray_embeds_the_missing_and_matches_the_predictor(cluster, copy_home, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet", reason=RAY_MISSING)
    from postergenre.predict.predictor import Predictor

    home = copy_home()
    shas = _forget_vectors(home, keep=140)  # 140 cached, the rest embedded by Ray first
    out = tmp_path / "out" / "catalog.parquet"
    run = subprocess.run(
        [CLI, "predict-catalog", "--out", str(out), "--engine", "ray", "--address", cluster, "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    assert f"{len(shas) - 140} posters embedded first with the ray engine" in " ".join(run.stdout.split())
    table = pq.read_table(out).to_pylist()
    with Catalog(get_paths(home).db) as catalog:
        movies = {m.imdb_id: m for m in catalog.movies() if m.poster_status == "ok"}
    assert sorted(r["imdb_id"] for r in table) == sorted(movies) and len(table) >= 150
    assert all(r["embedding_error"] is None and r["decided"] for r in table)

    predictor = Predictor.load(home=home)
    store = PosterStore(get_paths(home).posters)
    for row in table[::40]:
        result = predictor.predict(store.path(row["poster_sha256"]))
        got = np.array([row[f"prob_{g}"] for g in predictor.genres])
        want = np.array([result.probabilities[g] for g in predictor.genres])
        assert float(np.abs(got - want).max()) <= 1e-5, row["imdb_id"]
        assert row["decided"] == list(result.decided)


def test_an_actor_that_cannot_see_the_poster_store_stops_the_run_with_a_clear_error(cluster, copy_home, tmp_path):
    from postergenre.features.ray_engine import RayUnavailableError

    home = copy_home()
    _forget_vectors(home)
    elsewhere = PosterStore(tmp_path / "not-mounted")  # as on a node that lacks the shared data folder
    shutil.rmtree(elsewhere.root)
    with Catalog(get_paths(home).db) as catalog, pytest.raises(RayUnavailableError, match=r"not-mounted.*same path"):
        embed_catalog_ray(
            catalog, elsewhere, SPEC, options=RayOptions(actors=1), runtime="onnx", runtime_cache=home / "runtimes"
        )
    with _cache(home) as cache:  # nothing recorded as failed: a rerun with the store in place does everything
        assert cache.count() == 0 and cache.failures() == {}


def _studio_copy(studio_home: Path, runtime_graphs: Path, target: Path, forget: list[str]) -> Path:
    shutil.copytree(studio_home, target, symlinks=True)
    shutil.copytree(runtime_graphs, target / "runtimes", dirs_exist_ok=True)
    with sqlite3.connect(get_paths(target).db) as conn:
        conn.executemany("DELETE FROM embeddings WHERE sha256 = ?", [(s,) for s in forget])
    return target


def test_predict_catalog_reads_each_film_with_its_plot_and_both_engines_agree(
    cluster, studio_home, runtime_graphs, tmp_path
):
    """Studio films with a poster and a plot get the fused reading with each signal beside it, studio films with only
    a plot the synopsis reading, general posters the poster reading; Ray (embedding the posters it lacks, both views
    the bundled model reads) and the local engine write the same numbers, and `predict` reads the same."""
    pq = pytest.importorskip("pyarrow.parquet", reason=RAY_MISSING)
    from postergenre.predict.predictor import Predictor

    with sqlite3.connect(get_paths(studio_home).db) as conn:
        forget = [r[0] for r in conn.execute("SELECT sha256 FROM embeddings ORDER BY sha256 LIMIT 12")]
    tables = {}
    for engine in ("local", "ray"):
        home = _studio_copy(studio_home, runtime_graphs, tmp_path / engine, forget)
        out = tmp_path / f"{engine}.parquet"
        extra = ["--address", cluster] if engine == "ray" else []
        run = subprocess.run(
            [CLI, "predict-catalog", "--out", str(out), "--engine", engine, *extra, "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert run.returncode == 0, run.stderr
        tables[engine] = pq.read_table(out)
        assert json.loads(tables[engine].schema.metadata[b"postergenre"])["views"] == [POSTER, MIRROR]
        for view in (POSTER, MIRROR):  # the forgotten posters' views were embedded again
            with _cache(home, view) as cache:
                assert cache.missing(forget) == [], (engine, view)
    local, ray_table = tables["local"], tables["ray"]
    assert local.column_names == ray_table.column_names
    numeric = [c for c in local.column_names if "prob_" in c or c == "poster_check_score"]
    for column in numeric:
        a = np.array(local.column(column).to_pylist(), dtype=float)
        b = np.array(ray_table.column(column).to_pylist(), dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.nanmax(np.abs(a - b), initial=0.0) == 0.0, column
    for column in ("imdb_id", "signal", "decided", "reads_as", "embedding_error"):
        assert local.column(column).to_pylist() == ray_table.column(column).to_pylist(), column

    rows = {r["imdb_id"]: r for r in local.to_pylist()}
    with Catalog(get_paths(studio_home).db) as catalog:
        movies = {m.imdb_id: m for m in catalog.movies()}
    want = {}
    for imdb_id, m in movies.items():
        poster = m.poster_status == "ok" and m.poster_sha256
        plot = bool(m.plot and m.plot.strip())
        if poster or plot:
            want[imdb_id] = "poster+synopsis" if poster and plot else "poster" if poster else "synopsis"
    assert {i: r["signal"] for i, r in rows.items()} == want
    assert {"poster", "synopsis", "poster+synopsis"} <= set(want.values())

    predictor = Predictor.load(home=tmp_path / "local")
    genres = predictor.genres
    store = PosterStore(get_paths(tmp_path / "local").posters)
    fused = [r for r in rows.values() if r["signal"] == "poster+synopsis"][:3]
    story = [r for r in rows.values() if r["signal"] == "synopsis"][:3]
    for row in fused:
        result = predictor.predict(store.path(row["poster_sha256"]), synopsis=movies[row["imdb_id"]].plot)
        reading = result.reading
        for prefix, probs in (
            ("prob_", reading.probabilities),
            ("poster_prob_", reading.poster_probabilities),
            ("synopsis_prob_", reading.synopsis_probabilities),
        ):
            got = np.array([row[f"{prefix}{g}"] for g in genres])
            assert float(np.abs(got - [probs[g] for g in genres]).max()) <= 1e-6, (prefix, row["imdb_id"])
        assert row["decided"] == list(reading.decided)
    for row in story:
        reading = predictor.read_synopsis(movies[row["imdb_id"]].plot)
        got = np.array([row[f"synopsis_prob_{g}"] for g in genres])
        assert np.array_equal(got, [row[f"prob_{g}"] for g in genres])
        assert float(np.abs(got - [reading.probabilities[g] for g in genres]).max()) <= 1e-9
        assert row["poster_prob_" + genres[0]] is None and row["decided"] == list(reading.decided)
