"""The Typer app, shared options, and the one place user errors become a clean exit."""

from __future__ import annotations

import atexit
import gc
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ..config import Paths, get_paths
from ..errors import PosterGenreError
from ..features.runtime import RUNTIME_KINDS
from ..safe_text import safe_text

if TYPE_CHECKING:  # imported where used: `predict` reads no catalog unless it filters by rating (issue 26)
    from ..catalog.filters import FilterStep, MovieFilter, Selection
    from ..catalog.store import Catalog

ERROR_LIMIT = 2000  # characters of one error line; longer ones (a binary file's "header") are cut

app = typer.Typer(
    name="postergenre",
    help="Predict a movie's genres from its poster, find comparable titles, compare poster variants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _show_version(value: bool) -> None:
    if value:
        from .._version import __version__

        typer.echo(f"postergenre {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Predict a movie's genres from its poster, find comparable titles, compare poster variants."""


catalog_app = typer.Typer(help="Import catalog files and inspect the catalog.", no_args_is_help=True)
posters_app = typer.Typer(
    help="Attach local poster files or fetch poster URLs into the poster store.", no_args_is_help=True
)
report_app = typer.Typer(help="Write HTML reports.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(posters_app, name="posters")
app.add_typer(report_app, name="report")


def _console(stderr: bool = False) -> Console:
    """A console that wraps lines at the terminal's width, and never elsewhere: in a log or a file a message stays
    one line, whatever its length (Rich would break it at 80 columns). Tables: see _output."""
    made = Console(stderr=stderr)
    made.soft_wrap = not made.is_terminal
    return made


console = _console()
err_console = _console(stderr=True)
EXIT_CLOSED_PIPE = 128 + 13  # 141: what a shell reports for a writer ended by SIGPIPE (`yes | head` with pipefail)


def _flags_read_as_flags() -> None:
    """--help shows a flag (`--explain`, `--compact/--no-compact`, `--help`) without a value type: typer 0.29 renders
    every option's type, so flags read `--explain <bool>`, as if they took a value."""
    from typer.core import TyperOption

    typed = TyperOption.display_type_rich
    if getattr(typed, "_flags_untyped", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else typed(self, ctx)

    # A marker on the function and a patched method: both are what this patch is, not type errors.
    display_type_rich._flags_untyped = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_read_as_flags()

# Options shared by commands; typed aliases keep signatures short and the --help consistent.
HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Data folder (catalog, posters, models). Default: $POSTERGENRE_HOME or a per-user folder."
    ),
]


def output_file(value: Path | None) -> Path | None:
    """Callback of an option naming a file to write: a folder there, a parent that is a file or a read-only place
    fails before any work, as one line (the rule is files.check_output_file's; the writers apply it again)."""
    from ..files import check_output_file

    return None if value is None else check_output_file(value)


def output_folder(value: Path | None) -> Path | None:
    """Callback of an option naming a folder to write into (see output_file)."""
    from ..files import check_output_folder

    return None if value is None else check_output_folder(value)


def _check_runtime(value: str) -> str:
    if value not in RUNTIME_KINDS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(RUNTIME_KINDS)}")
    return value


RuntimeOption = Annotated[
    str,
    typer.Option(
        "--runtime",
        callback=_check_runtime,
        help="Inference runtime: auto (onnx-int8 where a calibration table ships for the backbone, else onnx, else "
        "torch), onnx-int8, onnx (fp32) or torch.",
    ),
]
RatingOption = Annotated[
    str | None, typer.Option("--rating", help="Content ratings to keep, comma-separated, e.g. G,PG.")
]
YearMinOption = Annotated[int | None, typer.Option("--year-min", help="Keep movies released in or after this year.")]
YearMaxOption = Annotated[int | None, typer.Option("--year-max", help="Keep movies released in or before this year.")]
CollectionOption = Annotated[
    str | None,
    typer.Option(
        "--collection", help="Keep movies of these collections, comma-separated, e.g. studio or studio,general."
    ),
]


def shown(text: object, limit: int | None = None, *, lines: bool = False) -> str:
    """Untrusted text (names, ids, titles, excerpts) for a Rich print: control characters escaped (no terminal
    escapes), markup brackets kept as text, cut to `limit` characters."""
    return escape(safe_text(text, limit, lines=lines))


def paths_for(home: Path | None) -> Paths:
    return get_paths(home).ensure()


def open_catalog(home: Path | None) -> Catalog:
    from ..catalog.store import Catalog

    return Catalog(paths_for(home).db)


def held_ratings(home: Path | None, rating: str | None) -> list[str]:
    """The ratings the catalog in `home` stores, so `--rating PD` (or a foreign "12A") it holds is accepted;
    the catalog is read only when a rating was given."""
    if rating is None:
        return []
    with open_catalog(home) as catalog:
        return list(catalog.filter_values().ratings)


def movie_filter(
    home: Path | None,
    rating: str | None,
    year_min: int | None,
    year_max: int | None,
    collection: str | None = None,
    **extra,
) -> MovieFilter:
    from ..catalog.filters import MovieFilter

    return MovieFilter.parse(
        rating=rating,
        collection=collection,
        year_min=year_min,
        year_max=year_max,
        held_ratings=held_ratings(home, rating),
        **extra,
    )


def print_selection(selection: Selection | Iterable[FilterStep], target: Console | None = None) -> None:
    """One line per filter that removed movies, saying how many and why (stderr unless `target`)."""
    from ..catalog.filters import Selection

    steps = selection.steps if isinstance(selection, Selection) else selection
    out = target or err_console
    for step in steps:
        if step.removed:
            out.print(f"[dim]filter:[/dim] {step}", highlight=False, soft_wrap=True)


def _closed_pipe() -> None:
    """The reader of stdout is gone (`| head`): stop quietly, with the status of a writer ended by SIGPIPE.

    stdout now points at /dev/null, so the interpreter's final flush of what is still buffered cannot fail again
    (Python's advice for SIGPIPE; the signal itself stays ignored, so sockets and the service are unaffected)."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture): nothing to redirect
        pass
    sys.exit(EXIT_CLOSED_PIPE)


def main() -> None:
    """Entry point: user errors become one red line and exit code 2, never a traceback."""
    # At exit, the interpreter's last full garbage collection walks every object the imports made: ~45 ms of a
    # 0.37 s answer (issue 26). Frozen, they are left to the OS; exit handlers and flushes still run.
    atexit.register(gc.freeze)
    try:
        # standalone_mode=False makes click *return* the code of typer.Exit instead of exiting with it.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            if code == 130:  # typer turns Ctrl-C into a returned 130; the except branch below never sees it
                err_console.print("[yellow]interrupted[/yellow]: finished work is kept; rerun to continue")
            sys.exit(code)
    except PosterGenreError as exc:
        # brackets in it are text; one line, however narrow the terminal
        err_console.print(f"[red]error:[/red] {shown(exc, ERROR_LIMIT, lines=True)}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        err_console.print("[yellow]interrupted[/yellow]: finished work is kept; rerun to continue")
        sys.exit(130)
    except BrokenPipeError:
        _closed_pipe()
    except SystemExit as exc:  # typer's own answer to a closed pipe is sys.exit(1) while handling the error
        if isinstance(exc.__context__, BrokenPipeError):
            _closed_pipe()
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors come through here in standalone_mode=False
        import click

        # typer >= 0.20 vendors click: its usage errors derive from typer.TyperException, not click's.
        if isinstance(exc, (click.ClickException, typer.TyperException)) and hasattr(exc, "show"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
