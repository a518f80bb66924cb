"""Embedding real posters: complete, resumable after SIGKILL, tolerant of broken files, same as prediction."""

from __future__ import annotations

import os
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
from postergenre.features.cache import EmbeddingCache, MissingEmbeddingsError
from postergenre.features.embed import embed_catalog, embed_images, selected_posters
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import load_runtime, prepare_installation, vector_key
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore
from postergenre.progress import Progress
from sampling import spread

SPEC = get_backbone()
CLI = [str(Path(sys.executable).with_name("postergenre"))]


@pytest.fixture(scope="module")
def net():
    """The runtime the library uses by default (ONNX int8 with the shipped table, built once per process, in memory)."""
    return load_runtime(SPEC, "auto")


def _cache(home: Path) -> EmbeddingCache:
    """The vectors of the default runtime (what `postergenre embed` writes with no --runtime)."""
    return EmbeddingCache(get_paths(home).db, *vector_key(SPEC))


def _fresh(home: Path, shas: list[str], net) -> np.ndarray:
    store = PosterStore(get_paths(home).posters)
    return embed_images([decode_image(store.path(s)) for s in shas], net, SPEC)


def test_small_home_is_fully_embedded_like_the_prediction_path(small_home, net):
    with Catalog(get_paths(small_home).db) as catalog:
        shas = selected_posters(catalog)
    assert len(shas) >= 150
    cached = _cache(small_home).get(shas)
    assert cached.shape == (len(shas), SPEC.feature_dim) and np.isfinite(cached).all()
    np.testing.assert_allclose(_fresh(small_home, shas[:6], net), cached[:6], rtol=1e-4, atol=1e-5)
    # distinct posters give distinct vectors (nothing written to the wrong key)
    assert len({v.tobytes() for v in cached}) == len(shas)


def _rows(db: Path) -> list[tuple]:
    """Every cached row, of every view."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sha256, dim, vector FROM embeddings").fetchall()


def _complete(db: Path) -> set[str]:
    """The posters with a vector of both views (the poster and its mirror: `embed --views poster,mirror`)."""
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT sha256 FROM embeddings GROUP BY sha256 HAVING count(*) = 2")}


def test_sigkill_mid_run_loses_nothing_finished_and_a_rerun_completes(tmp_path, shared_rows, make_poster_home, net):
    home = make_poster_home(tmp_path, spread(shared_rows, 240, 5))
    db = get_paths(home).db
    with Catalog(db) as catalog:
        total = len(selected_posters(catalog))
    _cache(home).close()  # the embeddings table exists before the run starts writing it
    proc = subprocess.Popen(
        [*CLI, "embed", "--home", str(home), "--views", "poster,mirror", "--batch-size", "8"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(_complete(db)) >= 24:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    before, complete = _rows(db), _complete(db)
    assert 24 <= len(complete) < total, f"kill landed outside the run ({len(complete)} of {total})"
    for _sha, dim, blob in before:  # every row written is whole, of either view
        assert dim == SPEC.feature_dim and len(blob) == 4 * dim
        assert np.isfinite(np.frombuffer(blob, dtype="<f4")).all()

    done = subprocess.run(
        [*CLI, "embed", "--home", str(home), "--views", "poster,mirror"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())  # rich wraps long lines at the console width
    assert f"already cached {len(complete)}" in said and "(poster + mirror)" in said
    assert "posters/s, onnx-int8)" in said
    # the data folder holds one int8 graph (for Ray nodes): a copy of the installation's, whole despite the kill
    (int8,) = (home / "runtimes").glob(f"{SPEC.name}-int8-*.onnx")
    installed = next(path for path in prepare_installation() if path.name == int8.name)
    assert int8.read_bytes() == installed.read_bytes()
    cache = _cache(home)
    assert cache.count() == total and cache.failures() == {} and len(_complete(db)) == total
    with Catalog(db) as catalog:
        shas = selected_posters(catalog)
    # vectors from before the kill and from the rerun both match a fresh computation
    check = [before[0][0], before[-1][0]] + [s for s in shas if s not in {r[0] for r in before}][:2]
    np.testing.assert_allclose(cache.get(check), _fresh(home, check, net), rtol=1e-4, atol=1e-5)


def test_a_poster_that_does_not_decode_is_marked_and_the_run_goes_on(tmp_path, shared_rows, make_poster_home, net):
    home = make_poster_home(tmp_path, spread(shared_rows, 12, 7))
    paths = get_paths(home)
    store = PosterStore(paths.posters)
    with Catalog(paths.db) as catalog:
        shas = selected_posters(catalog)
        broken = shas[3]
        store.path(broken).write_bytes(b"<html>not a poster</html>")  # the file went bad after attaching
        first = embed_catalog(catalog, store, SPEC, batch_size=4, workers=2, runtime=net)
        assert (first.embedded, first.failed, first.posters) == (len(shas) - 1, 1, len(shas)) and first.complete
        assert broken in first.failures[broken] and "not an image" in first.failures[broken]
        assert _cache(home).failures() == first.failures
        again = embed_catalog(catalog, store, SPEC, runtime=net)
        assert (again.embedded, again.failed, again.failed_before, again.cached_before) == (0, 0, 1, len(shas) - 1)
        retried = embed_catalog(catalog, store, SPEC, retry_failed=True, workers=0, runtime=net)
        assert (retried.embedded, retried.failed) == (0, 1)
    with pytest.raises(MissingEmbeddingsError, match="failed to decode"):
        _cache(home).get(shas)
    assert _cache(home).get([s for s in shas if s != broken]).shape == (len(shas) - 1, SPEC.feature_dim)


def test_cli_refuses_an_unknown_backbone(home):
    done = subprocess.run([*CLI, "embed", "--backbone", "vgg-1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown backbone 'vgg-1'" in done.stderr and "efficientnet-lite0" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_refuses_an_unknown_runtime(home):
    done = subprocess.run([*CLI, "embed", "--runtime", "tensorrt"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "tensorrt" in done.stderr and "auto, onnx, torch" in done.stderr


def test_progress_is_reported_through_the_callback(tmp_path, shared_rows, make_poster_home, net):
    home = make_poster_home(tmp_path, spread(shared_rows, 10, 2))
    paths = get_paths(home)
    reports: list[Progress] = []
    with Catalog(paths.db) as catalog:
        summary = embed_catalog(
            catalog, PosterStore(paths.posters), SPEC, batch_size=3, workers=2, runtime=net, progress=reports.append
        )
    assert summary.embedded == summary.posters == 10 and summary.runtime == net.name
    assert [r.done for r in reports] == [0, 3, 6, 9, 10]
    assert all(r.total == 10 and r.task == f"embed {SPEC.name} ({net.name}, poster + mirror)" for r in reports)
    assert reports[-1].ok == 10 and reports[-1].failed == 0
