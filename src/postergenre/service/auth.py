"""Team access: who may use a server, decided by how it was started, never by who seems to be asking.

A server started beyond loopback (or with --require-token) asks every request for a team member's token, including
requests that arrive over loopback (a proxy on the same machine must not open it) and whatever their Host header
says. A server on 127.0.0.1 without --require-token is open: one person on their own machine, who is then the
member named in changes (the OS login name of whoever started it); a token sent to it is still checked.

Credentials: `Authorization: Bearer <token>` (the API), or the session cookie the page gets from
`POST /v1/session` (HttpOnly, SameSite=Strict, Secure when the request came over HTTPS). Every check reads the
database (`campaigns.team`), so a removed member's token and sessions fail at the next request. Without a valid one:
401 with a plain sentence, for every path but `/healthz`, the page and its static files (which hold no data), and
the login itself.

Cross-site requests (CSRF): a request that may change something (POST, PUT, PATCH, DELETE) and is not carried by a
bearer token (which a browser never adds on its own) must come from the page's own origin: Sec-Fetch-Site, else
Origin, else Referer must say so. A cookie-carrying request with none of them is refused too; a request with no
cookie and none of them is a script (curl), which on an open server may go on.

Wrong credentials from one client address are slowed down (`WrongTokenThrottle`): 429 with Retry-After, growing;
other addresses are never affected.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from ..campaigns.team import TeamStore, local_member
from .limits import send_json

SESSION_COOKIE = "postergenre_session"
SESSION_LIFETIME_S = 7 * 24 * 3600  # a working week of campaign work per login
LOGIN_PATH = "/v1/session"
PUBLIC_PATHS = frozenset({"/healthz", "/", "/docs"})
PUBLIC_PREFIXES = ("/static/",)
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DRAIN_BYTES = 1 << 20  # a refused request's body read and dropped (a poster or less), so its answer arrives whole
DRAIN_S = 2.0
NEEDS_TOKEN = (
    "this server asks for a team member's token: send the header 'Authorization: Bearer <token>', or log "
    "in on the page (the server's owner gives tokens with `postergenre team add NAME`)"
)
WRONG_TOKEN = "the token or session is not valid (wrong, expired, or its team member was removed)"
CROSS_SITE = "refused: a request that changes something must come from this server's own page (cross-site request)"


def is_public(method: str, path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES) or (method == "POST" and path == LOGIN_PATH)


class WrongTokenThrottle:
    """Per client address: FREE_TRIES wrong credentials pass unpunished, then each further one doubles a wait (1 s,
    2 s, 4 s ... up to MAX_WAIT_S) during which that address's credentials are not even checked (429). A right one
    clears the address. At most MAX_TRACKED addresses are remembered (the longest quiet is forgotten first)."""

    FREE_TRIES = 5
    MAX_WAIT_S = 900.0
    MAX_TRACKED = 10_000

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # address -> (failures, blocked until)
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> int:
        """Seconds this address must wait before its credentials are checked again (0: now)."""
        with self._lock:
            _, until = self._failures.get(address, (0, 0.0))
        return max(0, math.ceil(until - self.clock()))

    def failed(self, address: str) -> None:
        with self._lock:
            count, _ = self._failures.pop(address, (0, 0.0))
            count += 1
            extra = count - self.FREE_TRIES
            until = self.clock() + min(self.MAX_WAIT_S, 2.0 ** (extra - 1)) if extra > 0 else 0.0
            self._failures[address] = (count, until)
            while len(self._failures) > self.MAX_TRACKED:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)


@dataclass
class TeamAccess:
    """The access policy of one server: whether a token is required, who an open server's requests act as, the
    team's tables (one reading connection, used under a lock from worker threads) and the throttle."""

    db_path: Path
    required: bool
    owner: str = field(default_factory=local_member)
    throttle: WrongTokenThrottle = field(default_factory=WrongTokenThrottle)

    def __post_init__(self) -> None:
        self._team = TeamStore(self.db_path)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._team.close()

    def member_for(self, token: str | None, session: str | None) -> str | None:
        with self._lock:
            if token is not None:
                return self._team.member_for_token(token)
            return self._team.member_for_session(session) if session is not None else None

    def open_session(self, member: str) -> tuple[str, str]:
        with TeamStore(self.db_path) as team:  # its own connection: a write may wait for another process's
            return team.open_session(member, SESSION_LIFETIME_S)

    def close_session(self, session: str) -> None:
        with TeamStore(self.db_path) as team:
            team.close_session(session)


