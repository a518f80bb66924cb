"""The web service and page (`postergenre serve`). Build the app with `service.app.create_app`.

The defaults live here, in a module without heavy imports, so the CLI can show them in --help without loading
FastAPI or the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..model.decisions import MAX_COMPARE_VARIANTS as MAX_COMPARE_FILES  # noqa: F401  (the limit lives there)
from ..posters.caps import DEFAULT_MAX_FILE_BYTES

# Two inference threads: one slow request (explain) does not hold up the others; more would only contend for
# the same cores.
DEFAULT_MAX_CONCURRENCY = 2
DEFAULT_MAX_WAITING = 64  # requests admitted to wait for a thread; beyond this the answer is 503 + Retry-After
DEFAULT_HEADER_TIMEOUT_S = 10.0  # a connection must deliver its request headers within this
DEFAULT_BODY_TIMEOUT_S = 30.0  # longest wait for the next chunk of a request body
DEFAULT_MAX_CONNECTIONS = 1024  # open connections in all (idle sockets are cheap; work is bounded by the gate)
DEFAULT_MAX_CONNECTIONS_PER_CLIENT = 256  # open connections from one client address


@dataclass(frozen=True)
class ServiceSettings:
    """Everything `create_app` needs to know; the CLI's `serve` options map one to one onto these fields."""

    model_dir: Path | None = None
    home: Path | None = None
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    max_waiting: int = DEFAULT_MAX_WAITING
    max_upload_bytes: int = DEFAULT_MAX_FILE_BYTES  # per poster; the same cap as the CLI's and the API's
    allow_private_urls: bool = False
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    runtime: str = "auto"
    require_token: bool = False  # every request needs a team member's token (service/auth.py)


def needs_token(host: str, require_token: bool = False) -> bool:
    """Whether a server bound to `host` asks every request for a token: beyond loopback always (anyone on the
    network could call it), on loopback only when asked. Decided once, from how the server was started; a host
    name other than localhost counts as beyond loopback (it may resolve to any address)."""
    import ipaddress

    if require_token:
        return True
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return False
    try:
        return not ipaddress.ip_address(name).is_loopback
    except ValueError:
        return True
