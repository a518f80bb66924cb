"""CLI commands: train (search + CV + artifact) and evaluate (metrics JSON + HTML report of a saved model)."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from ._app import HomeOption, RatingOption, YearMaxOption, YearMinOption, app, console, movie_filter, open_catalog, paths_for
from ..files import write_atomic


class HeadChoice(str, Enum):
    auto = "auto"
    logreg = "logreg"
    mlp = "mlp"
    ensemble = "ensemble"
    seed_cnn = "seed-cnn"


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def _headline_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("metric", "value", "95% interval", "prior baseline"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    for name, e in result["headline"].items():
        table.add_row(name, fmt(e["value"]), f"{fmt(e['ci_low'])} – {fmt(e['ci_high'])}", fmt(e["prior"]))
    return table


def _reproduce_command(args: dict[str, Any]) -> str:
    parts = ["postergenre", "train"]
    for flag, value in args.items():
        if value is None or value is False:
            continue
        if isinstance(value, list):
            for v in value:
                parts += [flag, str(v)]
        elif value is True:
            parts.append(flag)
        else:
            parts += [flag, str(value)]
    return shlex.join(parts)


@app.command()
def train(
    backbone: Annotated[Optional[str], typer.Option("--backbone", help="Backbone whose cached embeddings to use (default efficientnet-lite0).")] = None,
    feature_set: Annotated[str, typer.Option("--feature-set", help="Slice of the cached vector: pooled, pooled+stats, pooled+allstats or stats.")] = "pooled+allstats",
    head: Annotated[HeadChoice, typer.Option("--head", help="auto searches logreg and mlp; ensemble averages both; seed-cnn runs the predecessor's CNN on pixels (CV only).")] = HeadChoice.auto,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Head setting KEY=VALUE, or KEY=V1,V2 to search several (repeatable), e.g. --param hidden=256,512.")] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    inner_folds: Annotated[int, typer.Option("--inner-folds", min=2, help="Inner folds of the nested CV when several candidates are searched.")] = 3,
    min_examples: Annotated[int, typer.Option("--min-examples", min=1, help="Leave out genres with fewer movies than this.")] = 100,
    threshold_metric: Annotated[str, typer.Option("--threshold-metric", help="Per-genre threshold maximises this: f1, f0.5, f2 (any f<beta>).")] = "f1",
    holdout: Annotated[Optional[float], typer.Option("--holdout", help="Keep this stratified fraction out of training (then `evaluate --holdout` on it).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of splits and training.")] = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    limit: Annotated[int, typer.Option("--limit", min=10, help="seed-cnn only: posters used (a stratified subset; CPU time).")] = 2000,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="seed-cnn only: training epochs per fold.")] = 10,
    note: Annotated[Optional[str], typer.Option("--note", help="A sentence for the model card (e.g. where the settings were chosen).")] = None,
    embedded_only: Annotated[bool, typer.Option("--embedded-only", help="Use only posters already embedded (e.g. while `postergenre embed` runs) instead of refusing.")] = False,
    threads: Annotated[Optional[int], typer.Option("--threads", min=1, help="torch CPU threads (default: all cores; 1 is faster on a busy machine).")] = None,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Model folder to write (default HOME/models/<timestamp>).")] = None,
    home: HomeOption = None,
) -> None:
    """Train a genre head on cached embeddings: search, cross-validate, choose thresholds, save the artifact.

    Prints the table of tried settings and cross-validated metrics (nested CV when several candidates are
    searched, so the reported numbers were not used to choose the settings).
    """
    from ..model.search import parse_params
    from ..model.train import TrainOptions, assemble_dataset, train_model

    flt = movie_filter(rating, year_min, year_max)
    if head is HeadChoice.seed_cnn:
        _train_seed_cnn(flt, backbone, min_examples, folds, limit, epochs, seed, threshold_metric, out, home)
        return
    opts = TrainOptions(backbone=backbone, feature_set=feature_set, head=head.value, params=parse_params(param or []),
                        folds=folds, inner_folds=inner_folds, min_examples=min_examples,
                        threshold_metric=threshold_metric, seed=seed, bootstrap=bootstrap, holdout=holdout,
                        threads=threads)
    paths = paths_for(home)
    target = out or paths.models / _stamp()
    with open_catalog(home) as catalog:
        ds = assemble_dataset(catalog, flt=flt, backbone=backbone, feature_set=feature_set, min_examples=min_examples,
                              skip_unembedded=embedded_only)
    for msg in ds.messages:
        console.print(f"[yellow]note:[/yellow] {msg}", highlight=False)
    result = train_model(ds, opts, log=lambda s: console.print(s, highlight=False))
    command = _reproduce_command({
        "--home": str(paths.home), "--backbone": ds.backbone, "--feature-set": feature_set, "--head": head.value,
        "--param": param or [], "--folds": folds, "--inner-folds": inner_folds,
        "--min-examples": min_examples, "--threshold-metric": threshold_metric, "--holdout": holdout, "--seed": seed,
        "--rating": rating, "--year-min": year_min, "--year-max": year_max, "--embedded-only": embedded_only, "--note": note,
        "--threads": threads, "--out": str(target),
    })
    result.artifact.training_options["command"] = command
    result.artifact.training_options["filters"] = {"rating": rating, "year_min": year_min, "year_max": year_max}
    if note:
        result.artifact.training_options["note"] = note
    table = Table(title="tried settings (selection scores: k-fold CV on all data)")
    for col in ("candidate", "macro ROC AUC", "seconds"):
        table.add_column(col)
    for row in result.selection.table():
        table.add_row(row["label"], f"{row['macro_auc']:.4f}", str(row["seconds"]))
    console.print(table)
    console.print(_headline_table(result.evaluation, f"cross-validated metrics ({result.artifact.metrics['estimate']})"))
    cf = result.evaluation["cross_fitted_thresholds"]
    console.print(f"with thresholds tuned on other folds only: micro F1 {cf['micro_f1']:.3f}, macro F1 {cf['macro_f1']:.3f}")
    saved = result.artifact.save(target)
    console.print(f"model ({result.artifact.head_type}) saved to [bold]{saved}[/bold] in {result.seconds:.0f}s; reproduce with:\n  {command}", highlight=False)


def _train_seed_cnn(flt, backbone, min_examples, folds, limit, epochs, seed, threshold_metric, out, home) -> None:
    from ..model.baseline import seed_cnn_cv

    paths = paths_for(home)
    with open_catalog(home) as catalog:
        result = seed_cnn_cv(catalog, paths.posters, flt=flt, min_examples=min_examples, limit=limit, folds=folds,
                             epochs=epochs, seed=seed, threshold_metric=threshold_metric,
                             log=lambda s: console.print(s, highlight=False))
    console.print(_headline_table(result["cv"], f"seed-cnn {folds}-fold CV on {result['subset']['movies']} posters"))
    target = write_atomic((out or paths.reports) / f"seed-cnn-cv-{_stamp()}.json", json.dumps(result, indent=2) + "\n")
    console.print(f"seed-cnn is a baseline (no model artifact); results written to [bold]{target}[/bold]")


@app.command()
def evaluate(
    model: Annotated[Optional[Path], typer.Argument(help="Model folder (default: the bundled model).", show_default=False)] = None,
    holdout: Annotated[Optional[float], typer.Option("--holdout", help="Evaluate only this stratified fraction (the part `train --holdout` kept out).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the hold-out split and the bootstrap.")] = 0,
    bootstrap: Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML report path (default HOME/reports/evaluation-<timestamp>.html).")] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Metrics JSON path (default: the report path with .json).")] = None,
    home: HomeOption = None,
) -> None:
    """Evaluate a saved model on catalog movies: metrics with intervals and prior baseline, JSON + HTML report."""
    from ..evaluation.report import write_evaluation_report
    from ..model.artifact import DEFAULT_MODEL_DIR, ModelArtifact
    from ..model.train import evaluate_model

    artifact = ModelArtifact.load(model)
    paths = paths_for(home)
    with open_catalog(home) as catalog:
        result, ds, probs = evaluate_model(artifact, catalog, flt=movie_filter(rating, year_min, year_max),
                                           holdout_fraction=holdout, seed=seed, bootstrap=bootstrap,
                                           log=lambda s: console.print(s, highlight=False))
    html_path = out or paths.reports / f"evaluation-{_stamp()}.html"
    json_path = json_out or html_path.with_suffix(".json")
    model_name = str(model or DEFAULT_MODEL_DIR)
    notes = [f"Model: {model_name} ({artifact.head_type} on {artifact.backbone} {artifact.feature_set}, created {artifact.created_at}).",
             f"Data: {paths.home}" + (f", stratified hold-out {holdout:.0%} (seed {seed})" if holdout else ", all selected movies")
             + f"; {result['model']['relation']}."]
    write_evaluation_report(result, ds.Y, probs, ds.genres, html_path, notes=notes)
    write_atomic(json_path, json.dumps(result, indent=2) + "\n")
    console.print(_headline_table(result, f"{model_name} on {len(ds.ids):,} movies"))
    console.print(f"report: [bold]{html_path}[/bold]\nmetrics: [bold]{json_path}[/bold]", highlight=False)
