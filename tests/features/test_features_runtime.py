"""Inference runtimes: ONNX Runtime equals torch on real posters, its exported graph is cached by key, and the
ONNX path runs without importing torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.errors import PosterGenreError
from postergenre.features.cache import EmbeddingCache
from postergenre.features.embed import embed_catalog, selected_posters
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import (
    PARITY_ATOL,
    RuntimeUnavailableError,
    load_runtime,
    onnx_cache_key,
    onnx_model_path,
)
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore
from sampling import spread

SPEC = get_backbone()


@pytest.fixture(scope="module")
def runtime_cache(tmp_path_factory) -> Path:
    """A runtimes folder holding the exported graph of the default backbone."""
    folder = tmp_path_factory.mktemp("runtimes")
    assert load_runtime(SPEC, "onnx", cache_dir=folder).name == "onnx"
    return folder


@pytest.fixture(scope="module")
def torch_rt():
    return load_runtime(SPEC, "torch")


@pytest.fixture(scope="module")
def posters(shared_data, shared_rows) -> list:
    return [decode_image(shared_data / row["poster"]) for row in shared_rows[3:3000:125]]  # 24 real posters


def test_onnx_features_equal_torch_on_real_posters(runtime_cache, torch_rt, posters):
    onnx = load_runtime(SPEC, "onnx", cache_dir=runtime_cache)
    got, want = onnx.embed(posters), torch_rt.embed(posters)
    assert got.shape == want.shape == (len(posters), SPEC.feature_dim) and got.dtype == np.float32
    assert np.abs(got - want).max() <= PARITY_ATOL
    # batch composition does not change a poster's vector; embed_pixels is embed without the preprocessing
    np.testing.assert_allclose(onnx.embed(posters[:5], batch_size=1), got[:5], rtol=0, atol=1e-5)
    np.testing.assert_array_equal(onnx.embed_pixels(SPEC.preprocessing.batch(posters[:4])), got[:4])
    assert len({v.tobytes() for v in got}) == len(posters)


def test_the_exported_graph_is_cached_by_key_and_rebuilt_when_it_breaks(runtime_cache, tmp_path):
    path = onnx_model_path(SPEC, runtime_cache)
    assert path.is_file() and path.parent == runtime_cache and path.name.startswith(f"{SPEC.name}-fp32-")
    key = json.loads(path.with_suffix(".json").read_text())
    assert key == onnx_cache_key(SPEC)
    assert key["weights_sha256"] == SPEC.weights.sha256 and key["preprocess_version"] == SPEC.preprocess_version
    assert {"torch", "onnx", "onnxruntime", "opset"} <= key.keys()
    # the export is simplified: no Pad (folded into the convolutions, asymmetric where TF "same" padding is),
    # no shape arithmetic left from the library's dynamic padding
    import onnx

    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("Conv") == 49 and not {"Pad", "Shape", "Gather"} & set(ops)
    asymmetric = [
        list(a.ints)
        for node in onnx.load(str(path)).graph.node
        if node.op_type == "Conv"
        for a in node.attribute
        if a.name == "pads" and a.ints[:2] != a.ints[2:]
    ]
    assert asymmetric  # the stride-2 convolutions' extra row/column at the bottom/right
    # every part of the key moves the file
    assert onnx_model_path(SPEC, runtime_cache, "0" * 64) != path
    assert onnx_model_path(get_backbone("efficientnet-lite1"), runtime_cache).name.startswith("efficientnet-lite1-")

    folder = tmp_path / "runtimes"
    folder.mkdir()
    stale = folder / f"{SPEC.name}-fp32-0123456789abcdef.onnx"  # left by an older torch, say
    stale.write_bytes(b"old")
    fresh = load_runtime(SPEC, "onnx", cache_dir=folder)
    mine = onnx_model_path(SPEC, folder)
    assert fresh.model_path == mine and mine.read_bytes() == path.read_bytes() and not stale.exists()
    stamp = mine.stat().st_mtime_ns
    assert load_runtime(SPEC, "onnx", cache_dir=folder).model_path == mine and mine.stat().st_mtime_ns == stamp

    mine.write_bytes(mine.read_bytes()[:4096])  # a truncated file (disk full, killed copy)
    again = load_runtime(SPEC, "onnx", cache_dir=folder)
    assert mine.read_bytes() == path.read_bytes()
    probe = SPEC.preprocessing.batch([_noise_poster()])
    np.testing.assert_array_equal(again.embed_pixels(probe), fresh.embed_pixels(probe))
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temporary files


def _noise_poster():
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (268, 182, 3), dtype=np.uint8))


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )


def test_the_onnx_path_imports_no_torch_once_the_graph_exists(runtime_cache, shared_data, shared_rows):
    poster = shared_data / shared_rows[3]["poster"]
    done = _python(f"""
        import json, sys
        from pathlib import Path
        from postergenre.features.embed import embed_images
        from postergenre.features.registry import get_backbone
        from postergenre.features.runtime import load_runtime
        from postergenre.posters.images import decode_image
        out = {{}}
        for kind in ("auto", "onnx"):  # auto: int8, quantized here from the cached fp32 graph if need be
            rt = load_runtime(get_backbone(), kind, cache_dir=Path({str(runtime_cache)!r}))
            out[kind] = {{"runtime": rt.name, "vector": embed_images([decode_image({str(poster)!r})], rt)[0].tolist()}}
        out["torch"] = "torch" in sys.modules
        print(json.dumps(out))
    """)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["auto"]["runtime"], out["onnx"]["runtime"], out["torch"]) == ("onnx-int8", "onnx", False)
    for kind in ("onnx-int8", "onnx"):
        here = load_runtime(SPEC, kind, cache_dir=runtime_cache).embed([decode_image(poster)])[0]
        np.testing.assert_array_equal(
            np.asarray(out["auto" if kind == "onnx-int8" else kind]["vector"], dtype=np.float32), here
        )


def test_auto_falls_back_to_torch_without_onnxruntime(tmp_path):
    # The one fault we cannot provoke on an installed machine: onnxruntime missing. Hide it from the import system.
    done = _python(f"""
        import sys
        sys.modules["onnxruntime"] = None
        from postergenre.features.registry import get_backbone
        from postergenre.features.runtime import RuntimeUnavailableError, load_runtime
        print(load_runtime(get_backbone(), "auto", cache_dir={str(tmp_path)!r}).name)
        try:
            load_runtime(get_backbone(), "onnx", cache_dir={str(tmp_path)!r})
        except RuntimeUnavailableError as exc:
            print("refused:", exc)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "torch" and lines[1].startswith("refused:") and "pip install onnxruntime" in lines[1]
    assert not list(tmp_path.iterdir())
    assert issubclass(RuntimeUnavailableError, PosterGenreError)


