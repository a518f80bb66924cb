"""The first prediction after the README set-up (import, attach, embed) is as quick as the later ones: `embed`
leaves the runtime's graph ready even when it has nothing left to embed, so `predict` exports nothing with torch
(issue 18, defect 6: 4–6 s and ~500 MB for the first answer before)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CLI = Path(sys.executable).with_name("postergenre")
_PREDICT = """
import json, sys, time
from postergenre import Predictor
start = time.perf_counter()
prediction = Predictor.load(home=sys.argv[1]).predict(sys.argv[2])
print(json.dumps({"torch": "torch" in sys.modules, "seconds": time.perf_counter() - start,
                  "decided": prediction.decided}))
"""


@pytest.mark.slow
def test_embed_with_nothing_left_leaves_the_graph_for_the_first_prediction(
    small_home: Path, tmp_path: Path, shared_data: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_home, home, symlinks=True)
    shutil.rmtree(home / "runtimes", ignore_errors=True)  # vectors cached, graph not (e.g. another runtime folder)
    env = {**os.environ, "POSTERGENRE_HOME": str(home)}
    embed = subprocess.run([str(CLI), "embed"], capture_output=True, text=True, env=env, timeout=600)
    assert embed.returncode == 0, embed.stderr
    assert "embedded 0" in embed.stdout  # nothing was left to embed ...
    assert list((home / "runtimes").glob("*.onnx"))  # ... and the graph is ready all the same
    poster = next(shared_data.joinpath("posters").glob("tt*.jpg"))
    run = subprocess.run(
        [sys.executable, "-c", _PREDICT, str(home), str(poster)], capture_output=True, text=True, env=env, timeout=600
    )
    assert run.returncode == 0, run.stderr
    first = json.loads(run.stdout)
    assert first["torch"] is False and first["decided"]  # no export: the predict path never imported torch
