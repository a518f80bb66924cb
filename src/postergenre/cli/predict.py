"""CLI commands: predict, similar, compare. Thin: argument parsing and output; the work is in predict/.

The model is imported inside the commands, so `postergenre --help` and other commands stay fast.
"""

from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import PRIVATE_ADDRESS, TOO_LARGE, PosterGenreError
from ..posters.caps import DEFAULT_MAX_FILE_BYTES, from_megabytes, to_megabytes
from ..progress import Progress
from ..safe_text import csv_writer
from ._app import ERROR_LIMIT, HomeOption, RuntimeOption, app, err_console, held_ratings, output_file, shown
from ._output import JsonArray, TableRows, print_json, print_note, print_table
from ._progress import progress_display

if TYPE_CHECKING:
    from ..predict.compare import CompareResult
    from ..predict.predictor import Predictor
    from ..predict.results import GenreReading, PosterFailure, PosterPrediction
    from ..predict.similar import SimilarResult

EXIT_CODES = (
    "Exit codes: 0 every poster was processed; 1 some posters failed (one error line each on stderr, "
    "the others are still reported); 2 usage or setup error (bad option, no model, no catalog embeddings)."
)

FORMATS = ("table", "json", "csv")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output: table (readable), json or csv.")]
ModelOption = Annotated[Path | None, typer.Option("--model", help="Model folder. Default: the bundled model.")]
SynopsisOption = Annotated[
    str | None,
    typer.Option(
        "--synopsis",
        help="The film's synopsis (one poster only; a CSV input can have a synopsis or plot column): "
        "genres become the combined poster + synopsis estimate.",
    ),
]
DEFAULT_MAX_FILE_MB = to_megabytes(DEFAULT_MAX_FILE_BYTES)
AllowPrivateUrlsOption = Annotated[
    bool,
    typer.Option(
        "--allow-private-urls",
        help="Also fetch poster URLs on loopback, private and link-local hosts (a studio's "
        "intranet); refused by default, as by the service.",
    ),
]
MaxFileOption = Annotated[
    float,
    typer.Option(
        "--max-file-mb",
        min=0.1,
        help="Largest poster file or download read, in MB; a larger one fails alone, before it is read.",
    ),
]
_HINTS = {
    TOO_LARGE: "raise the limit with --max-file-mb",  # by the error's kind, set where it is raised
    PRIVATE_ADDRESS: "--allow-private-urls fetches from a trusted intranet",
}
TOP_SHOWN = 5  # genres listed per poster in the table
STRENGTH_COLUMN = "strength (× the line)"
PROGRESS_FROM = 20  # posters from which progress is shown


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise PosterGenreError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def _load_predictor(
    model: Path | None,
    home: Path | None,
    runtime: str = "auto",
    allow_private_urls: bool = False,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
) -> Predictor:
    from ..predict.predictor import Predictor

    return Predictor.load(
        model_dir=model,
        home=home,
        runtime=runtime,
        allow_private_urls=allow_private_urls,
        max_file_bytes=from_megabytes(max_file_mb),
    )


@dataclass(frozen=True)
class PredictorOptions:
    """The options of every command that loads the model, declared once (see with_predictor_options)."""

    runtime: str
    allow_private_urls: bool
    max_file_mb: float
    model: Path | None
    home: Path | None

    def load(self) -> Predictor:
        return _load_predictor(self.model, self.home, self.runtime, self.allow_private_urls, self.max_file_mb)


_PREDICTOR_PARAMS = (
    ("runtime", RuntimeOption, "auto"),
    ("allow_private_urls", AllowPrivateUrlsOption, False),
    ("max_file_mb", MaxFileOption, DEFAULT_MAX_FILE_MB),
    ("model", ModelOption, None),
    ("home", HomeOption, None),
)


def with_predictor_options(command):
    """Gives a command the PredictorOptions flags (last in its --help, in that order) and passes them to its
    `options: PredictorOptions` parameter. Put it under @app.command."""
    signature = inspect.signature(command, eval_str=True)  # typer reads this signature, not the function's
    kept = [p for p in signature.parameters.values() if p.name != "options"]
    added = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)
        for name, annotation, default in _PREDICTOR_PARAMS
    ]

    @functools.wraps(command)
    def run(**kwargs: Any) -> Any:
        options = PredictorOptions(**{name: kwargs.pop(name) for name, _, _ in _PREDICTOR_PARAMS})
        return command(**kwargs, options=options)

    # inspect (and so Typer) reads a function's __signature__; typeshed does not declare the attribute
    run.__signature__ = signature.replace(parameters=kept + added)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in kept + added}
    return run


