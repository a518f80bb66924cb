"""CLI command: `postergenre serve` starts the web service and page."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import PosterGenreError
from ..posters.caps import DEFAULT_MAX_FILE_BYTES, from_megabytes, to_megabytes
from ..service import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
    DEFAULT_MAX_WAITING,
    ServiceSettings,
    needs_token,
)
from ._app import HomeOption, RuntimeOption, app, console, paths_for

HostOption = Annotated[
    str,
    typer.Option(
        help="Address to listen on. 0.0.0.0 exposes the service to your network; then every request needs a team "
        "member's token (postergenre team add)."
    ),
]
ConcurrencyOption = Annotated[int, typer.Option(min=1, help="Predictions computed at the same time.")]
QueueOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="Requests that may wait for a slot; beyond that the answer is "
        "503 + Retry-After, before the upload is read.",
    ),
]
DEFAULT_MAX_UPLOAD_MB = to_megabytes(DEFAULT_MAX_FILE_BYTES)
UploadOption = Annotated[float, typer.Option(min=0.1, help="Largest accepted poster upload or download, in MB.")]
PrivateUrlsOption = Annotated[
    bool, typer.Option(help="Let poster URLs point at private/loopback hosts (only on a trusted network).")
]
RequireTokenOption = Annotated[
    bool,
    typer.Option(
        "--require-token",
        help="Ask every request for a team member's token on 127.0.0.1 too (always so beyond loopback).",
    ),
]
AllowedHostsOption = Annotated[
    str | None,
    typer.Option(
        help="Host names the service answers to, comma-separated (* = any). Default: the bind address and localhost; "
        "any name when tokens are required (colleagues use the LAN name or address)."
    ),
]
HeaderTimeoutOption = Annotated[
    float, typer.Option(min=0.5, help="Seconds a connection has to send its request headers.")
]
BodyTimeoutOption = Annotated[
    float, typer.Option(min=0.5, help="Seconds a request body may stall between chunks (then 408).")
]
PerClientOption = Annotated[int, typer.Option(min=1, help="Open connections allowed from one client address.")]


@app.command()
def serve(
    host: HostOption = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    model: Annotated[Path | None, typer.Option("--model", help="Model folder. Default: the bundled model.")] = None,
    home: HomeOption = None,
    runtime: RuntimeOption = "auto",
    max_concurrency: ConcurrencyOption = DEFAULT_MAX_CONCURRENCY,
    max_queue: QueueOption = DEFAULT_MAX_WAITING,
    max_upload_mb: UploadOption = DEFAULT_MAX_UPLOAD_MB,
    allow_private_urls: PrivateUrlsOption = False,
    require_token: RequireTokenOption = False,
    allowed_hosts: AllowedHostsOption = None,
    header_timeout: HeaderTimeoutOption = DEFAULT_HEADER_TIMEOUT_S,
    body_timeout: BodyTimeoutOption = DEFAULT_BODY_TIMEOUT_S,
    max_connections_per_client: PerClientOption = DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
) -> None:
    """Serve the web page and the HTTP API (with the bundled model unless --model is given)."""
    import uvicorn

    from ..service.app import create_app
    from ..service.connections import guarded_protocol

    tokens = needs_token(host, require_token)
    if tokens:
        _refuse_without_members(host, home)
    _log_json_lines()
    default_hosts = ("*",) if tokens else tuple(dict.fromkeys((host, "127.0.0.1", "localhost", "[::1]")))
    hosts = tuple(h.strip() for h in allowed_hosts.split(",") if h.strip()) if allowed_hosts else default_hosts
    settings = ServiceSettings(
        model_dir=model,
        home=home,
        max_concurrency=max_concurrency,
        max_waiting=max_queue,
        max_upload_bytes=from_megabytes(max_upload_mb),
        allow_private_urls=allow_private_urls,
        allowed_hosts=hosts,
        body_timeout_s=body_timeout,
        runtime=runtime,
        require_token=tokens,
    )
    service = create_app(settings)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{shown}:{port}/"

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            console.print("loading the model…", highlight=False)
            await super().startup(sockets)
            if self.started:  # listening now: the URL works (a taken port exits inside startup instead)
                console.print(
                    f"Open [bold]{url}[/bold] in your browser (API docs: {url}docs). Stop with Ctrl+C.", soft_wrap=True
                )

    config = uvicorn.Config(
        service,
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=5,
        limit_concurrency=DEFAULT_MAX_CONNECTIONS,
        http=guarded_protocol(header_timeout, max_connections_per_client),
    )
    Server(config).run()


def _refuse_without_members(host: str, home: Path | None) -> None:
    """A server that asks for tokens while nobody holds one would turn everyone away: refuse to start, saying why."""
    from ..campaigns.team import TeamStore

    with TeamStore(paths_for(home).db) as team:
        if team.count() == 0:
            raise PosterGenreError(
                f"serving on {host} asks every request for a team member's token, and nobody "
                "holds one yet: add a member first with `postergenre team add NAME` (it prints "
                "the token), or serve on 127.0.0.1"
            )


def _log_json_lines() -> None:
    """The service's per-request JSON lines go to stderr, one per line, without decoration."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("postergenre.service")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
