"""The `postergenre` entry point itself: installed console script, version, command list."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import postergenre

SCRIPT = Path(sys.executable).with_name("postergenre")


def test_version_and_commands_from_the_installed_script() -> None:
    version = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"postergenre {postergenre.__version__}"
    helptext = subprocess.run([str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60).stdout
    for command in (
        "catalog",
        "posters",
        "embed",
        "train",
        "evaluate",
        "predict",
        "similar",
        "compare",
        "serve",
        "report",
    ):
        assert command in helptext


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    res = subprocess.run([str(SCRIPT), "frobnicate"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr and "frobnicate" in res.stderr


def test_commands_that_select_movies_offer_every_filter() -> None:
    for command in (["catalog", "stats"], ["report", "dataset"], ["embed"]):
        res = subprocess.run(
            [str(SCRIPT), *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={"COLUMNS": "200", "PATH": ""},
        )
        assert res.returncode == 0, res.stderr
        for option in ("--collection", "--rating", "--year-min", "--year-max"):
            assert option in res.stdout, (command, option)


_REGISTERED = """
import importlib, json, sys
from typer.main import get_command
cli = importlib.import_module("postergenre.cli")
app = cli.register(sys.argv[1] if len(sys.argv) > 1 else None)
group = get_command(app)
print(json.dumps({name: sorted(getattr(command, "commands", {})) for name, command in group.commands.items()}))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("postergenre.cli."))))
"""


def test_each_command_registers_from_its_own_module_alone() -> None:
    """`main` imports only the module of the command it runs (issue 26: the warm answer's start-up), so the map from
    command to module must name every command, and that module alone must register it."""
    from postergenre.cli import COMMAND_MODULES

    def registered(command: str | None = None) -> tuple[dict, list]:
        run = subprocess.run(
            [sys.executable, "-c", _REGISTERED, *([command] if command else [])],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        commands, modules = run.stdout.splitlines()
        return json.loads(commands), json.loads(modules)

    everything, _ = registered()
    assert sorted(everything) == sorted(COMMAND_MODULES)
    for command, module in COMMAND_MODULES.items():
        alone, modules = registered(command)
        assert command in alone and alone[command] == everything[command], command  # groups keep all their commands
        assert f"postergenre.cli.{module}" in modules
    _, for_predict = registered("predict")
    assert not {"postergenre.cli.service", "postergenre.cli.features", "postergenre.cli.catalog"} & set(for_predict)
