"""CLI commands: predict, similar, compare. Thin: argument parsing and output; the work is in predict/.

torch and the model are imported inside the commands, so `postergenre --help` and other commands stay fast.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ..errors import PosterGenreError
from ._app import HomeOption, app, console, err_console

if TYPE_CHECKING:
    from ..predict.predictor import PosterFailure, PosterPrediction, Predictor

EXIT_CODES = ("Exit codes: 0 every poster was predicted; 1 some posters failed (one error line each on stderr, "
              "the others are still reported); 2 usage or setup error (bad option, no model, no catalog embeddings).")

FORMATS = ("table", "json", "csv")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output: table (readable), json or csv.")]
ModelOption = Annotated[Optional[Path], typer.Option("--model", help="Model folder. Default: the bundled model.")]
TOP_SHOWN = 5  # genres listed per poster in the table
PROGRESS_FROM = 20  # posters from which a progress bar is shown


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise PosterGenreError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


OPTIMIZE_FROM = 16  # posters from which compiling the backbone (~1 s once) pays for itself


def _load_predictor(model: Optional[Path], home: Optional[Path], n_posters: int = 1) -> "Predictor":
    from ..predict.predictor import Predictor

    # One intra-op thread: a poster's forward pass is small, and on a few shared cores extra threads
    # mostly wait for each other (measured 20× slower with 2 threads on a busy 2-core machine).
    return Predictor.load(model_dir=model, home=home, optimize=n_posters >= OPTIMIZE_FROM, threads=1)


def _report_failures(failures: list["PosterFailure"]) -> None:
    for f in failures:
        message = f.error if f.source in f.error else f"{f.source}: {f.error}"
        err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)


def _label(source: str) -> str:
    """A poster's name for tables: relative to the working folder when it is inside it."""
    try:
        return str(Path(source).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return source


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@app.command(epilog=EXIT_CODES)
def predict(
    posters: Annotated[list[str], typer.Argument(
        help="Poster files, folders (searched recursively), glob patterns, http(s) URLs, or a CSV with "
             "id and poster columns (paths relative to the CSV, or URLs).", show_default=False)],
    fmt: FormatOption = "table",
    threshold: Annotated[Optional[float], typer.Option(
        "--threshold", min=0.0, max=1.0, help="One probability threshold for every genre instead of the model's per-genre thresholds.")] = None,
    top_k: Annotated[Optional[int], typer.Option(
        "--top-k", min=1, help="Decide the K most probable genres (with --threshold: at most K above it).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Write Grad-CAM heatmap overlays (PNG) for each poster's decided genres.")] = False,
    explain_dir: Annotated[Path, typer.Option("--explain-dir", help="Folder for --explain PNGs.")] = Path("postergenre-explain"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Posters per forward pass (1-2 is fastest on a few CPU cores).")] = 2,
    model: ModelOption = None,
    home: HomeOption = None,
) -> None:
    """Predict genres from posters: ranked probabilities, the decided genres, and a poster check."""
    from ..predict.inputs import resolve_inputs
    from ..predict.predictor import PosterFailure

    _check_format(fmt)
    items = resolve_inputs(posters)
    predictor = _load_predictor(model, home, len(items))
    with _progress(len(items)) as progress:
        task = progress.add_task("predicting", total=len(items))

        def advance(_result: Any) -> None:
            progress.advance(task)

        if explain:
            results = _predict_explained(predictor, items, explain_dir, threshold, top_k, advance)
        else:
            results = predictor.predict_many(items, batch_size=batch_size, threshold=threshold, top_k=top_k,
                                             on_result=advance)
    failures = [r for r in results if isinstance(r, PosterFailure)]
    predictions = [r for r in results if not isinstance(r, PosterFailure)]
    if fmt == "json":
        _print_json([r.to_dict() for r in results])
    elif fmt == "csv":
        _write_csv(results, predictor.genres)
    else:
        _print_table(predictions, threshold is not None or top_k is not None)
    _report_failures(failures)
    if failures:
        raise typer.Exit(1)


def _progress(total: int) -> Progress:
    """A transient bar on stderr for long runs (stdout stays clean for --format json/csv)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err_console, transient=True, disable=total < PROGRESS_FROM)


def _predict_explained(predictor: "Predictor", items: list, out_dir: Path, threshold: Optional[float],
                       top_k: Optional[int], on_result: Callable[[Any], None]) -> list:
    """One poster at a time: predict, then write heatmap PNGs of its decided genres (at most 3)."""
    from ..predict.explain import safe_stem, write_overlays
    from ..predict.predictor import PosterFailure

    used: set[str] = set()
    results: list = []
    for item in items:
        try:
            prediction, image, maps = predictor.predict_and_explain(item, threshold=threshold, top_k=top_k)
        except PosterGenreError as exc:
            results.append(PosterFailure(source=item.source, error=str(exc), id=item.id))
            on_result(results[-1])
            continue
        stem = base = safe_stem(prediction.id or prediction.source)
        n = 2
        while stem in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem)
        prediction.heatmap_files = [str(p) for p in write_overlays(image, maps, out_dir, stem)]
        results.append(prediction)
        on_result(prediction)
    err_console.print(f"heatmaps written to {out_dir}/", highlight=False)
    return results


def _print_table(predictions: list["PosterPrediction"], overridden: bool) -> None:
    if not predictions:
        return
    table = Table(show_lines=False)
    table.add_column("poster", overflow="fold")
    table.add_column("decided genres" + (" (overridden)" if overridden else ""), style="bold")
    table.add_column(f"top {TOP_SHOWN} probabilities")
    table.add_column("poster check")
    for p in predictions:
        top = ", ".join(f"{g} {prob:.0%}" for g, prob in p.top(TOP_SHOWN))
        check = p.poster_check
        check_text = "ok" if check["is_poster"] else f"[red]⚠ not poster-like[/red] ({check['score']:.1f})"
        decided = ", ".join(p.decided) if check["is_poster"] else f"[dim]({', '.join(p.decided)})[/dim]"
        table.add_row(p.id or _label(p.source), decided, top, check_text)
    console.print(table)
    flagged = [p for p in predictions if not p.poster_check["is_poster"]]
    if flagged:
        console.print(f"[red]⚠[/red] {len(flagged)} input(s) {flagged[0].poster_check['message']}.", highlight=False)


def _write_csv(results: list, genres: list[str]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["source", "id", "decided", "is_poster", "poster_check_score", *genres, "error"])
    for r in results:
        if not r.ok:
            writer.writerow([r.source, r.id or "", "", "", "", *([""] * len(genres)), r.error])
            continue
        writer.writerow([r.source, r.id or "", "|".join(r.decided), int(r.poster_check["is_poster"]),
                         r.poster_check["score"], *(f"{r.probabilities[g]:.6f}" for g in genres), ""])


@app.command(epilog=EXIT_CODES)
def similar(
    poster: Annotated[str, typer.Argument(help="A poster file or http(s) URL.", show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="How many comparable titles.")] = 10,
    fmt: FormatOption = "table",
    model: ModelOption = None,
    home: HomeOption = None,
) -> None:
    """Comparable titles: the catalog posters nearest to POSTER in look and genre profile, itself excluded."""
    from ..predict.inputs import resolve_inputs

    _check_format(fmt)
    items = resolve_inputs([poster])
    if len(items) != 1:
        raise PosterGenreError(f"{poster}: similar takes one poster, this names {len(items)}")
    if items[0].error:
        raise PosterGenreError(items[0].error)
    predictor = _load_predictor(model, home)
    titles = predictor.similar(items[0], k=k)
    if fmt == "json":
        _print_json([t.to_dict() for t in titles])
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["rank", "imdb_id", "title", "year", "genres", "score", "poster_sha256"])
        for i, t in enumerate(titles, 1):
            writer.writerow([i, t.imdb_id, t.title or "", t.year or "", "|".join(t.genres), f"{t.score:.6f}", t.poster_sha256])
    else:
        table = Table(title=f"Comparable titles for {poster}")
        for col in ("#", "imdb id", "title", "year", "genres", "similarity"):
            table.add_column(col)
        for i, t in enumerate(titles, 1):
            table.add_row(str(i), t.imdb_id, t.title or "", str(t.year or ""), ", ".join(t.genres), f"{t.score:.3f}")
        console.print(table)


@app.command(epilog=EXIT_CODES)
def compare(
    posters: Annotated[list[str], typer.Argument(help="Poster variants: files, folders, globs or URLs.", show_default=False)],
    target: Annotated[str, typer.Option("--target", "-t", help="Intended genres, comma-separated, e.g. Family,Comedy.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Write a side-by-side HTML sheet (posters, bars, heatmaps).")] = None,
    fmt: FormatOption = "table",
    model: ModelOption = None,
    home: HomeOption = None,
) -> None:
    """Rank poster variants by how strongly each signals the target genres, and list unintended genres."""
    from ..predict.compare import parse_targets
    from ..predict.inputs import resolve_inputs

    _check_format(fmt)
    predictor = _load_predictor(model, home)
    parse_targets(target, predictor.genres)  # fail on a typo before any work
    result = predictor.compare(resolve_inputs(posters), target, heatmaps=out is not None)
    if out is not None:
        from ..predict.sheet import write_sheet

        write_sheet(result, out)
        err_console.print(f"sheet written to {out}", highlight=False)
    if fmt == "json":
        _print_json(result.to_dict())
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["rank", "source", "score", *(f"p_{t}" for t in result.targets), "targets_decided", "unintended"])
        for v in result.variants:
            writer.writerow([v.rank, v.source, f"{v.score:.6f}", *(f"{p:.6f}" for p in v.target_probabilities.values()),
                             "|".join(v.targets_decided), "|".join(f"{g}:{p:.4f}" for g, p in v.unintended.items())])
    else:
        table = Table(title=f"Variants ranked for {', '.join(result.targets)} (score: 1.0 = just decided)")
        for col in ("rank", "poster", "score", "target probabilities", "unintended genres"):
            table.add_column(col, overflow="fold")
        for v in result.variants:
            targets = ", ".join(f"{g} {p:.0%}" for g, p in v.target_probabilities.items())
            unintended = ", ".join(f"{g} {p:.0%}" for g, p in v.unintended.items()) or "none"
            table.add_row(str(v.rank), _label(v.source), f"{v.score:.2f}", targets, unintended)
        console.print(table)
    _report_failures(result.failures)
    if result.failures:
        raise typer.Exit(1)
