"""The onnx-int8 runtime, the default for lite0: quantized with the calibration table shipped in the package,
close to fp32 on real posters, cached once, its vectors kept apart from the fp32 ones, and refused with a clear
error when the table does not fit the graph."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.errors import PosterGenreError
from postergenre.features import runtime as runtimes_module
from postergenre.features.cache import EmbeddingCache
from postergenre.features.embed import embed_catalog, selected_posters
from postergenre.features.quantize import (
    CALIBRATION_POSTERS,
    QUANTIZER_VERSION,
    Calibration,
    CalibrationTable,
    shipped_table,
)
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import (
    RUNTIME_KINDS,
    NotCalibratedError,
    int8_cache_key,
    load_runtime,
    onnx_cache_key,
    resolve_kind,
    vector_key,
)
from postergenre.posters.store import PosterStore
from sampling import spread

SPEC = get_backbone()


@pytest.fixture(scope="module")
def int8_home(tmp_path_factory, shared_rows, make_poster_home):
    """A data folder of 40 shared movies embedded first with the default runtime (int8), then with fp32 onnx."""
    folder = tmp_path_factory.mktemp("int8")
    home = make_poster_home(folder, spread(shared_rows, 40, 5))
    paths = get_paths(home)
    runtimes = folder / "runtimes"
    with Catalog(paths.db) as catalog:
        store = PosterStore(paths.posters)
        int8 = embed_catalog(catalog, store, SPEC, runtime_cache=runtimes, workers=2)
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
    # quantizing Clip too keeps pooled features (~0.90 without)
    assert _cosines(got[:, pooled], want[:, pooled]).min() >= 0.95


def test_auto_is_int8_with_the_shipped_table_and_the_key_is_known_before_loading(int8_home):
    table = shipped_table(SPEC)
    assert table is not None and table.matches(onnx_cache_key(SPEC))
    assert table.posters["count"] == CALIBRATION_POSTERS and "ranges" not in table.posters
    assert resolve_kind(SPEC) == "onnx-int8" and resolve_kind(SPEC, "onnx") == "onnx"
    assert vector_key(SPEC) == (int8_home["int8"].backbone, int8_home["int8"].preprocess_version)
    assert vector_key(SPEC, "onnx") == vector_key(SPEC, "torch") == (SPEC.name, SPEC.preprocess_version)
    # another backbone without a table (none ships for a made-up one) stays fp32
    other = dataclasses.replace(SPEC, name="efficientnet-lite0-untabled")
    assert shipped_table(other) is None and resolve_kind(other) == "onnx"


def test_the_int8_graph_is_cached_by_key_and_reused(int8_home):
    runtimes, store, shas = int8_home["runtimes"], int8_home["store"], int8_home["shas"]
    graphs = list(runtimes.glob(f"{SPEC.name}-int8-*.onnx"))
    assert len(graphs) == 1
    key = json.loads(graphs[0].with_suffix(".json").read_text())
    assert key == int8_cache_key(SPEC, shipped_table(SPEC).fingerprint)
    assert key["precision"] == "int8" and key["quantizer"] == QUANTIZER_VERSION
    assert {k: v for k, v in key.items() if k in onnx_cache_key(SPEC) and k != "precision"} == {
        k: v for k, v in onnx_cache_key(SPEC).items() if k != "precision"
    }
    stamp = graphs[0].stat().st_mtime_ns
    rt = load_runtime(SPEC, cache_dir=runtimes)
    assert rt.name == "onnx-int8" and rt.model_path == graphs[0] and graphs[0].stat().st_mtime_ns == stamp
    assert rt.vector_key == (int8_home["int8"].backbone, int8_home["int8"].preprocess_version)
    # a rerun of embed finds every int8 vector cached
    with Catalog(int8_home["paths"].db) as catalog:
        again = embed_catalog(catalog, store, SPEC, runtime="onnx-int8", runtime_cache=runtimes)
    assert (again.embedded, again.cached_before) == (0, again.posters)
    # the runtime reproduces what was cached, and so does one built in memory (same table, same graph)
    from postergenre.posters.images import decode_image

    images = [decode_image(store.path(s)) for s in shas[:4]]
    with EmbeddingCache(int8_home["paths"].db, *rt.vector_key) as cache:
        cached = cache.get(shas[:4])
    np.testing.assert_allclose(rt.embed(images), cached, rtol=0, atol=1e-5)
    np.testing.assert_allclose(load_runtime(SPEC, "onnx-int8").embed(images), cached, rtol=0, atol=1e-5)


def _table_file(tmp_path, table: CalibrationTable):
    path = tmp_path / "calibrations" / f"{SPEC.name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(table.to_json())
    return path


def test_a_table_for_another_graph_is_refused_and_auto_falls_back_to_fp32(int8_home, tmp_path, monkeypatch):
    table = shipped_table(SPEC)
    stale = dataclasses.replace(table, graph={**table.graph, "weights_sha256": "0" * 64})
    monkeypatch.setattr(runtimes_module, "shipped_table", lambda spec: stale)
    folder = tmp_path / "runtimes"
    with pytest.raises(NotCalibratedError, match=r"measured on another graph.*scripts/calibrate_int8\.py"):
        load_runtime(SPEC, "onnx-int8", cache_dir=folder)
    assert isinstance(NotCalibratedError("x"), PosterGenreError)
    assert resolve_kind(SPEC) == "onnx" and vector_key(SPEC) == (SPEC.name, SPEC.preprocess_version)
    assert load_runtime(SPEC, cache_dir=folder).name == "onnx"
    # a table whose fields fit but which lacks ranges the graph needs (another exporter's tensor names)
    data = dict(table.ranges["data"])
    data.pop(sorted(data)[len(data) // 2])
    partial = dataclasses.replace(table, ranges={**table.ranges, "data": data})
    with pytest.raises(NotCalibratedError, match="has no range for 1 tensors"):
        load_runtime(SPEC, "onnx-int8", calibration=partial)
    # a garbled file names itself
    with pytest.raises(PosterGenreError, match="not a usable int8 calibration table"):
        CalibrationTable.from_json('{"format": 1, "backbone": "x"}', name="lite0.json")


def test_a_truncated_int8_graph_is_quantized_again(int8_home, tmp_path):
    folder = tmp_path / "runtimes"
    folder.mkdir()
    for source in int8_home["runtimes"].iterdir():  # the fp32 and int8 graphs, as copies
        (folder / source.name).write_bytes(source.read_bytes())
    graph = next(folder.glob(f"{SPEC.name}-int8-*.onnx"))
    whole = graph.read_bytes()
    graph.write_bytes(whole[:4096])
    rt = load_runtime(SPEC, "onnx-int8", cache_dir=folder)
    assert rt.model_path == graph and graph.read_bytes() == whole  # quantization is deterministic
    assert not list(folder.glob(".*.tmp"))


def test_posters_can_calibrate_instead_of_the_table(int8_home):
    store, shas = int8_home["store"], int8_home["shas"]
    with Catalog(int8_home["paths"].db) as catalog:
        calibration = Calibration.from_store(selected_posters(catalog), store, SPEC)
    assert calibration.names == tuple(shas[:CALIBRATION_POSTERS])
    rt = load_runtime(SPEC, "onnx-int8", calibration=calibration)
    assert rt.vector_key != vector_key(SPEC)  # other ranges, other graph, other vectors
    from postergenre.posters.images import decode_image

    images = [decode_image(store.path(s)) for s in shas[:8]]
    got, want = rt.embed(images), load_runtime(SPEC, "onnx").embed(images)
    assert _cosines(got, want).min() >= 0.98


def test_calibration_skips_posters_that_do_not_decode_and_needs_some(shared_data, shared_rows, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    calibration = Calibration.from_files(
        [shared_data / shared_rows[3]["poster"], broken, shared_data / shared_rows[4]["poster"]]
    )
    batches = list(calibration.batches(SPEC, batch_size=8))
    assert [b.shape for b in batches] == [(2, 3, 320, 224)]
    assert calibration.fingerprint != Calibration.from_files([shared_data / shared_rows[3]["poster"]]).fingerprint
    with pytest.raises(PosterGenreError, match="none is attached"):
        Calibration.from_store([], PosterStore(tmp_path / "posters"), SPEC)
