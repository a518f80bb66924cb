"""Resource limits of the service: bounded inference concurrency, bounded and timed request bodies.

The limits refuse early instead of queueing or buffering without bound: a saturated service answers 503 with
Retry-After before it reads a byte of the body (admission is a dependency that runs before the endpoint reads its
upload), an oversized body is cut off while it is received (413), and a body that stalls is dropped (408). An
admitted request waits for its slot holding its uploads as spooled files, not bytes (see uploads), so what the
waiting places cost is disk: at most (max_concurrency + max_waiting) request bodies.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..posters.caps import megabytes

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
    """At most `max_concurrency` blocking model calls run (in worker threads) and `max_waiting` more wait.

    `admitted()` reserves a place for a whole request before its body is read; beyond capacity it raises Saturated
    at once rather than joining an ever-growing queue whose answers would come too late.
    """

    def __init__(self, max_concurrency: int, max_waiting: int, retry_after_s: int = 1):
        if max_concurrency < 1 or max_waiting < 0:
            raise ValueError("max_concurrency must be ≥ 1 and max_waiting ≥ 0")
        self.max_concurrency = max_concurrency
        self.max_waiting = max_waiting
        self.retry_after_s = retry_after_s
        self._limiter = anyio.CapacityLimiter(max_concurrency)
        self._admitted = 0  # only touched on the event loop, so no lock is needed

    @property
    def admitted(self) -> int:
        return self._admitted

    @property
    def waiting(self) -> int:
        """Requests whose body is read and which wait for a free slot (holding their uploads as spooled files)."""
        return self._limiter.statistics().tasks_waiting

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[AdmissionGate]:
        if self._admitted >= self.max_concurrency + self.max_waiting:
            raise Saturated(self.retry_after_s)
        self._admitted += 1
        try:
            yield self
        finally:
            self._admitted -= 1

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` in a worker thread once a slot is free (the caller holds an admission), at batch priority."""
        return await anyio.to_thread.run_sync(
            functools.partial(_at_batch_priority, fn, *args, **kwargs), limiter=self._limiter
        )


WORKER_NICENESS = 10
"""Worker threads (anyio's pool: the inference calls, and the file I/O Starlette hands off) yield the CPU to the event
loop, so on a busy machine it still reads uploads and answers /healthz promptly: 60 concurrent briefs of six 9.7 MB
posters on 2 cores shared with other jobs (load average 11-13), /healthz p95 0.14 s at default priority, 0.05-0.07 s
niced (benchmarks/abuse.py). Linux sets niceness per thread; where it cannot, this is a no-op."""
_worker = threading.local()


def _at_batch_priority(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if not getattr(_worker, "niced", False):  # once per worker thread: niceness only ever rises
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
        _worker.niced = True
    return fn(*args, **kwargs)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(status_code=413, detail=f"request body exceeds the upload limit of {megabytes(limit)}")


class BodyStalled(HTTPException):
    def __init__(self, timeout_s: float):
        super().__init__(
            status_code=408,
            detail=f"request body stalled: no data for {timeout_s:g} s",
            headers={"Connection": "close"},
        )


class RequestBodyLimits:
    """ASGI middleware capping request bodies at `limit_for(path)` bytes and `timeout_s` between chunks.

    A declared Content-Length over the limit is refused before reading anything; otherwise bytes are counted as they
    arrive and the request fails with 413 as soon as the count passes the limit, so at most `limit` bytes are held.
    A client that stops sending mid-body is dropped after `timeout_s` (408) instead of holding its slot forever.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], timeout_s: float):
        self.app = app
        self.limit_for = limit_for
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_json(send, 413, {"error": BodyTooLarge(limit).detail})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            with anyio.move_on_after(self.timeout_s) as scope_:
                message = await receive()
            if scope_.cancelled_caught:
                raise BodyStalled(self.timeout_s)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # an HTTPException: FastAPI passes it on to the 413 handler
            return message

        await self.app(scope, limited_receive, send)


async def send_json(
    send: Send, status: int, body: dict, *, headers: dict[str, str] | None = None, close: bool = True
) -> None:
    """A JSON answer sent from a middleware, before any route: `close` asks the client to drop the connection (the
    request's body may be left unread)."""
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *([(b"connection", b"close")] if close else []),
                *[(k.encode(), v.encode()) for k, v in (headers or {}).items()],
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
