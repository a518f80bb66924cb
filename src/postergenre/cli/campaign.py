"""CLI commands: `postergenre campaign new|add|list|show|edit|brief|reread|remove-variant|delete`. Thin: argument
parsing and output; the work is in predict/campaigns.py and campaigns/store.py, as for the service's /v1/campaigns.

Changes are recorded under the OS login name, or `--as NAME` (the CLI runs where the data folder is: whoever can
run it can write the database anyway, so the name is a label, not a credential).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import PosterGenreError
from ._app import HomeOption, app, console, err_console, held_ratings, output_file, paths_for, shown
from ._output import print_json, write_document
from .predict import PredictorOptions, _report_failures, with_predictor_options

if TYPE_CHECKING:
    from ..campaigns.store import CampaignStore

campaign_app = typer.Typer(
    help="Campaigns: one film's poster variants, their stored readings and brief, kept in the "
    "data folder for the team.",
    no_args_is_help=True,
)
app.add_typer(campaign_app, name="campaign")
FORMATS = ("table", "json")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output: table (readable) or json.")]
AsOption = Annotated[
    str | None,
    typer.Option("--as", help="Record the change under this team member's name. Default: your login name."),
]
IdArgument = Annotated[str, typer.Argument(help="The campaign's id (campaign list).", show_default=False)]
IntendedOption = Annotated[
    str | None, typer.Option("--intended", help='Intended genres, comma-separated, e.g. "Family, Adventure".')
]
RatingOption = Annotated[
    str | None,
    typer.Option(
        "--rating",
        help="Content ratings of the comparable titles, comma-separated, or 'all'. Default: the studio's own.",
    ),
]


def _check(fmt: str, formats: tuple[str, ...] = FORMATS) -> None:
    if fmt not in formats:
        raise PosterGenreError(f"--format must be one of {', '.join(formats)}, got {fmt!r}")


def _member(as_: str | None) -> str:
    from ..campaigns.team import check_member_name, local_member

    return check_member_name(as_) if as_ else local_member()


def _store(home: Path | None) -> CampaignStore:
    from ..campaigns.store import CampaignStore

    paths = paths_for(home)
    return CampaignStore(paths.db, paths.campaign_posters)


def _show(view: dict[str, Any]) -> None:
    """A campaign for people: its fields, the recommendation, each variant ranked, the story, stale readings."""
    intended = ", ".join(view["intended"]) or "(the story's genres)"
    console.print(
        f"[bold]{shown(view['title'])}[/bold]  campaign {view['id']} · intended: {shown(intended)} · "
        f"{len(view['variants'])} variant{'s' if len(view['variants']) != 1 else ''} · changed by "
        f"{shown(view['updated_by'])} at {view['updated_at']}",
        highlight=False,
        soft_wrap=True,
    )
    ranking = view["ranking"]
    if ranking:
        console.print(shown(ranking["recommendation"]["text"]), highlight=False, soft_wrap=True)
    for v in sorted(view["variants"], key=lambda x: (x["rank"] is None, x["rank"] or 0, x["id"])):
        stale = v["reading"] is None or v["reading"]["stale"]
        console.print(
            f"  #{v['rank'] or '-'} {v['label'] or '?'}  variant {v['id']}  {shown(v['name'], 60)}  "
            f"{shown(v['verdict'] or '')}" + ("  [yellow](stale reading)[/yellow]" if stale else ""),
            highlight=False,
            soft_wrap=True,
        )
    if ranking and ranking.get("story"):
        console.print(shown(ranking["story"]["text"]), highlight=False, soft_wrap=True)
    if view["stale_readings"]:
        err_console.print(
            f"note: {view['stale_readings']} stored reading{'s' if view['stale_readings'] != 1 else ''} "
            f"no longer hold (another model or synopsis): `postergenre campaign reread {view['id']}`",
            highlight=False,
            soft_wrap=True,
        )


def _view(store: CampaignStore, options: PredictorOptions, campaign_id: str, predictor: Any = None) -> dict[str, Any]:
    from ..predict.campaigns import campaign_view

    return campaign_view(store, predictor or options.load(), campaign_id).to_dict()


@campaign_app.command("new")
@with_predictor_options
def new(
    title: Annotated[str, typer.Argument(help="The film's title.", show_default=False)],
    synopsis: Annotated[str | None, typer.Option("--synopsis", help="The film's synopsis.")] = None,
    intended: IntendedOption = None,
    rating: RatingOption = None,
    fmt: FormatOption = "table",
    as_: AsOption = None,
    *,
    options: PredictorOptions,
) -> None:
    """Start a campaign for a film; prints it with its id."""
    from ..predict.campaigns import create_campaign

    _check(fmt)
    predictor = options.load()
    with _store(options.home) as store:
        campaign = create_campaign(
            store,
            predictor.genres,
            title,
            synopsis=synopsis,
            intended=intended,
            ratings=rating,
            held_ratings=held_ratings(options.home, rating),
            by=_member(as_),
        )
        view = _view(store, options, campaign.id, predictor)
    print_json(view) if fmt == "json" else console.print(f"{view['id']}\t{shown(view['title'])}", highlight=False)


@campaign_app.command("add")
@with_predictor_options
def add(
    campaign_id: IdArgument,
    files: Annotated[list[str], typer.Argument(help="Poster files, folders or globs.", show_default=False)],
    fmt: FormatOption = "table",
    as_: AsOption = None,
    *,
    options: PredictorOptions,
) -> None:
    """Add poster variants: each is read and stored with its reading (exit 1 when some could not be read)."""
    from ..predict.campaigns import add_variants, read_files
    from ..predict.inputs import resolve_inputs
    from ..predict.results import PosterFailure

    _check(fmt)
    predictor = options.load()
    read = read_files(resolve_inputs(files), predictor.max_file_bytes)
    unread = [r for r in read if isinstance(r, PosterFailure)]
    posters = [r for r in read if not isinstance(r, PosterFailure)]
    with _store(options.home) as store:
        result = add_variants(store, predictor, campaign_id, posters, by=_member(as_)) if posters else None
    failures = unread + (result.failures if result else [])
    _report_failures(failures)
    body: dict[str, Any] = (
        result.to_dict() if result else {"campaign": campaign_id, "added": [], "duplicates": [], "failures": []}
    )
    body["failures"] = [f.to_dict() for f in failures]
    for d in body["duplicates"]:
        err_console.print(f"skipped: {shown(d['error'])}", highlight=False, soft_wrap=True)
    if fmt == "json":
        print_json(body)
    else:
        for v in body["added"]:
            console.print(f"added variant {v['id']}\t{shown(v['name'])}", highlight=False)
    if failures:
        raise typer.Exit(1)


@campaign_app.command("list")
def list_campaigns(fmt: FormatOption = "table", home: HomeOption = None) -> None:
    """The campaigns in the data folder, most recently changed first."""
    _check(fmt)
    with _store(home) as store:
        summaries = [s.to_dict() for s in store.campaigns()]
    if fmt == "json":
        print_json({"campaigns": summaries})
        return
    if not summaries:
        err_console.print(
            'no campaigns yet: `postergenre campaign new "TITLE" --intended "Family, Adventure"`', highlight=False
        )
    for s in summaries:
        console.print(
            f"{s['id']}\t{shown(s['title'], 60)}\t{s['variants']} variant{'s' if s['variants'] != 1 else ''}"
            f"\tchanged by {shown(s['updated_by'])} at {s['updated_at']}",
            highlight=False,
            soft_wrap=True,
        )


@campaign_app.command("show")
@with_predictor_options
def show(campaign_id: IdArgument, fmt: FormatOption = "table", *, options: PredictorOptions) -> None:
    """A campaign: its variants ranked from their stored readings, the story vs the posters, stale readings."""
    _check(fmt)
    with _store(options.home) as store:
        view = _view(store, options, campaign_id)
    print_json(view) if fmt == "json" else _show(view)


@campaign_app.command("edit")
@with_predictor_options
def edit(
    campaign_id: IdArgument,
    title: Annotated[str | None, typer.Option("--title", help="New title.")] = None,
    synopsis: Annotated[
        str | None,
        typer.Option("--synopsis", help="New synopsis ('' removes it); the variants are read with it again."),
    ] = None,
    intended: IntendedOption = None,
    rating: RatingOption = None,
    fmt: FormatOption = "table",
    as_: AsOption = None,
    *,
    options: PredictorOptions,
) -> None:
    """Change a campaign's title, synopsis, intended genres or ratings."""
    from ..campaigns.store import UNSET
    from ..predict.campaigns import update_campaign

    _check(fmt)
    given = {
        k: v if v is not None else UNSET
        for k, v in {"title": title, "synopsis": synopsis, "intended": intended, "ratings": rating}.items()
    }
    predictor = options.load()
    with _store(options.home) as store:
        update_campaign(
            store, predictor, campaign_id, by=_member(as_), held_ratings=held_ratings(options.home, rating), **given
        )
        view = _view(store, options, campaign_id, predictor)
    print_json(view) if fmt == "json" else _show(view)