def _report_failures(failures: list[PosterFailure]) -> None:
    for f in failures:
        _report_error(f.error if f.source in f.error else f"{f.source}: {f.error}", f.kind)


def _report_error(message: str, kind: str | None) -> None:
    """One error line on stderr (shown safely), with the hint for the error's kind."""
    hint = f" ({_HINTS[kind]})" if kind in _HINTS else ""
    err_console.print(f"[red]error:[/red] {shown(message, ERROR_LIMIT)}{hint}", highlight=False, soft_wrap=True)


def _label(source: str) -> str:
    """A poster's name for tables (shown safely): relative to the working folder when it is inside it."""
    try:
        return shown(Path(source).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return shown(source)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


PredictPostersArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Poster files, folders (searched recursively), glob patterns, http(s) URLs, or a CSV with "
        "id and poster columns (paths relative to the CSV, or URLs) and optionally a synopsis column. "
        "None, with --synopsis: the story's genres from the synopsis alone.",
        show_default=False,
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(
        "--threshold",
        min=0.0,
        max=1.0,
        help="One probability threshold for every genre instead of the model's per-genre thresholds.",
    ),
]
TopKOption = Annotated[
    int | None,
    typer.Option("--top-k", min=1, help="Decide the K most probable genres (with --threshold: at most K above it)."),
]
ExplainOption = Annotated[
    bool,
    typer.Option(
        "--explain", help="Write heatmap overlays (PNG) of where the network looked, for each poster's decided genres."
    ),
]
ExplainDirOption = Annotated[Path, typer.Option("--explain-dir", help="Folder for --explain PNGs.")]
BatchSizeOption = Annotated[int, typer.Option("--batch-size", min=1, help="Posters per forward pass.")]


@app.command(epilog=EXIT_CODES)
@with_predictor_options
def predict(
    posters: PredictPostersArgument = None,
    synopsis: SynopsisOption = None,
    fmt: FormatOption = "table",
    threshold: ThresholdOption = None,
    top_k: TopKOption = None,
    explain: ExplainOption = False,
    explain_dir: ExplainDirOption = Path("postergenre-explain"),
    batch_size: BatchSizeOption = 2,
    *,
    options: PredictorOptions,
) -> None:
    """Predict genres from posters: a plain-words reading, ranked probabilities, the decided genres, a poster check."""
    from dataclasses import replace

    from ..predict.inputs import resolve_inputs

    _check_format(fmt)
    if not posters:
        if synopsis is None:
            raise PosterGenreError('give posters to read, or --synopsis "..." to read a story before its poster exists')
        _predict_synopsis(synopsis, fmt, threshold, top_k, options)
        return
    items = resolve_inputs(posters)
    if synopsis is not None:
        if len(items) != 1:
            raise PosterGenreError(
                f"--synopsis goes with one poster, but the inputs name {len(items)}; give a CSV "
                "with a synopsis column for several"
            )
        items = [replace(items[0], synopsis=synopsis)]
    predictor = options.load()
    if synopsis is not None and not predictor.has_synopsis:
        raise PosterGenreError("this model has no synopsis head; retrain it with plots in the catalog")
    if explain:
        from ..files import check_output_folder

        check_output_folder(explain_dir)  # before the work: a file there is one line, not a failure at the end
    combined = predictor.has_synopsis and any((item.synopsis or "").strip() for item in items)
    batch = 1 if explain else batch_size
    failures: list[PosterFailure] = []
    heatmaps = _HeatmapFiles(explain_dir) if explain else None
    with (
        progress_display(enabled=len(items) >= PROGRESS_FROM, console=err_console) as report,
        _PredictionOutput(fmt, predictor.genres, threshold is not None or top_k is not None, combined) as output,
    ):
        # Batch by batch, each result written as soon as it is known and in input order: a reader that closes the
        # pipe (`| head`) stops the work at the next write (see _output), instead of after every poster is read.
        for start in range(0, len(items), batch):
            for result in predictor.predict_many(
                items[start : start + batch], batch_size=batch, threshold=threshold, top_k=top_k, heatmaps=explain
            ):
                if heatmaps is not None and result.ok:
                    heatmaps.write(result)
                output.add(result)
                if not result.ok:
                    failures.append(result)
            report(Progress("predicting", min(start + batch, len(items)), len(items)))
    if heatmaps is not None and heatmaps.used:
        heatmaps.report()
    _report_failures(failures)
    if failures:
        raise typer.Exit(1)