def credentials(headers: dict[bytes, bytes]) -> tuple[str | None, str | None]:
    """(bearer token, session cookie value) of a request, either None when absent."""
    token = None
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip() or None
    session = None
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name == SESSION_COOKIE and value:
            session = value
    return token, session


def same_origin(scope: Scope, headers: dict[bytes, bytes]) -> bool | None:
    """Whether the browser says the request comes from this server's own pages; None when it says nothing
    (not a browser). Sec-Fetch-Site is the browser's own verdict; Origin and Referer are compared with the
    request's own origin (its scheme and Host header: a browser sets Host, a page cannot)."""
    site = headers.get(b"sec-fetch-site")
    if site is not None:
        return site.decode("latin-1").lower() in ("same-origin", "none")
    own = f"{scope.get('scheme', 'http')}://{headers.get(b'host', b'').decode('latin-1')}".lower()
    origin = headers.get(b"origin")
    if origin is not None:
        return origin.decode("latin-1").lower() == own
    referer = headers.get(b"referer")
    if referer is not None:
        parts = urlsplit(referer.decode("latin-1"))
        return f"{parts.scheme}://{parts.netloc}".lower() == own
    return None


class TeamAccessGuard:
    """ASGI middleware applying the server's `TeamAccess` (read from the app's state at each request) before
    anything else reads the request; the member lands in `request.state.member` (and the access log)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        access: TeamAccess = scope["app"].state.service.access
        headers = dict(scope["headers"])
        state = scope.setdefault("state", {})
        if is_public(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        token, session = credentials(headers)
        address = (scope.get("client") or ("?",))[0]
        if token is not None or session is not None:
            wait = access.throttle.retry_after(address)
            if wait:
                await _refuse(
                    scope,
                    receive,
                    send,
                    429,
                    "too many wrong tokens from this address; wait and try again",
                    {"retry-after": str(wait)},
                )
                return
            member = await anyio.to_thread.run_sync(access.member_for, token, session)
            if member is None:
                access.throttle.failed(address)
                await _refuse(scope, receive, send, 401, WRONG_TOKEN, {"www-authenticate": "Bearer"})
                return
            access.throttle.succeeded(address)
            via = "token" if token is not None else "session"
        elif access.required:
            await _refuse(scope, receive, send, 401, NEEDS_TOKEN, {"www-authenticate": "Bearer"})
            return
        else:
            member, via = access.owner, "open"
        if scope["method"] in UNSAFE_METHODS and via != "token":
            verdict = same_origin(scope, headers)
            if verdict is False or (verdict is None and via == "session"):
                await _refuse(scope, receive, send, 403, CROSS_SITE)
                return
        state["member"], state["access"] = member, via
        await self.app(scope, receive, send)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    """A JSON error, the request's body read and dropped first when it is small (closing on unread bytes resets the
    connection, and the client may never see the answer); a bigger upload is not read at all, and the connection
    closes after the answer (curl asks `Expect: 100-continue` before such a body, so it gets the answer cleanly)."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    drained = not (declared.isdigit() and int(declared) > DRAIN_BYTES) and await _drain(receive)
    await send_json(send, status, {"error": message}, headers=headers, close=not drained)


async def _drain(receive: Receive) -> bool:
    """Read and drop the request body if it is at most DRAIN_BYTES and arrives within DRAIN_S; whether it did."""
    received = 0
    with anyio.move_on_after(DRAIN_S):
        while received <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request":
                return False
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                return received <= DRAIN_BYTES
    return False
