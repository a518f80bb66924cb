"""CLI commands: train (search + CV + artifact) and evaluate (metrics JSON + HTML report of a saved model)."""

from __future__ import annotations

import inspect
import json
import shlex
import typing
from copy import copy
from dataclasses import MISSING, fields
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ..files import write_atomic
from ._app import (
    CollectionOption,
    HomeOption,
    RatingOption,
    YearMaxOption,
    YearMinOption,
    app,
    console,
    err_console,
    movie_filter,
    open_catalog,
    output_file,
    output_folder,
    paths_for,
)
from ._output import print_table
from ._progress import progress_display

SEED_CNN = "seed-cnn"
"""`--head seed-cnn`: the predecessor's CNN on pixels, a baseline scored by CV (no model artifact)."""
FILTER_OPTIONS: dict[str, Any] = {
    "--rating": RatingOption,
    "--year-min": YearMinOption,
    "--year-max": YearMaxOption,
    "--collection": CollectionOption,
}
"""The data filters every selecting command shares, by flag: an option declared with no help of its own is one."""


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def _headline_table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("metric", "value", "95% interval", "prior baseline"):
        table.add_column(col, justify="right" if col != "metric" else "left")
    fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    for name, e in result["headline"].items():
        table.add_row(name, fmt(e["value"]), f"{fmt(e['ci_low'])} – {fmt(e['ci_high'])}", fmt(e["prior"]))
    return table


def _option_parameter(f: Any, hint: Any) -> inspect.Parameter:
    """The `train` parameter of one TrainOptions field, from its declaration (`training.options.Flag`)."""
    from ..training.options import flag_of

    flag = flag_of(f)
    default = f.default_factory() if f.default is MISSING else f.default
    if flag.help is None:
        annotation = _in_panel(FILTER_OPTIONS[flag.decls], flag.panel)
    else:
        settings: dict[str, Any] = {"help": flag.help, "rich_help_panel": flag.panel}
        if flag.minimum is not None:
            settings["min"] = flag.minimum
        if flag.choices:  # the head: the options' choices and this command's baseline
            names = {c: c for c in (*flag.choices, SEED_CNN)}
            # mypy's enum support wants a literal class name; this one is made per option at run time
            choice: type[Enum] = Enum(f"{f.name}_choice", names, type=str)  # type: ignore[misc]
            hint, default = choice, choice(default)
        if flag.repeated:
            hint, default = list[str] | None, None
        annotation = Annotated[hint, typer.Option(flag.decls, **settings)]
    return inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _in_panel(shared: Any, panel: str) -> Any:
    """A shared option (an `Annotated[type, typer.Option(...)]`) shown in the --help section `panel`."""
    hint, info = typing.get_args(shared)
    info = copy(info)
    info.rich_help_panel = panel
    return Annotated[hint, info]


def _train_parameters() -> list[inspect.Parameter]:
    """Every TrainOptions field as a `train` option, then the options of this command alone."""
    from ..training.options import TrainOptions

    hints = typing.get_type_hints(TrainOptions)
    params = [_option_parameter(f, hints[f.name]) for f in fields(TrainOptions)]
    own: dict[str, tuple[Any, Any]] = {
        "limit": (
            Annotated[
                int,
                typer.Option(
                    "--limit",
                    min=10,
                    rich_help_panel="seed-cnn baseline",
                    help=("seed-cnn only: posters used (a stratified subset; CPU time)."),
                ),
            ],
            2000,
        ),
        "epochs": (
            Annotated[
                int,
                typer.Option(
                    "--epochs",
                    min=1,
                    rich_help_panel="seed-cnn baseline",
                    help="seed-cnn only: training epochs per fold.",
                ),
            ],
            10,
        ),
        "out": (
            Annotated[
                Path | None,
                typer.Option(
                    "--out",
                    callback=output_folder,
                    rich_help_panel="Output",
                    help=("Model folder to write (default HOME/models/<timestamp>)."),
                ),
            ],
            None,
        ),
        "home": (_in_panel(HomeOption, "Data"), None),
    }
    return params + [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
        for name, (annotation, default) in own.items()
    ]


