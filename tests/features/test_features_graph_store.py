"""Runtime graphs are built once per installation and shared by every data folder (issue 26): the first answer in
a fresh data folder reads the installation's graph (no torch, no export), concurrent first runs without one build it
once, and a folder that cannot be written falls through to the next."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from postergenre.features.graph_store import RUNTIMES_ENV, GraphStore
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import INT8_KIND, int8_cache_key, load_runtime, prepare_installation, shipped_table

SPEC = get_backbone()
# The CLI's first answer, with what the process imported and which graph it ran, on stderr at exit.
_FIRST_ANSWER = """
import atexit, json, sys
from postergenre.features import runtime

opened = []
original = runtime.OnnxRuntime.__init__
def spy(self, spec, model, threads=None):
    opened.append(str(model) if not isinstance(model, bytes) else "<bytes>")
    original(self, spec, model, threads)
runtime.OnnxRuntime.__init__ = spy
atexit.register(lambda: print("FIRST-ANSWER " + json.dumps({"torch": "torch" in sys.modules, "opened": opened,
                                                             "exported": runtime._export_checked.cache_info().misses}),
                              file=sys.stderr))
from postergenre.cli import main
sys.argv = ["postergenre", "predict", *sys.argv[1:], "--format", "json"]
main()
"""


def _first_answer(poster: Path, home: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", _FIRST_ANSWER, str(poster), "--home", str(home)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(run: subprocess.Popen) -> tuple[list, dict, str]:
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    line = next(text for text in err.splitlines() if text.startswith("FIRST-ANSWER "))
    return json.loads(out), json.loads(line.removeprefix("FIRST-ANSWER ")), err


def test_a_fresh_data_folder_answers_from_the_installation_graph(
    tmp_path: Path, shared_data: Path, shared_rows: list[dict]
) -> None:
    built = prepare_installation()  # what `make install` ran: a file check here
    int8 = next(path for path in built if "-int8-" in path.name)
    assert int8.parent in GraphStore.installation().paths
    table = shipped_table(SPEC)
    assert json.loads(int8.with_suffix(".json").read_text()) == int8_cache_key(SPEC, table.fingerprint)
    stamp = int8.stat().st_mtime_ns
    home = tmp_path / "fresh-home"
    poster = shared_data / shared_rows[len(shared_rows) // 2]["poster"]

    answer, seen, _ = _finish(_first_answer(poster, home, dict(os.environ)))

    assert seen == {"torch": False, "opened": [str(int8)], "exported": 0}
    assert answer[0]["decided"] and int8.stat().st_mtime_ns == stamp  # read, not rebuilt
    assert not (home / "runtimes").exists()  # nothing copied into the data folder


@pytest.mark.slow
def test_two_first_runs_without_an_installation_graph_build_one(
    tmp_path: Path, shared_data: Path, shared_rows: list[dict]
) -> None:
    folder = tmp_path / "installation-runtimes"  # missing: as after a pip install without `make install`
    env = {**os.environ, RUNTIMES_ENV: str(folder)}
    poster = shared_data / shared_rows[len(shared_rows) // 3]["poster"]
    runs = [_first_answer(poster, tmp_path / f"home-{i}", env) for i in range(2)]
    (first, _, first_err), (second, _, second_err) = (_finish(run) for run in runs)

    assert first == second and first[0]["decided"]
    notes = [line for line in (first_err + second_err).splitlines() if line.startswith("building the runtime graph")]
    assert len([n for n in notes if "-int8-" in n]) == 1  # one built it; the other waited and read it
    graphs = sorted(p.name for p in folder.glob("*.onnx"))
    assert [g.split("-")[2] for g in graphs] == ["fp32", "int8"]  # one graph of each, no half-written temporaries
    assert not list(folder.glob("*.tmp"))
    want = load_runtime(SPEC, INT8_KIND, cache_dir=GraphStore.installation())
    got = load_runtime(SPEC, INT8_KIND, cache_dir=GraphStore(((folder, True),)))
    assert got.model_path.read_bytes() == want.model_path.read_bytes()  # the same graph as the installation's


def test_a_folder_that_cannot_be_written_falls_through_to_the_next(tmp_path: Path) -> None:
    read_only = Path("/proc/postergenre-runtimes")  # a file system no one writes, root included
    fallback = tmp_path / "user-cache"
    store = GraphStore(((read_only, True), (fallback, False)))
    calls: list[int] = []

    def build() -> bytes:
        calls.append(1)
        return b"graph"

    opened = store.obtain("g-int8-1.onnx", build, {"key": 1}, lambda graph: graph)
    assert opened == fallback / "g-int8-1.onnx" and opened.read_bytes() == b"graph" and calls == [1]
    assert json.loads((fallback / "g-int8-1.json").read_text()) == {"key": 1}
    assert store.obtain("g-int8-1.onnx", build, {"key": 1}, lambda graph: graph) == opened and calls == [1]
    (fallback / "g-int8-0.onnx").write_bytes(b"older key")  # the per-user folder may serve other installations
    store.obtain("g-int8-2.onnx", build, {"key": 2}, lambda graph: graph, stale="g-int8-*.onnx")
    assert (fallback / "g-int8-0.onnx").exists() and calls == [1, 1]

    nowhere = GraphStore(((read_only, True),))
    assert nowhere.obtain("g-int8-1.onnx", build, {"key": 1}, lambda graph: graph) == b"graph"  # kept in memory


def test_an_unreadable_graph_is_built_again_and_old_keys_are_pruned(tmp_path: Path) -> None:
    folder = tmp_path / "runtimes"
    folder.mkdir()
    (folder / "g-int8-0.onnx").write_bytes(b"older key")
    (folder / "g-int8-1.onnx").write_bytes(b"truncated")

    def open_graph(graph):
        if Path(graph).read_bytes() != b"whole":
            raise ValueError("not a graph")
        return graph

    store = GraphStore(((folder, True),))
    built = store.obtain("g-int8-1.onnx", lambda: b"whole", {}, open_graph, stale="g-int8-*.onnx")
    assert built == folder / "g-int8-1.onnx"
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == ["g-int8-1.json", "g-int8-1.onnx"]


def test_a_folder_of_ones_own_holds_a_copy_of_the_installation_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    installation = tmp_path / "installation"
    monkeypatch.setenv(RUNTIMES_ENV, str(installation))
    own = GraphStore.own(tmp_path / "home" / "runtimes")
    calls: list[int] = []

    def build() -> bytes:
        calls.append(1)
        return b"graph"

    path = own.obtain("g-fp32-1.onnx", build, {"key": 1}, lambda graph: graph)
    assert path == tmp_path / "home" / "runtimes" / "g-fp32-1.onnx" and path.read_bytes() == b"graph"
    assert (installation / "g-fp32-1.onnx").read_bytes() == b"graph" and calls == [1]  # built there, once
    assert GraphStore.own(tmp_path / "other").obtain("g-fp32-1.onnx", build, {}, lambda g: g).read_bytes() == b"graph"
    assert calls == [1] and own.private() == GraphStore(own.folders) and GraphStore.installation().private() is None

    (installation / "g-fp32-2.onnx").write_bytes(b"truncated")  # the source's graph does not open: rebuilt, not copied

    def whole(graph):
        if Path(graph).read_bytes() != b"graph":
            raise ValueError("not a graph")
        return graph

    path = own.obtain("g-fp32-2.onnx", build, {"key": 2}, whole)
    assert path.read_bytes() == (installation / "g-fp32-2.onnx").read_bytes() == b"graph" and calls == [1, 1]