def _predict_synopsis(
    synopsis: str, fmt: str, threshold: float | None, top_k: int | None, options: PredictorOptions
) -> None:
    """A synopsis without a poster: the story's genres from the synopsis head alone, marked as such."""
    from ..predict.results import synopsis_body

    predictor = _load_predictor(options.model, options.home, options.runtime)  # no posters: no URL or size options
    reading = predictor.read_synopsis(synopsis, threshold=threshold, top_k=top_k)
    if fmt == "json":
        print_json([synopsis_body(reading)])
    elif fmt == "csv":
        _CsvRows(predictor.genres).add(reading)
    else:
        table = Table(show_lines=False)
        table.add_column("synopsis", overflow="fold")
        table.add_column(
            "reading" + (" (overridden thresholds)" if threshold is not None or top_k is not None else ""),
            style="bold",
            overflow="fold",
        )
        table.add_column(STRENGTH_COLUMN)
        table.add_row(
            shown(synopsis, 120), reading.summary["text"], _strongest(reading.strength, TOP_SHOWN, reading.decided)
        )
        print_table(table)


class _HeatmapFiles:
    """--explain: each prediction's overlays written into `folder` as it comes, under a stem unique in this run."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.used: set[str] = set()

    def write(self, prediction: PosterPrediction) -> None:
        from ..predict.heatmaps import safe_stem, write_overlays

        stem = base = safe_stem(prediction.id or prediction.source)
        n = 2
        while stem in self.used:
            stem, n = f"{base}-{n}", n + 1
        self.used.add(stem)
        prediction.heatmap_files = [
            str(p) for p in write_overlays(prediction.image, prediction.heatmaps, self.folder, stem)
        ]

    def report(self) -> None:
        from ..predict.heatmaps import LEGEND

        err_console.print(f"heatmaps written to {self.folder}/ ({LEGEND})", highlight=False)


def _strongest(strength: dict[str, float], n: int, decided: list[str] | None = None) -> str:
    """The first n genres in reading order, on the one scale: "Comedy 2.3×, Family 1.8×" (probabilities are in
    --format json)."""
    from ..model.decisions import reading_order, strength_text

    return ", ".join(f"{g} {strength_text(strength[g])}" for g in reading_order(decided or [], strength)[:n])


def _predictions_table(overridden: bool, combined: bool) -> Table:
    """The predict table's columns (`combined`: a poster + synopsis reading is among the rows)."""
    table = Table(show_lines=False)
    table.add_column("poster", overflow="fold")
    table.add_column("reading" + (" (overridden thresholds)" if overridden else ""), style="bold", overflow="fold")
    table.add_column(STRENGTH_COLUMN)
    if combined:
        table.add_column("poster alone")
        table.add_column("synopsis alone")
    table.add_column("poster check")
    return table


def _prediction_row(p: PosterPrediction, combined: bool) -> list[str]:
    from ..predict.core import NOT_A_POSTER_LABEL

    check = p.poster_check
    reading = p.summary["text"] if check["is_poster"] else f"[dim]{p.summary['text']}[/dim]"
    row = [shown(p.id) if p.id else _label(p.source), reading, _strongest(p.reading.strength, TOP_SHOWN, p.decided)]
    if combined:
        for alone in (p.reading.poster_strength, p.reading.synopsis_strength):
            row.append(_strongest(alone, 3) if alone else "")
    row.append("ok" if check["is_poster"] else f"[red]⚠ {NOT_A_POSTER_LABEL}[/red]")
    return row


class _PredictionOutput:
    """predict's results on stdout in `fmt`, each written as it comes: JSON array elements, CSV rows (a failure's row
    carries its error), or table rows (predictions only: failures are error lines on stderr)."""

    def __init__(self, fmt: str, genres: list[str], overridden: bool, combined: bool):
        self.fmt, self.genres, self.combined = fmt, genres, combined
        self.flagged: list[PosterPrediction] = []
        self.json = JsonArray() if fmt == "json" else None
        self.csv = _CsvRows(genres) if fmt == "csv" else None
        self.table = TableRows(_predictions_table(overridden, combined)) if fmt == "table" else None

    def add(self, result: PosterPrediction | PosterFailure) -> None:
        if self.json is not None:
            self.json.add(result.to_dict())
        elif self.csv is not None:
            self.csv.add(result)
        elif self.table is not None and result.ok:
            self.table.add(*_prediction_row(result, self.combined))
            if not result.poster_check["is_poster"]:
                self.flagged.append(result)

    def __enter__(self) -> _PredictionOutput:
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is not None:
            return
        if self.json is not None:
            self.json.close()
        if self.table is not None:
            self.table.__exit__(None, None, None)
            if self.flagged:
                print_note(
                    f"[red]⚠[/red] {_plural(len(self.flagged), 'input')} flagged: "
                    f"{self.flagged[0].poster_check['message']}"
                )


