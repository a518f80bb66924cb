"""CLI command: brief. Thin: argument parsing and output; the brief is built in predict/brief.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PosterGenreError
from ..model.decisions import MAX_BRIEF_VARIANTS
from ._app import app, err_console, held_ratings, output_file, shown
from ._output import write_document
from .predict import PredictorOptions, _report_failures, with_predictor_options

BRIEF_FORMATS = ("html", "json")
BRIEF_EXIT_CODES = (
    "Exit codes: 0 the brief was written (also from a home without a catalog or its embeddings: the "
    "brief's audiences part then says how to add them, and a note on stderr says so); 1 some variants could not "
    "be read (one error line each on stderr, the brief "
    "covers the others) or none could; 2 usage or setup error (bad option, unknown genre, more than "
    f"{MAX_BRIEF_VARIANTS} variants, unknown --film, no model)."
)


BriefPostersArgument = Annotated[
    list[str],
    typer.Argument(
        help=f"1 to {MAX_BRIEF_VARIANTS} poster variants of one film: files, folders, globs or http(s) URLs.",
        show_default=False,
    ),
]
BriefSynopsisOption = Annotated[
    str | None,
    typer.Option(
        "--synopsis",
        help="The film's synopsis, the same story for every variant: the brief says what each "
        "poster under-sells or over-promises, and without --intended its genres are the targets.",
    ),
]
IntendedOption = Annotated[
    str | None, typer.Option("--intended", help='Intended genres, comma-separated, e.g. "Family, Adventure".')
]
TitleOption = Annotated[str | None, typer.Option("--title", help="The film's title, for the brief's heading.")]
FilmOption = Annotated[
    str | None,
    typer.Option(
        "--film",
        help="The film's IMDb id in your catalog, e.g. tt0099785: its catalogued genres are never called "
        "unwanted, and its title and plot stand in for --title and --synopsis when not given.",
    ),
]
BriefRatingOption = Annotated[
    str | None,
    typer.Option(
        "--rating",
        help="Content ratings of the comparable titles, comma-separated, or 'all'. Default: the "
        "ratings of the studio's own collection, where the catalog knows them.",
    ),
]
BriefOutOption = Annotated[
    Path | None,
    typer.Option("--out", "-o", callback=output_file, help="Write the brief to this file instead of stdout."),
]
BriefFormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="html (one self-contained page that prints to 1–3 A4 pages for up to three variants) or json.",
    ),
]


@app.command(epilog=BRIEF_EXIT_CODES)
@with_predictor_options
def brief(
    posters: BriefPostersArgument,
    synopsis: BriefSynopsisOption = None,
    intended: IntendedOption = None,
    title: TitleOption = None,
    film: FilmOption = None,
    rating: BriefRatingOption = None,
    out: BriefOutOption = None,
    fmt: BriefFormatOption = "html",
    *,
    options: PredictorOptions,
) -> None:
    """A campaign brief: which variant to run and why, story vs poster, audiences to aim at, how sure the model is."""
    from ..catalog.filters import parse_ratings
    from ..predict.inputs import resolve_inputs
    from ..render.brief import render_brief

    if fmt not in BRIEF_FORMATS:
        raise PosterGenreError(f"--format must be one of {', '.join(BRIEF_FORMATS)}, got {fmt!r}")
    ratings = parse_ratings(rating, held_ratings(options.home, rating))
    items = resolve_inputs(posters)
    predictor = options.load()
    html = fmt == "html"
    err_console.print(
        f"reading {len(items)} variant{'s' if len(items) != 1 else ''}"
        f"{', heatmaps' if html else ''} and comparable titles…",
        highlight=False,
    )
    # JSON has no maps: no Grad-CAM, no torch
    result = predictor.brief(
        items, synopsis=synopsis, intended=intended, title=title, film=film, ratings=ratings, heatmaps=html
    )
    _report_failures(result.failures)
    if result.variants and not result.audiences.get("available"):
        err_console.print(
            f"note: no comparable titles in this brief: {shown(result.audiences.get('note', ''))}",
            highlight=False,
            soft_wrap=True,
        )
    if not result.variants:
        raise typer.Exit(1)
    text = render_brief(result) if html else json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    write_document(text, out, "brief")
    if result.failures:
        raise typer.Exit(1)