def train(**values: Any) -> None:
    """Train a genre head on cached embeddings: cross-validate, choose thresholds, save the artifact.

    By default fits the measured winner (logistic regression, l2=3e-3, pooled+allstats features) with 5-fold
    CV, and with a studio collection the studio extensions; it prints its wall time (benchmarks/train_speed.py
    measures the poster head). --search / --head auto search the settings with
    nested CV (so the reported numbers were not used to choose them); finished folds are kept under
    HOME/cache/train-folds, so rerunning the same command after Ctrl+C continues where it stopped.
    """
    from ..training.options import TrainOptions
    from ..training.train import train as train_all
    from .features import embed_first

    limit, epochs, out, home = (values.pop(k) for k in ("limit", "epochs", "out", "home"))
    values["head"] = values["head"].value
    flt = movie_filter(home, values["rating"], values["year_min"], values["year_max"], values["collection"])
    if values["head"] == SEED_CNN:
        _train_seed_cnn(
            flt,
            values["backbone"],
            values["min_examples"],
            values["folds"],
            limit,
            epochs,
            values["seed"],
            values["threshold_metric"],
            out,
            home,
        )
        return
    opts = TrainOptions.from_flags(values)
    opts.candidates()  # a bad --param fails now, not after loading 18,000 vectors
    paths = paths_for(home)
    target = out or paths.models / _stamp()
    cache_root = paths.home / "cache" / "train-folds"
    with open_catalog(home) as catalog:
        if not opts.embedded_only:  # --embedded-only previews what is there while `embed` runs
            embed_first(catalog, home, opts.movie_filter(), opts.backbone, opts.view_names)
        ds = opts.dataset(catalog)
        movies = catalog.movies() if opts.studio else []  # studio films train the extensions (unless --no-studio)
    for msg in ds.messages:
        err_console.print(f"[yellow]note:[/yellow] {msg}", highlight=False)
    log = lambda s: err_console.print(s, highlight=False)  # noqa: E731  (progress notes: stderr)
    try:
        with progress_display() as show:
            result = train_all(ds, opts, log, movies=movies, progress=show, cache_dir=cache_root)
    except KeyboardInterrupt:
        kept = sum(1 for _ in cache_root.rglob("*.npy")) if cache_root.is_dir() else 0
        err_console.print(
            f"{kept} finished fold fits are kept in {cache_root}; the same command continues from them", highlight=False
        )
        raise
    _print_training(result, opts, target, paths.home)


# inspect (and so Typer) reads a function's __signature__; typeshed does not declare the attribute
train.__signature__ = inspect.Signature(_train_parameters())  # type: ignore[attr-defined]
app.command()(train)


def _print_training(result: Any, opts: Any, target: Path, home: Path) -> None:
    """The tables of a finished training, the model saved to `target`, and the command that reproduces it."""
    from ..render.model_card import model_card

    if result.reused_folds:
        console.print(
            f"{result.reused_folds} fold fits reused (computed once for selection and nested CV, or kept "
            "from an interrupted run)",
            highlight=False,
        )
    table = Table(
        title="tried settings (selection scores: k-fold CV on all data)"
        if len(result.selection.rows) > 1
        else "cross-validation of the fixed settings"
    )
    for col in ("candidate", "macro ROC AUC", "seconds"):
        table.add_column(col)
    for row in result.selection.table():
        table.add_row(row["label"], f"{row['macro_auc']:.4f}", str(row["seconds"]))
    print_table(table)
    estimate = result.artifact.metrics["estimate"]
    print_table(_headline_table(result.evaluation, f"cross-validated metrics ({estimate})"))
    cf = result.evaluation["cross_fitted_thresholds"]
    console.print(
        f"with thresholds tuned on other folds only: micro F1 {cf['micro_f1']:.3f}, macro F1 {cf['macro_f1']:.3f}"
    )
    saved = result.artifact.save(target, card=model_card(result.artifact.metadata()))
    result.fold_cache.clear()  # its fold results only serve to resume an interrupted run
    _print_studio_summary(result.artifact.metrics.get("studio"))
    command = f"{result.artifact.training_options['command']} --out {shlex.quote(str(saved))}"
    included = " (studio extensions included)" if result.studio else ""
    console.print(
        f"model ({result.artifact.head_type}) saved to [bold]{saved}[/bold] in {result.seconds:.0f}s"
        f"{included}; reproduce with POSTERGENRE_HOME={home}:\n  {command}",
        highlight=False,
    )


