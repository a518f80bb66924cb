"""CLI commands: catalog import, catalog stats, report dataset (thin wrappers over the library)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from ..catalog.importing import CONFLICT_RULES, ImportResult, import_catalog_file
from ..catalog.records import DEFAULT_COLLECTION
from ..catalog.stats import CatalogStats, compute_stats
from ..errors import CatalogFormatError
from ..safe_text import safe_text
from ._app import (
    ERROR_LIMIT,
    CollectionOption,
    HomeOption,
    RatingOption,
    YearMaxOption,
    YearMinOption,
    catalog_app,
    console,
    err_console,
    movie_filter,
    open_catalog,
    output_file,
    paths_for,
    print_selection,
    report_app,
    shown,
)
from ._output import print_table

_SHOWN_REJECTED = 50  # rejected rows listed in full; the rest are counted
_SHOWN_CONFLICTS = 50


class CatalogFormat(StrEnum):
    ours = "ours"
    imdb_api_csv = "imdb-api-csv"
    imdb_api_json = "imdb-api-json"
    kaggle = "kaggle"


class OnConflict(StrEnum):
    last = "last"
    first = "first"
    reject = "reject"


@catalog_app.command("import")
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Catalog files: our CSV (imdb_id,title,year,genres,poster), the IMDb-API export (CSV or JSON), "
            "or Kaggle MovieGenre.csv.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        CatalogFormat | None,
        typer.Option(
            "--format",
            help="Read every FILE as this format instead of detecting it from the header/structure.",
            case_sensitive=False,
        ),
    ] = None,
    collection: Annotated[
        str,
        typer.Option(
            "--collection",
            help="Collection the movies of these files belong to (a movie can be in several), e.g. studio.",
        ),
    ] = DEFAULT_COLLECTION,
    on_conflict: Annotated[
        OnConflict,
        typer.Option(
            "--on-conflict",
            help="When one file repeats an id with different values: the later row wins (last), "
            "the earlier one wins (first), or refuse the whole file (reject).",
            case_sensitive=False,
        ),
    ] = OnConflict.last,
    home: HomeOption = None,
) -> None:
    """Import catalog files into the catalog: an idempotent upsert, one transaction per file.

    Rows are merged by IMDb id; genres and content ratings are normalised; every movie is recorded as part
    of --collection. Bad rows (no id, unknown genre, malformed genre list, impossible year or rating, bad
    encoding) are rejected and listed with file:line: reason. Repeated ids whose rows differ are listed with
    both lines and values, and resolved by --on-conflict. A file that cannot be read at all (or is refused by
    --on-conflict reject) changes nothing and makes the command exit 2 after the other files are imported.
    """
    results: list[ImportResult] = []
    failed: list[str] = []
    with open_catalog(home) as catalog:
        for path in files:
            try:
                with console.status(f"importing {shown(path)}"):
                    results.append(
                        import_catalog_file(
                            catalog,
                            path,
                            fmt.value if fmt else None,
                            collection=collection,
                            on_conflict=on_conflict.value,
                        )
                    )
            except CatalogFormatError as exc:
                failed.append(str(exc))
        total = catalog.count()
    _print_results(results)
    console.print(f"catalog now holds [bold]{total}[/bold] movies")
    for message in failed:
        err_console.print(
            f"[red]error:[/red] {shown(message, ERROR_LIMIT, lines=True)} (nothing imported from it)", highlight=False
        )
    if failed:
        raise typer.Exit(2)


def _print_results(results: list[ImportResult]) -> None:
    if not results:
        return
    table = Table(
        "format",
        "collection",
        "added",
        "updated",
        "unchanged",
        "duplicates merged",
        "conflicts",
        "rejected",
        title="catalog import",
    )
    table.columns.insert(0, Column("file", overflow="fold"))
    for r in results:
        c = r.counts
        table.add_row(
            shown(r.file),
            r.fmt,
            shown(r.collection),
            f"[green]{c.added}[/green]",
            str(c.updated),
            str(c.unchanged),
            str(c.duplicates_merged),
            f"[yellow]{len(c.conflicts)}[/yellow]" if c.conflicts else "0",
            f"[red]{c.rejected}[/red]" if c.rejected else "0",
        )
    print_table(table)
    for r in results:
        if r.counts.relocated:
            err_console.print(
                f"[yellow]note:[/yellow] {r.counts.relocated} unchanged movies of {shown(r.file)} now name their "
                f"poster files under its current folder (the file was imported from elsewhere before)",
                highlight=False,
                soft_wrap=True,
            )
    conflicts = [(r, conflict) for r in results for conflict in r.counts.conflicts]
    if conflicts:
        rules = sorted({CONFLICT_RULES[r.on_conflict] for r, _ in conflicts})
        console.print(
            f"[yellow]repeated ids with conflicting values[/yellow] ({len(conflicts)}; rule: "
            f"{'; '.join(rules)}; empty cells never erase a value):",
            highlight=False,
            soft_wrap=True,
        )
        for _, conflict in conflicts[:_SHOWN_CONFLICTS]:
            console.print(f"  {safe_text(conflict, ERROR_LIMIT)}", highlight=False, markup=False, soft_wrap=True)
        if len(conflicts) > _SHOWN_CONFLICTS:
            console.print(f"  … and {len(conflicts) - _SHOWN_CONFLICTS} more")
    rejections = [row for r in results for row in r.counts.rejections]
    if rejections:
        console.print(f"[yellow]rejected rows[/yellow] ({len(rejections)}):")
        for row in rejections[:_SHOWN_REJECTED]:
            console.print(f"  {safe_text(row, ERROR_LIMIT)}", highlight=False, markup=False, soft_wrap=True)
        if len(rejections) > _SHOWN_REJECTED:
            console.print(f"  … and {len(rejections) - _SHOWN_REJECTED} more")
    for note in (note for r in results for note in r.notes):
        err_console.print(f"[yellow]note:[/yellow] {shown(note, ERROR_LIMIT)}", highlight=False, soft_wrap=True)


@catalog_app.command("stats")
def stats(
    collection: CollectionOption = None,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    home: HomeOption = None,
) -> None:
    """Show what the catalog holds: collections, missing values, duplicates, genres, ratings, years.

    The filters narrow the movies counted, the same way they narrow training and reports; what each filter
    removed, and why, is printed first.
    """
    with open_catalog(home) as catalog:
        result = compute_stats(catalog, movie_filter(home, rating, year_min, year_max, collection))
    print_selection(result.removed, console)
    _print_stats(result)


def _table(title: str, columns: tuple[str, ...], rows: list[tuple]) -> Table:
    table = Table(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*(shown(v) for v in row))
    return table


def _print_stats(s: CatalogStats) -> None:
    console.print(
        f"[bold]{s.movies}[/bold] movies · posters stored {s.posters_stored} · failed {s.posters_failed}"
        f" · to fetch/attach {s.posters_to_fetch} · duplicates merged {s.duplicates_merged}"
        f" (latest import of each file; {s.imports} import runs)"
    )
    print_table(_table("collections", ("collection", "movies"), s.collections))
    print_table(
        _table("missing values", ("", "movies", "%"), [(r.label, r.count, f"{r.percent:.1f}") for r in s.missing])
    )
    print_table(
        _table("genres", ("genre", "movies", "%"), [(g, n, f"{100 * n / s.movies:.1f}") for g, n in s.genre_counts])
    )
    print_table(_table("genres per movie", ("genres", "movies"), s.genres_per_movie))
    print_table(_table("content ratings", ("rating", "movies"), s.content_ratings))
    years = f"{s.year_min}–{s.year_max}" if s.year_min is not None else "none"
    print_table(
        _table(
            f"years: {years} (no year: {s.years_missing})", ("decade", "movies"), [(f"{d}s", n) for d, n in s.decades]
        )
    )
    r = s.imdb_ratings
    if r.count:
        console.print(
            f"IMDb ratings: {r.count} movies, mean {r.mean:.2f}, median {r.median:.1f}, "
            f"range {r.minimum:.1f}–{r.maximum:.1f}"
        )
    else:
        console.print("IMDb ratings: none in the catalog")


@report_app.command("dataset")
def report_dataset(
    out: Annotated[
        Path | None,
        typer.Option("--out", callback=output_file, help="HTML file to write. Default: <home>/reports/dataset.html."),
    ] = None,
    collection: CollectionOption = None,
    rating: RatingOption = None,
    year_min: YearMinOption = None,
    year_max: YearMaxOption = None,
    home: HomeOption = None,
) -> None:
    """Write one self-contained HTML dataset report (plots embedded).

    Genre counts, genre co-occurrence heatmap, genres per movie, years, content ratings, poster sizes and
    the missing-value table of the movies the filters select.
    """
    from ..render.dataset_report import write_dataset_report  # matplotlib: load only when used

    target = out or paths_for(home).reports / "dataset.html"
    flt = movie_filter(home, rating, year_min, year_max, collection)
    with open_catalog(home) as catalog:
        print_selection(catalog.select(flt), console)
        with console.status("writing the dataset report"):
            written = write_dataset_report(catalog, target, flt)
    console.print(f"dataset report: {written}", highlight=False)
