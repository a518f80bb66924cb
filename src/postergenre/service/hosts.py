"""Host allow-list: a browser tricked by DNS rebinding sends the attacker's host name, which is refused here.

It guards the open server (127.0.0.1 without --require-token), where it is the only thing between a rebinding page
and the data. A server that asks for tokens (bound beyond loopback) answers any Host by default (`serve` picks "*"),
so colleagues reach it by its LAN name or address: a rebinding page holds no credential to send (the session cookie
belongs to the server's real host name and is SameSite=Strict; a token is never in the page), so it gets the same 401
as any stranger, and the allow-list would only stand between colleagues and the server. `--allowed-hosts` still
narrows it for those who want both.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .limits import send_json


def host_name(header: str) -> str:
    """`example.org:8000` → `example.org`; `[::1]:8000` → `[::1]` (lower case)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostAllowList:
    """ASGI middleware answering 421 to requests whose Host header names none of `allowed` ("*" allows any)."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]):
        self.app = app
        self.allowed = {host_name(h) for h in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = host_name(dict(scope["headers"]).get(b"host", b"").decode("latin-1"))
        if host not in self.allowed:
            await send_json(
                send,
                421,
                {
                    "error": f"host {host or '(none)'!r} is not served here; allowed: "
                    f"{', '.join(sorted(self.allowed))} (serve --allowed-hosts)"
                },
            )
            return
        await self.app(scope, receive, send)
