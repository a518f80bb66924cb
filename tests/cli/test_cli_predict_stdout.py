"""stdout carries only what a command was asked for: progress, notes and warnings go to stderr (issue 18, defect 1).

Run as a user runs it in a script: a real `postergenre` process whose stdout is a pipe (not a terminal), on enough
real posters that progress is reported.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sampling import spread

CLI = Path(sys.executable).with_name("postergenre")


@pytest.fixture(scope="module")
def many_posters(shared_data: Path, shared_rows: list[dict]) -> list[Path]:
    from postergenre.cli.predict import PROGRESS_FROM

    paths = [shared_data / r["poster"] for r in spread(shared_rows, 45) if (shared_data / r["poster"]).is_file()]
    assert len(paths) > PROGRESS_FROM
    return paths[: PROGRESS_FROM + 2]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_predict_many_posters_writes_only_the_results_to_stdout(many_posters, fmt):
    run = _run("predict", *map(str, many_posters), "--format", fmt)
    assert run.returncode == 0, run.stderr
    assert "predicting" in run.stderr  # progress was reported, on stderr
    if fmt == "json":
        parsed = json.loads(run.stdout)
        rows = parsed if isinstance(parsed, list) else parsed.get("predictions", parsed.get("results"))
        assert len(rows) == len(many_posters)
    else:
        rows = list(csv.DictReader(io.StringIO(run.stdout)))
        assert len(rows) == len(many_posters) and "source" in rows[0]