def test_unknown_runtime_and_wrong_input_shape_are_refused(runtime_cache):
    with pytest.raises(PosterGenreError, match="unknown runtime 'tensorrt'"):
        load_runtime(SPEC, "tensorrt")
    rt = load_runtime(SPEC, "onnx", cache_dir=runtime_cache)
    with pytest.raises(ValueError, match=r"\[N, 3, 320, 224\]"):
        rt.embed_pixels(np.zeros((1, 3, 224, 224), dtype=np.float32))


def test_torch_thread_count_is_restored_after_concurrent_use(torch_rt, posters):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        seen: list[int] = []
        rt = load_runtime(SPEC, "torch", threads=1, net=torch_rt.net)

        def work():
            rt.embed(posters[:4])
            seen.append(torch.get_num_threads())

        workers = [threading.Thread(target=work) for _ in range(3)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert len(seen) == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_vectors_cached_by_one_runtime_serve_the_other(
    tmp_path, shared_rows, make_poster_home, runtime_cache, torch_rt
):
    home = make_poster_home(tmp_path, spread(shared_rows, 20, 11))
    paths = get_paths(home)
    store = PosterStore(paths.posters)
    with Catalog(paths.db) as catalog:
        first = embed_catalog(catalog, store, SPEC, runtime=torch_rt, workers=2)
        assert first.runtime == "torch" and first.embedded == first.posters > 0
        second = embed_catalog(catalog, store, SPEC, runtime="onnx", runtime_cache=runtime_cache)
        assert (second.embedded, second.cached_before) == (0, first.posters)  # same cache key: nothing to do
        shas = selected_posters(catalog)
    with EmbeddingCache(paths.db, SPEC.name, SPEC.preprocess_version) as cache:
        cached = cache.get(shas)
    onnx = load_runtime(SPEC, "onnx", cache_dir=runtime_cache).embed([decode_image(store.path(s)) for s in shas])
    assert np.abs(onnx - cached).max() <= PARITY_ATOL