def _print_studio_summary(studio: dict | None) -> None:
    """The studio films' cross-validated numbers (CV on studio films only): poster alone, synopsis, both."""
    if not studio:
        return
    table = Table(title=f"the studio's films ({studio.get('scope', 'CV on studio films only')})")
    for col in ("signal", "films", "macro ROC AUC", "Family ROC AUC", "micro F1"):
        table.add_column(col)
    for key, label in (
        ("studio_poster", "poster (domain-aware)"),
        ("studio_synopsis", "synopsis alone"),
        ("studio_fused", "poster + synopsis"),
    ):
        row = studio.get(key)
        if row and "headline" in row:
            h = row["headline"]
            family = row.get("family_auc")
            table.add_row(
                label,
                str(row.get("n_movies", "")),
                f"{h['macro_auc']['value']:.3f}",
                "" if family is None else f"{family:.3f}",
                f"{h['micro_f1']['value']:.3f}",
            )
    print_table(table)


def _train_seed_cnn(flt, backbone, min_examples, folds, limit, epochs, seed, threshold_metric, out, home) -> None:
    from ..training.baseline import seed_cnn_cv

    paths = paths_for(home)
    with open_catalog(home) as catalog:
        result = seed_cnn_cv(
            catalog,
            paths.posters,
            flt=flt,
            min_examples=min_examples,
            limit=limit,
            folds=folds,
            epochs=epochs,
            seed=seed,
            threshold_metric=threshold_metric,
            log=lambda s: err_console.print(s, highlight=False),
        )
    print_table(_headline_table(result["cv"], f"seed-cnn {folds}-fold CV on {result['subset']['movies']} posters"))
    target = write_atomic((out or paths.reports) / f"seed-cnn-cv-{_stamp()}.json", json.dumps(result, indent=2) + "\n")
    console.print(f"seed-cnn is a baseline (no model artifact); results written to [bold]{target}[/bold]")


def _gallery(ds: Any, probs: Any, posters: Path, size: int) -> list[Any]:
    """The report's best and worst posters per genre (`size` each; 0: no gallery)."""
    if not size:
        return []
    from ..evaluation.gallery import best_and_worst
    from ..posters.store import PosterStore

    poster_path = _poster_paths(PosterStore(posters), ds.shas)
    return best_and_worst(ds.Y, probs, ds.genres, ds.ids, ds.titles, poster_path, n=size)


def _poster_paths(store: Any, shas: list[str]):
    """Row -> stored poster path (None when the file is gone: the gallery shows the title without a picture)."""

    def path(i: int) -> Path | None:
        try:
            return store.path(shas[i])
        except (FileNotFoundError, ValueError):
            return None

    return path