@campaign_app.command("brief")
@with_predictor_options
def brief(
    campaign_id: IdArgument,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", callback=output_file, help="Write the brief to this file.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="html (one self-contained page) or json.")] = "html",
    *,
    options: PredictorOptions,
) -> None:
    """The campaign's brief, built from its stored readings: which variant to run and why, story vs poster."""
    from ..predict.campaigns import brief_body, campaign_brief
    from ..render.brief import render_brief

    _check(fmt, ("html", "json"))
    with _store(options.home) as store:
        result, view = campaign_brief(store, options.load(), campaign_id, heatmaps=fmt == "html", home=options.home)
    body = brief_body(result, view)
    if body["campaign"]["note"]:
        err_console.print(f"note: {shown(body['campaign']['note'])}", highlight=False, soft_wrap=True)
    text = render_brief(result) if fmt == "html" else json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    write_document(text, out, "brief")


@campaign_app.command("reread")
@with_predictor_options
def reread(
    campaign_id: IdArgument,
    every: Annotated[bool, typer.Option("--every", help="Read every variant again, stale or not.")] = False,
    fmt: FormatOption = "table",
    as_: AsOption = None,
    *,
    options: PredictorOptions,
) -> None:
    """Read again the variants whose stored reading was made by another model or for another synopsis."""
    from ..predict.campaigns import reread as reread_campaign

    _check(fmt)
    predictor = options.load()
    with _store(options.home) as store:
        count = reread_campaign(store, predictor, campaign_id, by=_member(as_), every=every)
        view = _view(store, options, campaign_id, predictor)
    if fmt == "json":
        print_json({"reread": count, "campaign": view})
    else:
        console.print(f"re-read {count} variant{'s' if count != 1 else ''} of campaign {campaign_id}", highlight=False)


def _print_removal(removal: Any, fmt: str) -> None:
    if fmt == "json":
        print_json(removal.to_dict())
    else:
        console.print(shown(removal.text), highlight=False, soft_wrap=True)


@campaign_app.command("remove-variant")
def remove_variant(
    campaign_id: IdArgument,
    variants: Annotated[list[int], typer.Argument(help="Variant ids (campaign show).", show_default=False)],
    fmt: FormatOption = "table",
    as_: AsOption = None,
    home: HomeOption = None,
) -> None:
    """Remove variants: their stored readings and poster files go (a poster another campaign holds stays)."""
    _check(fmt)
    with _store(home) as store:
        _print_removal(store.remove_variants(campaign_id, variants, by=_member(as_)), fmt)


@campaign_app.command("delete")
def delete(campaign_id: IdArgument, fmt: FormatOption = "table", as_: AsOption = None, home: HomeOption = None) -> None:
    """Delete a campaign: its variants, stored readings and poster files (a poster another campaign holds stays)."""
    _check(fmt)
    with _store(home) as store:
        _print_removal(store.delete(campaign_id, by=_member(as_)), fmt)
