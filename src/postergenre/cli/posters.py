"""CLI commands: posters attach / posters fetch (thin wrappers over postergenre.posters)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..posters.store import PosterStore
from ..safe_text import safe_text
from ._app import HomeOption, console, err_console, open_catalog, paths_for, posters_app, shown
from ._progress import progress_display

_SHOWN = 10  # failures / unknown names listed in full; the rest are counted


def _list(title: str, items: list[str]) -> None:
    if not items:
        return
    console.print(f"[yellow]{title}[/yellow] ({len(items)}):", highlight=False)
    for item in items[:_SHOWN]:
        console.print(f"  {safe_text(item, 500)}", highlight=False, markup=False)  # names from outside
    if len(items) > _SHOWN:
        console.print(f"  … and {len(items) - _SHOWN} more")


_ATTACH_HELP = (
    "Link local poster files to catalog movies by the IMDb id in their names.\n\n"
    "Each file is checked by the safe decoder and copied into the content-addressed poster store. "
    "Files whose id is not in the catalog are counted, not added. Rerunning skips posters already "
    "attached from the same file.\n\n"
    "Exit status 1 when the folder held poster files but none could be attached (no id matched the "
    "catalog, or every file failed to decode)."
)
_FETCH_HELP = (
    "Download the poster URL of every catalog movie that has no stored poster yet.\n\n"
    "Each body must decode as a poster image: an HTML error page or a truncated file is recorded as a "
    "failure with its reason. Resumable: finished posters are committed as they arrive, so after an "
    "interruption a rerun fetches only what is still missing (earlier failures are retried).\n\n"
    "URLs whose host resolves to a loopback, private, link-local or reserved address (in any IPv4 or IPv6 "
    "form, on every redirect) are refused unless --allow-private-urls is given. Each attempt has one "
    "deadline (--timeout) for connecting, headers, body and redirects together.\n\n"
    "Stops early, saying why, when the first 20 downloads all fail for one network reason (no DNS, connection "
    "refused, network unreachable) on two hosts or more: offline? One dead host does not stop the run.\n\n"
    "Exit status 1 when posters were to be fetched and none succeeded, or the run stopped early."
)


@posters_app.command("attach", help=_ATTACH_HELP)
def attach(
    folder: Annotated[
        Path,
        typer.Argument(help="Folder of poster files named by IMDb id, e.g. tt0114709.jpg (.jpg, .jpeg, .png, .webp)."),
    ],
    home: HomeOption = None,
) -> None:
    """See _ATTACH_HELP."""
    paths = paths_for(home)
    with open_catalog(home) as catalog, progress_display() as show:
        from ..posters.attach import attach_folder  # here, not at the top: `predict` starts without it

        summary = attach_folder(catalog, PosterStore(paths.posters), folder, progress=show)
    console.print(
        f"attached [green]{summary.attached}[/green], unchanged {summary.unchanged}, "
        f"failed [red]{summary.failed}[/red], not in catalog {summary.not_in_catalog}, "
        f"names without an IMDb id {summary.bad_names} (of {summary.scanned} poster files)"
    )
    _list("failed to decode", [reason for _, reason in summary.failures])
    _list("not in the catalog (import the catalog first)", summary.unknown_ids)
    _list("names without an IMDb id", summary.ignored_names)
    if summary.scanned and summary.attached == 0 and summary.unchanged == 0:
        raise typer.Exit(1)


@posters_app.command("fetch", help=_FETCH_HELP)
def fetch(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Downloads at once.")] = 8,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            help="Seconds allowed per download attempt, from connecting to the last byte, redirects included.",
        ),
    ] = 10.0,
    retries: Annotated[
        int,
        typer.Option(
            "--retries",
            min=0,
            max=10,
            help="Extra attempts after connection errors, timeouts, 429 and 5xx "
            "(exponential backoff; Retry-After honoured).",
        ),
    ] = 3,
    allow_private_urls: Annotated[
        bool,
        typer.Option(
            "--allow-private-urls",
            help="Also fetch from loopback, private and link-local hosts (only for a catalog you trust).",
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """See _FETCH_HELP."""
    paths = paths_for(home)
    from ..posters.fetch import FetchLimits, fetch_posters  # here: httpx costs ~90 ms of every CLI start

    limits = FetchLimits(timeout_s=timeout, retries=retries, allow_private_hosts=allow_private_urls)
    with open_catalog(home) as catalog, progress_display() as show:
        summary = fetch_posters(
            catalog, PosterStore(paths.posters), concurrency=concurrency, limits=limits, progress=show
        )
    console.print(
        f"fetched [green]{summary.ok}[/green], failed [red]{summary.failed}[/red] "
        f"({summary.to_fetch} movies, {summary.urls} URLs to fetch); already stored {summary.already_ok}"
    )
    _list("failed", [f"{imdb_id}: {reason}" for imdb_id, _, reason in summary.failures])
    if summary.stopped:
        err_console.print(f"stopped: {shown(summary.stopped)}", highlight=False, soft_wrap=True)
    if summary.stopped or (summary.to_fetch and summary.ok == 0):
        raise typer.Exit(1)
