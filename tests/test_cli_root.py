"""The `postergenre` entry point itself: installed console script, version, command list."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import postergenre

SCRIPT = Path(sys.executable).with_name("postergenre")


def test_version_and_commands_from_the_installed_script() -> None:
    version = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"postergenre {postergenre.__version__}"
    helptext = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in ("catalog", "posters", "embed", "train", "evaluate", "predict", "similar", "compare", "serve", "report"):
        assert command in helptext


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    res = subprocess.run([str(SCRIPT), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "frobnicate" in res.stderr


def test_commands_that_select_movies_offer_every_filter() -> None:
    for command in (["catalog", "stats"], ["report", "dataset"], ["embed"]):
        res = subprocess.run([str(SCRIPT), *command, "--help"], capture_output=True, text=True, timeout=60,
                             env={"COLUMNS": "200", "PATH": ""})
        assert res.returncode == 0, res.stderr
        for option in ("--collection", "--rating", "--year-min", "--year-max"):
            assert option in res.stdout, (command, option)
