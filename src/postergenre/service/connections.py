"""Connection-level guards for uvicorn: slow or greedy clients cannot take the service away from others.

uvicorn (h11) waits for request headers forever and counts every open socket against one global limit, so 131
sockets dripping a header line every 5 s made every request, `/healthz` included, fail for minutes. This protocol
closes a connection that has not delivered its request headers within `header_timeout_s` and refuses connections
beyond `max_per_client` from one address; the global limit is set high because idle sockets cost little and the
admission gate bounds the actual work.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_protocol(header_timeout_s: float, max_per_client: int) -> type[H11Protocol]:
    """An H11Protocol subclass with a header deadline and a per-client connection cap (one count per server)."""
    open_per_client: Counter[str] = Counter()

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted: str | None = None
        _cycle_when_armed: Any = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            host = self.client[0] if self.client else "?"
            if open_per_client[host] >= max_per_client:
                self.logger.warning("refused a connection from %s: %d already open", host, max_per_client)
                transport.close()
                return
            open_per_client[host] += 1
            self._counted = host
            self._arm()

        def _arm(self) -> None:
            """Start the header deadline for the next request on this connection (a new cycle = headers came)."""
            self._cycle_when_armed = self.cycle
            self._header_timer = self.loop.call_later(header_timeout_s, self._headers_late)

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.cycle is self._cycle_when_armed and not self.transport.is_closing():
                self.transport.close()  # no request line and headers in time: drop it silently

        def handle_events(self) -> None:
            super().handle_events()
            if self._header_timer is not None and self.cycle is not self._cycle_when_armed:
                self._header_timer.cancel()
                self._header_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self._header_timer is None:
                self._arm()  # keep-alive: the next request's headers get the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            if self._counted is not None:
                open_per_client[self._counted] -= 1
                if open_per_client[self._counted] <= 0:
                    del open_per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

    return GuardedH11Protocol