EvaluatedModelArgument = Annotated[
    Path | None, typer.Argument(help="Model folder (default: the bundled model).", show_default=False)
]
HoldoutOption = Annotated[
    float | None,
    typer.Option("--holdout", help="Evaluate only this stratified fraction (the part `train --holdout` kept out)."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the hold-out split and the bootstrap.")]
BootstrapOption = Annotated[int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for the 95% intervals.")]
ReportOption = Annotated[
    Path | None,
    typer.Option(
        "--out", callback=output_file, help="HTML report path (default HOME/reports/evaluation-<timestamp>.html)."
    ),
]
MetricsJsonOption = Annotated[
    Path | None,
    typer.Option("--json", callback=output_file, help="Metrics JSON path (default: the report path with .json)."),
]
GalleryOption = Annotated[
    int, typer.Option("--gallery", min=0, help="Best and worst posters shown per genre in the report (0: no gallery).")
]


@app.command()
def evaluate(
    model: EvaluatedModelArgument = None,
    holdout: HoldoutOption = None,
    seed: SeedOption = 0,
    bootstrap: BootstrapOption = 1000,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    collection: CollectionOption = None,
    out: ReportOption = None,
    json_out: MetricsJsonOption = None,
    gallery_size: GalleryOption = 3,
    home: HomeOption = None,
) -> None:
    """Evaluate a saved model on catalog movies: metrics with intervals and prior baseline, per segment (collection,
    G/PG; poster only and with synopsis), JSON + HTML report."""
    from ..evaluation.evaluate import evaluate_model
    from ..model.artifact import DEFAULT_MODEL_DIR, ModelArtifact
    from ..model.layout import saved_views
    from ..render.evaluation_report import write_evaluation_report
    from .features import embed_first

    artifact = ModelArtifact.load(model)
    paths = paths_for(home)
    with open_catalog(home) as catalog:
        flt = movie_filter(home, rating, year_min, year_max, collection)
        embed_first(catalog, home, flt, artifact.backbone, saved_views(artifact.head_config))
        result, ds, probs = evaluate_model(
            artifact,
            catalog,
            flt=flt,
            holdout_fraction=holdout,
            seed=seed,
            bootstrap=bootstrap,
            log=lambda s: err_console.print(s, highlight=False),
        )
    html_path = out or paths.reports / f"evaluation-{_stamp()}.html"
    json_path = json_out or html_path.with_suffix(".json")
    model_name = str(model or DEFAULT_MODEL_DIR)
    notes = [
        (
            f"Model: {model_name} ({artifact.head_type} on {artifact.backbone} {artifact.feature_set}, "
            f"created {artifact.created_at})."
        ),
        f"Data: {paths.home}"
        + (f", stratified hold-out {holdout:.0%} (seed {seed})." if holdout else ", all selected movies."),
    ]
    gallery = _gallery(ds, probs, paths.posters, gallery_size)
    write_evaluation_report(
        result,
        ds.Y,
        probs,
        ds.genres,
        html_path,
        notes=notes,
        relation=result["model"]["relation"],
        held_out=result["model"]["held_out"],
        gallery=gallery,
    )
    write_atomic(json_path, json.dumps(result, indent=2) + "\n")
    print_table(_headline_table(result, f"{model_name} on {len(ds.ids):,} movies"))
    print_table(_segment_table(result["segments"]))
    if not result["model"]["studio_extensions"]:
        console.print(
            "This model has no synopsis head (no studio extensions): every segment is poster-only.", highlight=False
        )
    console.print(f"report: [bold]{html_path}[/bold]\nmetrics: [bold]{json_path}[/bold]", highlight=False)


def _segment_table(segments: list[dict[str, Any]]) -> Table:
    """Quality per segment and signal: n, macro ROC AUC with its interval, Family ROC AUC, micro-F1, what it
    measures."""
    table = Table(title="By segment (poster + synopsis: the combined estimate, on the movies with a synopsis)")
    for col in ("segment", "signal", "n", "macro ROC AUC", "95% interval", "Family AUC", "micro-F1", "measures"):
        table.add_column(col, justify="left" if col in ("segment", "signal", "measures") else "right")
    fmt = lambda x: "–" if x is None else f"{x:.3f}"  # noqa: E731
    for seg in segments:
        for i, (signal, q) in enumerate(seg["signals"].items()):
            if "macro_auc" not in q:
                table.add_row(
                    seg["segment"] if not i else "",
                    signal,
                    f"{q['n_movies']:,}",
                    q.get("note", "–"),
                    "",
                    "",
                    "",
                    seg["measures"] if not i else "",
                )
                continue
            auc = q["macro_auc"]
            table.add_row(
                seg["segment"] if not i else "",
                signal,
                f"{q['n_movies']:,}",
                fmt(auc["value"]),
                f"{fmt(auc['ci_low'])} – {fmt(auc['ci_high'])}",
                fmt(q["family_auc"]),
                fmt(q["micro_f1"]["value"]),
                seg["measures"] if not i else "",
            )
    return table
