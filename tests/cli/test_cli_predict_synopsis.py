"""`postergenre predict --synopsis "..."` with no poster: the story's genres, marked "from the synopsis only" (the
installed console script, in a subprocess, with the bundled model)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLOT = "A documentary following the lives of honeybees through one year in an English meadow."
EXE = Path(sys.executable).with_name("postergenre")


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "POSTERGENRE_HOME": str(home)}
    return subprocess.run([str(EXE), "predict", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def home(tmp_path_factory, model_dir) -> Path:
    from postergenre.model.artifact import ModelArtifact
    from postergenre.predict.core import ModelCore

    if not ModelCore(ModelArtifact.load(model_dir), embedder=None).has_synopsis:
        pytest.skip("the model under test has no synopsis head")
    return tmp_path_factory.mktemp("home")


def test_synopsis_alone_as_json_table_and_csv(home: Path, model_dir: Path) -> None:
    done = _run("--synopsis", PLOT, "--format", "json", "--model", str(model_dir), home=home)
    assert done.returncode == 0, done.stderr
    [reading] = json.loads(done.stdout)  # stdout carries only the answer
    assert reading["source"] == "synopsis" and reading["signal"] == "synopsis"
    assert reading["decided"][0] == "Documentary"
    assert reading["summary"]["text"].startswith("From the synopsis only: reads as")
    assert "poster_check" not in reading

    table = _run("--synopsis", PLOT, "--model", str(model_dir), home=home)
    assert table.returncode == 0, table.stderr
    assert "From the synopsis only" in table.stdout and "Documentary" in table.stdout

    rows = list(
        csv.DictReader(
            io.StringIO(
                _run("--synopsis", PLOT, "-f", "csv", "--top-k", "2", "--model", str(model_dir), home=home).stdout
            )
        )
    )
    assert len(rows) == 1 and rows[0]["signal"] == "synopsis" and len(rows[0]["decided"].split("|")) == 2
    assert float(rows[0]["Documentary"]) == pytest.approx(reading["probabilities"]["Documentary"], abs=1e-6)


def test_neither_poster_nor_synopsis_is_a_usage_error(home: Path, model_dir: Path) -> None:
    done = _run("--model", str(model_dir), home=home)
    assert done.returncode == 2 and "--synopsis" in done.stderr and not done.stdout
    blank = _run("--synopsis", "   ", "--model", str(model_dir), home=home)
    assert blank.returncode == 2 and "empty" in blank.stderr