class _CsvRows:
    """One CSV row per result, flushed as written; the header first."""

    def __init__(self, genres: list[str]):
        self.genres = genres
        self.writer = csv_writer(sys.stdout)
        self.writer.writerow(["source", "id", "decided", "signal", "is_poster", "poster_check_score", *genres, "error"])
        sys.stdout.flush()

    def add(self, r: PosterPrediction | PosterFailure | GenreReading) -> None:
        """A poster's row, a failure's (with its error), or a synopsis read alone (source "synopsis")."""
        from ..predict.results import GenreReading

        genres = self.genres
        if isinstance(r, GenreReading):
            self.writer.writerow(
                [
                    "synopsis",
                    "",
                    "|".join(r.decided),
                    r.signal,
                    "",
                    "",
                    *(f"{r.probabilities[g]:.6f}" for g in genres),
                    "",
                ]
            )
        elif not r.ok:
            self.writer.writerow([r.source, r.id or "", "", "", "", "", *([""] * len(genres)), r.error])
        else:
            self.writer.writerow(
                [
                    r.source,
                    r.id or "",
                    "|".join(r.decided),
                    r.reading.signal,
                    int(r.poster_check["is_poster"]),
                    r.poster_check["score"],
                    *(f"{r.probabilities[g]:.6f}" for g in genres),
                    "",
                ]
            )
        sys.stdout.flush()


@app.command(epilog=EXIT_CODES)
@with_predictor_options
def similar(
    poster: Annotated[str, typer.Argument(help="A poster file or http(s) URL.", show_default=False)],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="How many comparable titles.")] = 10,
    collection: Annotated[
        str | None,
        typer.Option("--collection", help="Only titles of these collections, comma-separated (e.g. studio)."),
    ] = None,
    rating: Annotated[str | None, typer.Option("--rating", help="Only these content ratings, e.g. G,PG.")] = None,
    year_min: Annotated[int | None, typer.Option("--year-min", help="Only titles from this year on.")] = None,
    year_max: Annotated[int | None, typer.Option("--year-max", help="Only titles up to this year.")] = None,
    genre: Annotated[str | None, typer.Option("--genre", help="Only titles with any of these genres.")] = None,
    fmt: FormatOption = "table",
    *,
    options: PredictorOptions,
) -> None:
    """Comparable titles: the catalog posters nearest to POSTER in look and genre profile, itself excluded."""
    from ..predict.inputs import resolve_inputs
    from ..predict.similar import SimilarFilter

    _check_format(fmt)
    where = SimilarFilter.parse(
        collection=collection,
        rating=rating,
        year_min=year_min,
        year_max=year_max,
        genre=genre,
        held_ratings=held_ratings(options.home, rating),
    )
    items = resolve_inputs([poster])
    if len(items) != 1:
        raise PosterGenreError(f"{poster}: similar takes one poster, this names {len(items)}")
    predictor = options.load()
    try:
        result = predictor.similar(items[0], k=k, where=where)
    except PosterGenreError as exc:
        from ..errors import ModelError

        if isinstance(exc, ModelError):
            raise  # set-up problem (no catalog embeddings): exit 2
        _report_error(str(exc), exc.kind)
        raise typer.Exit(1) from None  # the poster itself failed, as for predict
    if fmt == "json":
        print_json(result.to_dict())
    elif fmt == "csv":
        _print_similar_csv(result)
    else:
        _print_similar_table(result, poster)


def _print_similar_csv(result: SimilarResult) -> None:
    """similar --format csv: one row per comparable title, nearest first."""
    writer = csv_writer(sys.stdout)
    writer.writerow(["rank", "imdb_id", "title", "year", "rating", "genres", "similarity", "match", "imdb_url"])
    for i, t in enumerate(result, 1):
        writer.writerow(
            [
                i,
                t.imdb_id,
                t.title or "",
                t.year or "",
                t.rating or "",
                "|".join(t.genres),
                round(float(t.score), 6),
                t.match,
                t.imdb_url,
            ]
        )


