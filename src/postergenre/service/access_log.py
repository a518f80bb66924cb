"""One structured (JSON) log line per request: method, path, status, milliseconds, client, team member.

It names the member (`auth.TeamAccessGuard` sets it) and never a poster's file name or a synopsis: those travel in
request bodies, which are not logged, and no path or logged field carries them (campaigns and variants are named by
id; the query string is left out).

JSON lines can be grepped and loaded by log tooling without parsing free text; uvicorn's own access
log is switched off by `postergenre serve` so each request is logged exactly once.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("postergenre.service.access")


class AccessLog:
    """ASGI middleware; the outermost layer, so refusals by inner limits are logged too."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # what the client gets if the app raises before starting a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            client = scope.get("client")
            logger.info(
                json.dumps(
                    {
                        "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "ms": round((time.perf_counter() - start) * 1000, 1),
                        "client": client[0] if client else None,
                        "member": scope.get("state", {}).get("member"),
                    }
                )
            )
