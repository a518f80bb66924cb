"""Host allow-list: a browser tricked by DNS rebinding sends the attacker's host name, which is refused here."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from .limits import _send_json


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
            await _send_json(send, 421, {"error": f"host {host or '(none)'!r} is not served here; allowed: "
                                                  f"{', '.join(sorted(self.allowed))} (serve --allowed-hosts)"})
            return
        await self.app(scope, receive, send)