def _print_similar_table(result: SimilarResult, poster: str) -> None:
    """similar's table, nearest first, with a note when the input is not a poster or nothing passed the filters."""
    table = Table(title=f"Comparable titles for {shown(poster)}")
    for col in ("#", "title", "rating", "genres", "match", "IMDb"):
        table.add_column(col, overflow="fold")
    for i, t in enumerate(result, 1):
        table.add_row(
            str(i),
            shown(t.display_title),
            shown(t.rating or ""),
            ", ".join(t.genres),
            f"{t.match} ({t.score:.2f})",
            t.imdb_url,
        )
    print_table(table)
    if not result.query_is_poster:
        print_note("[red]⚠[/red] the input does not look like a movie poster: these matches mean little.")
    if not len(result):
        print_note("no catalog title passes the filters")


@app.command(epilog=EXIT_CODES)
@with_predictor_options
def compare(
    posters: Annotated[
        list[str], typer.Argument(help="Poster variants: files, folders, globs or URLs.", show_default=False)
    ],
    target: Annotated[
        str, typer.Option("--target", "-t", help="Intended genres, comma-separated, e.g. Family,Comedy.")
    ],
    synopsis: Annotated[
        str | None,
        typer.Option(
            "--synopsis",
            help="Accepted for symmetry with predict, but not used for ranking (it is the same for every variant).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", callback=output_file, help="Write a side-by-side HTML sheet (posters, bars, heatmaps)."
        ),
    ] = None,
    fmt: FormatOption = "table",
    *,
    options: PredictorOptions,
) -> None:
    """Rank poster variants by how strongly each signals the target genres, and list unintended genres."""
    from ..predict.core import match_genres, split_genre_list
    from ..predict.inputs import resolve_inputs

    _check_format(fmt)
    predictor = options.load()
    match_genres(split_genre_list(target), predictor.genres)  # fail on a typo before any work
    result = predictor.compare(resolve_inputs(posters), target, synopsis=synopsis, heatmaps=out is not None)
    if out is not None:
        from ..render.sheet import write_sheet

        write_sheet(result, out)
        err_console.print(f"sheet written to {out}", highlight=False)
    if fmt == "json":
        print_json(result.to_dict())
    elif fmt == "csv":
        _print_compare_csv(result)
    else:
        _print_compare_table(result, synopsis)
    _report_failures(result.failures)
    if result.failures:
        raise typer.Exit(1)


def _print_compare_csv(result: CompareResult) -> None:
    """compare --format csv: one row per variant, in rank order."""
    writer = csv_writer(sys.stdout)
    writer.writerow(
        [
            "rank",
            "source",
            "fits_all_targets",
            "verdict",
            "target_score",
            *(f"p_{t}" for t in result.targets),
            "targets_decided",
            "unintended",
        ]
    )
    for v in result.variants:
        writer.writerow(
            [
                v.rank,
                v.source,
                int(v.fits),
                v.verdict,
                f"{v.score:.6f}",
                *(f"{p:.6f}" for p in v.target_probabilities.values()),
                "|".join(v.targets_decided),
                "|".join(f"{g}:{p:.4f}" for g, p in v.unintended.items()),
            ]
        )


def _print_compare_table(result: CompareResult, synopsis: str | None) -> None:
    """compare's table: variants in rank order, the best starred, with the headline and notes below."""
    from ..model.decisions import strength_text
    from ..predict.compare import RANKING, SYNOPSIS_NOTE
    from ..predict.core import NOT_A_POSTER_LABEL

    table = Table(title=f"Variants ranked for {', '.join(result.targets)}", caption=RANKING)
    for col in ("rank", "poster", "verdict", "targets (× the line)", "unintended genres"):
        table.add_column(col, overflow="fold")
    for v in result.variants:
        targets = ", ".join(f"{g} {strength_text(s)}" for g, s in v.target_strength.items())
        unintended = ", ".join(f"{g} {strength_text(v.prediction.reading.strength[g])}" for g in v.unintended) or "none"
        name = _label(v.source) + ("" if v.is_poster else f" ⚠ {NOT_A_POSTER_LABEL}")
        verdict = shown(v.verdict) if v.fits else f"[red]{shown(v.verdict)}[/red]"
        table.add_row(("★ " if v.best else "") + str(v.rank), name, verdict, targets, unintended)
    print_table(table)
    print_note(shown(result.headline))  # it names files: untrusted text
    if synopsis:
        print_note(escape(SYNOPSIS_NOTE))
