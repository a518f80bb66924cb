"""Resource limits of the service: bounded inference concurrency and bounded request bodies.

Both limits refuse early instead of queueing or buffering without bound, so a burst of clients or one
huge upload cannot exhaust the machine: a saturated service answers 503 with Retry-After at once, and
an oversized body is cut off while it is being received (413), before it is stored anywhere.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")


class Saturated(HTTPException):
    """Every inference slot and waiting place is taken."""

    def __init__(self, retry_after_s: int):
        super().__init__(
            status_code=503,
            detail="the service is busy (all inference slots and waiting places are taken); retry shortly",
            headers={"Retry-After": str(retry_after_s)},
        )


class AdmissionGate:
    """Runs blocking model calls in worker threads, at most `max_concurrency` at a time.

    Up to `max_waiting` further requests wait for a slot; beyond that a request is refused at once with
    503 + Retry-After rather than joining an ever-growing queue whose answers would come too late.
    """

    def __init__(self, max_concurrency: int, max_waiting: int, retry_after_s: int = 1):
        if max_concurrency < 1 or max_waiting < 0:
            raise ValueError("max_concurrency must be ≥ 1 and max_waiting ≥ 0")
        self.max_concurrency = max_concurrency
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._admitted = 0  # running + waiting; only touched on the event loop, so no lock is needed

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn(*args, **kwargs)` in a worker thread, or raise Saturated when full."""
        if self._admitted >= self.max_concurrency + self.max_waiting:
            raise Saturated(self.retry_after_s)
        self._admitted += 1
        try:
            return await anyio.to_thread.run_sync(functools.partial(fn, *args, **kwargs), limiter=self._limiter)
        finally:
            self._admitted -= 1


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body exceeds the upload limit of {_megabytes(limit)}")


class BodySizeLimit:
    """ASGI middleware capping request bodies at `limit_for(path)` bytes.

    A declared Content-Length over the limit is refused before reading anything; otherwise bytes are
    counted as they arrive (chunked uploads have no Content-Length) and the request fails with 413 as
    soon as the count passes the limit, so at most `limit` bytes are ever held.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"error": BodyTooLarge(limit).detail})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # an HTTPException: FastAPI passes it on to the 413 handler
            return message

        await self.app(scope, limited_receive, send)


async def _send_json(send: Send, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close")],
    })
    await send({"type": "http.response.body", "body": payload})


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n:,} bytes"
