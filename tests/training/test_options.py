"""`train`'s options are declared once (training/options.py): the CLI's flags and the reproduce command come from the
declaration, so a command written for a model parses back into exactly its options."""

from __future__ import annotations

import shlex
from dataclasses import fields

import pytest
import typer
from typer.testing import CliRunner

from postergenre.cli import app
from postergenre.training.options import TrainOptions, flag_of

CLI_ONLY = {"limit", "epochs", "out", "home"}


def _train_command() -> typer.core.TyperCommand:
    return typer.main.get_command(app).commands["train"]  # type: ignore[attr-defined]


def _parsed(command: str) -> TrainOptions:
    """The options the `train` command line `command` gives (parsed by the CLI itself, nothing run)."""
    args = shlex.split(command)[2:]
    params = _train_command().make_context("train", args).params
    params["head"] = params["head"].value
    return TrainOptions.from_flags({k: v for k, v in params.items() if k not in CLI_ONLY})


def test_every_option_is_a_flag_of_train_with_its_declared_help() -> None:
    options = {p.name: p for p in _train_command().params}
    assert set(options) - CLI_ONLY - {"help"} == {f.name for f in fields(TrainOptions)}
    for f in fields(TrainOptions):
        flag, option = flag_of(f), options[f.name]
        assert flag.names[0] in option.opts
        assert option.help  # the filters' help is the one every selecting command shares
        if flag.help is not None:
            assert option.help == flag.help


@pytest.mark.parametrize(
    "opts",
    [
        TrainOptions(),
        TrainOptions(
            backbone="efficientnet-lite1",
            feature_set="pooled",
            head="mlp",
            params={"hidden": [256, 512]},
            search=True,
            folds=3,
            inner_folds=2,
            min_examples=20,
            threshold_metric="f0.5",
            seed=7,
            bootstrap=50,
            compact=False,
            holdout=0.25,
            threads=1,
            rating="G,PG",
            year_min=1990,
            year_max=2010,
            collection="studio,general",
            embedded_only=True,
            note="a note",
            studio=False,
        ),
        TrainOptions(head="auto", params={"l2": [0.001, 0.1]}),
    ],
    ids=["defaults", "every-option", "auto-search"],
)
def test_the_reproduce_command_parses_back_into_the_same_options(opts: TrainOptions) -> None:
    command = opts.command()
    first = "--feature-set" if opts.backbone is None else "--backbone"  # a saved model names the backbone it used
    assert command.startswith(f"postergenre train {first}")
    again = _parsed(command)
    if not opts.searches:  # only a search uses inner folds: left out, so the parsed value is the default
        again.inner_folds = opts.inner_folds
    assert again == opts


def test_a_switch_away_from_its_default_is_written_as_its_flag() -> None:
    command = TrainOptions(compact=False, studio=False, search=True, embedded_only=True).command()
    assert "--no-compact" in command and "--no-studio" in command
    assert "--search" in command and "--embedded-only" in command
    assert "--compact " not in command + " " and "--studio " not in command + " "


def test_help_groups_the_options() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for section in ("Data", "Model", "Cross-validation", "Output", "seed-cnn baseline"):
        assert section in result.output
    assert "auto|logreg|mlp|ensemble|seed-cnn" in result.output
