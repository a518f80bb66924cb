"""--help of every command shows flags as flags: `--explain`, not `--explain <bool>` (issue 18, defect 5)."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from postergenre.cli import app


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            out += _commands(sub, path + (name,))
    return out


COMMANDS = _commands(typer.main.get_command(app))


def test_every_command_is_covered() -> None:
    assert {("predict",), ("train",), ("catalog", "import"), ("serve",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "postergenre")
def test_help_shows_flags_as_flags(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output
    if path == ("predict",):
        line = next(text for text in result.output.splitlines() if "--explain " in text)
        assert line.split("--explain", 1)[1].lstrip(" │").startswith("Write heatmap")  # no value type between
