"""CLI commands: `postergenre team add|list|remove`: who may reach a server that asks for tokens. Thin: the rules
live in campaigns/team.py."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from ..errors import PosterGenreError
from ._app import HomeOption, app, console, err_console, paths_for, shown

team_app = typer.Typer(
    help="Team members: tokens for a server that others reach (serve --host 0.0.0.0).", no_args_is_help=True
)
app.add_typer(team_app, name="team")
FORMATS = ("table", "json")
FormatOption = Annotated[str, typer.Option("--format", "-f", help="Output: table (readable) or json.")]


def _team(home):
    from ..campaigns.team import TeamStore

    return TeamStore(paths_for(home).db)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise PosterGenreError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


@team_app.command("add")
def add(
    name: Annotated[
        str, typer.Argument(help="The member's name, as changes and the access log will show it.", show_default=False)
    ],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Give an existing member a new token; the old token and its sessions stop working."
        ),
    ] = False,
    home: HomeOption = None,
) -> None:
    """Add a team member and print their personal access token (alone on stdout, shown only this once)."""
    from ..campaigns.team import local_member

    with _team(home) as team:
        token = team.add(name, by=local_member(), replace=replace)
    err_console.print(
        f"{shown(name)} can now use servers of this data folder. Give them the token below (it is not "
        "stored and cannot be shown again): the page asks for it once; the API takes it as "
        "'Authorization: Bearer <token>'.",
        highlight=False,
        soft_wrap=True,
    )
    sys.stdout.write(token + "\n")


@team_app.command("list")
def list_members(fmt: FormatOption = "table", home: HomeOption = None) -> None:
    """The team members: who added them when, and how many live page sessions each holds."""
    _check_format(fmt)
    with _team(home) as team:
        members = team.members()
    if fmt == "json":
        sys.stdout.write(json.dumps({"members": [m.to_dict() for m in members]}, indent=2) + "\n")
        return
    if not members:
        err_console.print("no team members yet: `postergenre team add NAME`", highlight=False)
    for m in members:
        console.print(
            f"{shown(m.name)}\tadded by {shown(m.added_by)} at {m.added_at}\t{m.sessions} session"
            f"{'s' if m.sessions != 1 else ''}",
            highlight=False,
            soft_wrap=True,
        )


@team_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="The member to remove.", show_default=False)], home: HomeOption = None
) -> None:
    """Remove a member: their token and page sessions stop working at once, on running servers too."""
    with _team(home) as team:
        member = team.remove(name)
    err_console.print(
        f"removed {shown(member.name)}: their token and {member.sessions} page session"
        f"{'s' if member.sessions != 1 else ''} no longer work",
        highlight=False,
    )
