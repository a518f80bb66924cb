"""The opt-in onnx-int8 runtime: calibrated on catalog posters, close to fp32 on real posters, cached once, and
its vectors kept apart from the fp32 ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.errors import PosterGenreError
from postergenre.features.cache import EmbeddingCache
from postergenre.features.embed import embed_catalog, selected_posters
from postergenre.features.quantize import CALIBRATION_POSTERS, QUANTIZER_VERSION, Calibration
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import (RUNTIME_KINDS, NotCalibratedError, int8_cache_key, load_runtime,
                                          onnx_cache_key)
from postergenre.posters.store import PosterStore

SPEC = get_backbone()


@pytest.fixture(scope="module")
def int8_home(tmp_path_factory, shared_rows, make_poster_home):
    """A data folder of 40 shared movies embedded first with onnx-int8 (calibrating it), then with fp32 onnx."""
    folder = tmp_path_factory.mktemp("int8")
    home = make_poster_home(folder, shared_rows[5::450])
    paths = get_paths(home)
    runtimes = folder / "runtimes"
    with Catalog(paths.db) as catalog:
        store = PosterStore(paths.posters)
        int8 = embed_catalog(catalog, store, SPEC, runtime="onnx-int8", runtime_cache=runtimes, workers=2)
        fp32 = embed_catalog(catalog, store, SPEC, runtime="onnx", runtime_cache=runtimes, workers=2)
        shas = selected_posters(catalog)
    return {"paths": paths, "runtimes": runtimes, "int8": int8, "fp32": fp32, "shas": shas, "store": store}


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_int8_vectors_are_close_to_fp32_and_cached_under_their_own_key(int8_home):
    int8, fp32, shas = int8_home["int8"], int8_home["fp32"], int8_home["shas"]
    assert "onnx-int8" in RUNTIME_KINDS and len(shas) >= 16
    assert int8.runtime == "onnx-int8" and int8.embedded == int8.posters == len(shas)
    # fp32 found nothing cached: the int8 vectors did not land under its key
    assert fp32.runtime == "onnx" and fp32.embedded == fp32.posters and fp32.cached_before == 0
    assert (fp32.backbone, fp32.preprocess_version) == (SPEC.name, SPEC.preprocess_version)
    assert int8.backbone == f"{SPEC.name}+int8" and int8.preprocess_version.startswith(SPEC.preprocess_version + "+")
    db = int8_home["paths"].db
    with EmbeddingCache(db, SPEC.name, SPEC.preprocess_version) as cache:
        want = cache.get(shas)
    with EmbeddingCache(db, int8.backbone, int8.preprocess_version) as cache:
        got = cache.get(shas)
    assert got.shape == want.shape == (len(shas), SPEC.feature_dim)
    cos = _cosines(got, want)
    assert cos.mean() >= 0.99 and cos.min() >= 0.98, (cos.mean(), cos.min())
    assert not np.array_equal(got, want)  # really quantized, not the fp32 graph again
    pooled = SPEC.feature_slice("pooled")
    assert _cosines(got[:, pooled], want[:, pooled]).min() >= 0.95  # quantizing Clip too keeps pooled features (~0.90 without)


def test_the_calibrated_graph_is_cached_by_key_and_reused(int8_home):
    runtimes, store, shas = int8_home["runtimes"], int8_home["store"], int8_home["shas"]
    graphs = list(runtimes.glob(f"{SPEC.name}-int8-*.onnx"))
    assert len(graphs) == 1
    key = json.loads(graphs[0].with_suffix(".json").read_text())
    calibration = Calibration(tuple(shas[:CALIBRATION_POSTERS]), lambda sha: None)
    assert key == int8_cache_key(SPEC, calibration.fingerprint)
    assert key["precision"] == "int8" and key["quantizer"] == QUANTIZER_VERSION
    assert {k: v for k, v in key.items() if k in onnx_cache_key(SPEC) and k != "precision"} == \
        {k: v for k, v in onnx_cache_key(SPEC).items() if k != "precision"}
    stamp = graphs[0].stat().st_mtime_ns

    def no_calibration():
        raise AssertionError("a cached graph must not be calibrated again")

    rt = load_runtime(SPEC, "onnx-int8", cache_dir=runtimes, calibration=no_calibration)
    assert rt.model_path == graphs[0] and graphs[0].stat().st_mtime_ns == stamp
    assert rt.vector_key == (int8_home["int8"].backbone, int8_home["int8"].preprocess_version)
    # a rerun of embed finds every int8 vector cached
    with Catalog(int8_home["paths"].db) as catalog:
        again = embed_catalog(catalog, store, SPEC, runtime="onnx-int8", runtime_cache=runtimes)
    assert (again.embedded, again.cached_before) == (0, again.posters)
    # the runtime reproduces what was cached
    from postergenre.posters.images import decode_image

    images = [decode_image(store.path(s)) for s in shas[:4]]
    with EmbeddingCache(int8_home["paths"].db, *rt.vector_key) as cache:
        np.testing.assert_allclose(rt.embed(images), cache.get(shas[:4]), rtol=0, atol=1e-5)


def test_int8_without_a_calibrated_graph_or_posters_is_refused(int8_home, tmp_path):
    folder = tmp_path / "runtimes"
    folder.mkdir()
    with pytest.raises(NotCalibratedError, match="postergenre embed --runtime onnx-int8"):
        load_runtime(SPEC, "onnx-int8", cache_dir=folder)
    assert isinstance(NotCalibratedError("x"), PosterGenreError)
    # "auto" never picks int8, even where a calibrated graph exists
    assert load_runtime(SPEC, "auto", cache_dir=int8_home["runtimes"]).name == "onnx"


def test_a_truncated_int8_graph_is_quantized_again(int8_home, tmp_path):
    folder = tmp_path / "runtimes"
    folder.mkdir()
    for source in int8_home["runtimes"].iterdir():  # the fp32 and int8 graphs, as copies
        (folder / source.name).write_bytes(source.read_bytes())
    graph = next(folder.glob(f"{SPEC.name}-int8-*.onnx"))
    whole = graph.read_bytes()
    graph.write_bytes(whole[:4096])
    store, shas = int8_home["store"], int8_home["shas"]
    with Catalog(int8_home["paths"].db) as catalog:
        calibration = Calibration.from_store(selected_posters(catalog), store, SPEC)
    assert calibration.names == tuple(shas[:CALIBRATION_POSTERS])
    rt = load_runtime(SPEC, "onnx-int8", cache_dir=folder, calibration=calibration)
    assert rt.model_path == graph and graph.read_bytes() == whole  # calibration is deterministic
    assert not list(folder.glob(".*.tmp"))


def test_the_ray_engine_refuses_int8(int8_home):
    from postergenre.features.ray_engine import _resolve_runtime

    with pytest.raises(PosterGenreError, match="Ray engine does not run the onnx-int8"):
        _resolve_runtime(SPEC, "onnx-int8", int8_home["runtimes"])


def test_calibration_skips_posters_that_do_not_decode_and_needs_some(shared_data, shared_rows, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    calibration = Calibration.from_files([shared_data / shared_rows[3]["poster"], broken,
                                          shared_data / shared_rows[4]["poster"]])
    batches = list(calibration.batches(SPEC, batch_size=8))
    assert [b.shape for b in batches] == [(2, 3, 320, 224)]
    assert calibration.fingerprint != Calibration.from_files([shared_data / shared_rows[3]["poster"]]).fingerprint
    with pytest.raises(PosterGenreError, match="none is attached"):
        Calibration.from_store([], PosterStore(tmp_path / "posters"), SPEC)
