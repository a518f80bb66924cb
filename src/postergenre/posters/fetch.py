"""Download poster URLs: one URL (prediction, the web service) or every catalog URL (bulk fetch).

Both paths share `_download`, so they share the same rules: a deadline per attempt that covers the
whole request (connecting, headers, body and every redirect hop: a server that drips its headers or body
a byte at a time is cut off at the deadline, not only when a single read stalls), a size cap enforced while
streaming, retries with exponential backoff on connection errors, 429 and 5xx (a `Retry-After` in
seconds or as an HTTP date is honoured, capped), redirects followed by hand so every hop is checked,
and a body that must decode as a poster (an HTML error page served with 200, or a truncated JPEG,
is a failure, not a poster).

With `allow_private_hosts=False` (the default everywhere: the web service, `posters fetch`, predict/similar/compare
and the Python API, unless told otherwise with --allow-private-urls / allow_private_urls=True) only
http(s) URLs whose host resolves solely to public addresses are fetched (SSRF guard, posters.urlguard): loopback,
private, link-local, shared, multicast and reserved addresses are refused, also when an IPv6 address
embeds one (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo). The check runs on every redirect hop,
and again inside the connection itself on the addresses actually dialled, so a DNS answer that changes
between the check and the connection (rebinding) cannot slip through.

The deadline and the connect-time check live in the network layer under httpx (`_GuardedBackend`), the
only place that sees every socket read and every address connected to. Consequently HTTP(S)_PROXY
environment variables are not used: through a proxy neither could be enforced. The one step the
deadline cannot interrupt is the system resolver's name lookup (getaddrinfo has no timeout argument).

The bulk fetcher is resumable: it asks only for movies without a stored poster, stores files
atomically (see PosterStore) and commits results to the catalog every half second, so a killed
run keeps its finished work and a rerun continues where it stopped.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from ..catalog.store import Catalog
from ..errors import (
    CONNECTION_REFUSED,
    HOST_NOT_FOUND,
    NETWORK_UNREACHABLE,
    PRIVATE_ADDRESS,
    TOO_LARGE,
    FetchError,
    PosterDecodeError,
)
from ..progress import ProgressFn, counter
from .caps import CATALOG_MAX_FILE_BYTES
from .images import decode_image
from .store import PosterStore
from .urlguard import HostNotFound, check_url, refusal_reason, resolve_addresses

USER_AGENT = "postergenre/0.1 (poster fetcher)"
_MAX_REDIRECTS = 5
_FLUSH_EVERY_S = 0.5  # commit finished results at least this often (bounds what a kill can lose)
_FLUSH_ROWS = 200
OFFLINE_AFTER = 20
"""The bulk fetch stops when its first this-many URLs all failed for one network reason (no DNS, connection refused,
network unreachable) on two hosts or more: the machine is offline, and thousands more attempts would say the same.
One dead host among working ones is that host's problem: its URLs fail and the run goes on."""
NETWORK_REASONS = {
    HOST_NOT_FOUND: "host names cannot be resolved",
    CONNECTION_REFUSED: "connection refused",
    NETWORK_UNREACHABLE: "network unreachable",
}


@dataclass(frozen=True)
class FetchLimits:
    """Limits for one URL. `timeout_s` bounds each whole attempt (connect, headers, body, redirects);
    `retries` counts extra attempts after the first."""

    timeout_s: float = 10.0
    max_bytes: int = CATALOG_MAX_FILE_BYTES
    retries: int = 3
    backoff_s: float = 0.5
    allow_private_hosts: bool = False  # SSRF guard on by default; a studio's intranet opts in
    max_retry_after_s: float = 30.0  # a server asking us to wait longer is treated as failing


@dataclass
class FetchSummary:
    to_fetch: int = 0  # movies with a poster URL and no stored poster at the start
    already_ok: int = 0  # movies skipped because their poster is stored
    urls: int = 0  # distinct URLs requested (movies can share a poster URL)
    ok: int = 0
    failed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (imdb_id, url, reason)
    stopped: str | None = None  # why the run stopped early (every first attempt failed for one network reason)


class _Retryable(Exception):
    """A failure worth another attempt; `wait_s` is the server's Retry-After when it gave one, `kind` a network kind."""

    def __init__(self, reason: str, wait_s: float | None = None, kind: str | None = None):
        super().__init__(reason)
        self.wait_s, self.kind = wait_s, kind


class _Failure(NamedTuple):
    """A URL the bulk fetch could not store: the reason in words and its kind (errors.*, None when unnamed)."""

    text: str
    kind: str | None


# -- one URL -------------------------------------------------------------------------------------


def fetch_image_bytes(url: str, *, limits: FetchLimits = FetchLimits()) -> bytes:
    """Download `url` and return its bytes once they decode as a poster; raises FetchError naming the URL."""
    with _client(limits, connections=1) as client:
        return _fetch_valid(client, url, limits)[0]


def _client(limits: FetchLimits, connections: int) -> httpx.Client:
    return httpx.Client(
        headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
        timeout=httpx.Timeout(limits.timeout_s),
        follow_redirects=False,  # followed by hand in _download so each hop passes the host check
        transport=_GuardedTransport(limits.allow_private_hosts, connections),
        trust_env=False,  # no proxies from the environment (see the module docstring)
    )


# -- the network layer: whole-request deadline and connect-time address check ---------------------

_DEADLINE = threading.local()  # monotonic time the current thread's attempt must finish by (or None)


@contextmanager
def _deadline_scope(seconds: float) -> Iterator[float]:
    """Every connect, read and write this thread makes inside the block ends by now + `seconds`."""
    _DEADLINE.at = time.monotonic() + seconds
    try:
        yield _DEADLINE.at
    finally:
        _DEADLINE.at = None


def _within_deadline(timeout: float | None, error: type[Exception]) -> float | None:
    """httpcore's per-operation `timeout`, shortened to what is left of this thread's deadline."""
    deadline = getattr(_DEADLINE, "at", None)
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the whole-request deadline has passed")
    return left if timeout is None else min(timeout, left)


class _Refused(Exception):
    """The connection would go to a non-public address; the message is the reason (no URL)."""


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the thread's deadline: httpcore gives each
    read the full read timeout again, so without this a server dripping one byte a second never
    times out."""

    def __init__(self, inner: httpcore.NetworkStream):
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, _within_deadline(timeout, httpcore.ConnectTimeout))
        )

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend plus the deadline and, unless private hosts are allowed, the address
    check on exactly the addresses it connects to."""

    def __init__(self, allow_private_hosts: bool):
        self._inner = httpcore.SyncBackend()
        self._allow_private_hosts = allow_private_hosts

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None
    ) -> httpcore.NetworkStream:
        if self._allow_private_hosts:
            targets = [host]
        else:
            try:
                addresses = resolve_addresses(host, port)
            except HostNotFound as exc:
                raise httpcore.ConnectError(str(exc)) from exc
            reason = refusal_reason(host, addresses)
            if reason:
                raise _Refused(reason)
            targets = list(dict.fromkeys(str(a) for a in addresses))
        failure: Exception | None = None
        for target in targets:  # the checked addresses themselves, in the resolver's order
            try:
                stream = self._inner.connect_tcp(
                    target, port, _within_deadline(timeout, httpcore.ConnectTimeout), local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                failure = exc
                continue
            return _DeadlineStream(stream)
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """One verifying context for every client (loading the CA bundle takes tens of ms; contexts are thread-safe)."""
    return httpx.create_ssl_context(trust_env=False)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport (request/response plumbing, exception mapping) over `_GuardedBackend`."""

    def __init__(self, allow_private_hosts: bool, connections: int):
        super().__init__(verify=_ssl_context(), trust_env=False)  # the shared context: no CA bundle reload
        # httpx has no public option for httpcore's network backend; replace the pool it just built
        # with the same pool over ours (httpx is pinned in requirements.lock; fail loudly if this moves).
        if not isinstance(getattr(self, "_pool", None), httpcore.ConnectionPool):
            raise RuntimeError("this httpx version builds its transport differently; update _GuardedTransport")
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(allow_private_hosts),
        )


def _fetch_valid(client: httpx.Client, url: str, limits: FetchLimits) -> tuple[bytes, int, int]:
    """Bytes, width and height of the poster at `url`."""
    data, content_type = _download(client, url, limits)
    try:
        image = decode_image(data, name=url)
    except PosterDecodeError as exc:
        sent = f" (server sent {content_type})" if content_type else ""
        raise FetchError(f"{exc}{sent}", kind=exc.kind) from exc
    return data, image.width, image.height


def _download(client: httpx.Client, url: str, limits: FetchLimits) -> tuple[bytes, str]:
    """Body and content type of `url`, retrying what is worth retrying."""
    last: _Retryable | None = None
    for attempt in range(limits.retries + 1):
        if last is not None:
            delay = last.wait_s if last.wait_s is not None else limits.backoff_s * 2 ** (attempt - 1)
            time.sleep(delay)
        try:
            return _attempt(client, url, limits)
        except _Retryable as exc:
            last = exc
    tries = limits.retries + 1
    assert last is not None  # the loop ran at least once, and every attempt raised
    raise FetchError(f"{url}: {last} (gave up after {tries} attempt{'s' if tries > 1 else ''})", kind=last.kind)


def _attempt(client: httpx.Client, url: str, limits: FetchLimits) -> tuple[bytes, str]:
    with _deadline_scope(limits.timeout_s) as deadline:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                check_url(current, allow_private_hosts=limits.allow_private_hosts)
            except FetchError as exc:
                if current == url:
                    raise
                raise FetchError(f"{url}: redirected to {exc}", kind=exc.kind) from exc  # exc names the hop's URL
            try:
                with client.stream("GET", current) as resp:
                    if resp.is_redirect and "location" in resp.headers:
                        current = urljoin(current, resp.headers["location"])
                        continue
                    status = resp.status_code
                    if status == 429 or status >= 500:
                        raise _Retryable(f"HTTP {status}", _retry_after(resp, limits))
                    if not 200 <= status < 300:
                        raise FetchError(f"{url}: HTTP {status}")
                    return _read_capped(resp, url, limits, deadline), resp.headers.get("content-type", "")
            except _Refused as exc:
                hop = "" if current == url else f" redirected to {current}:"
                raise FetchError(f"{url}:{hop} refused: {exc}", kind=PRIVATE_ADDRESS) from exc
            except httpx.TimeoutException as exc:
                what = "for the whole request" if time.monotonic() >= deadline else f"({type(exc).__name__})"
                raise _Retryable(f"timed out after {limits.timeout_s:g} s {what}") from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FetchError(f"{url}: invalid URL ({exc})") from exc
            except httpx.TransportError as exc:
                kind = _network_kind(exc)
                if kind == HOST_NOT_FOUND:
                    raise FetchError(f"{url}: the host name could not be found (check the address)", kind=kind) from exc
                raise _Retryable(f"connection failed ({_plain(exc)})", kind=kind) from exc
        raise FetchError(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _network_kind(exc: BaseException) -> str | None:
    """The network kind of a transport error, from the OS error it wraps (httpx wraps httpcore's error, which wraps
    the socket's); None when the failure is not the network's."""
    cause: BaseException | None = exc
    for _ in range(8):  # the chain is two or three long; bounded all the same
        if cause is None:
            break
        if isinstance(cause, (socket.gaierror, HostNotFound)):
            return HOST_NOT_FOUND
        if isinstance(cause, ConnectionRefusedError):
            return CONNECTION_REFUSED
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return NETWORK_UNREACHABLE
        cause = cause.__cause__ or cause.__context__
    return None


def _plain(exc: Exception) -> str:
    """A transport error in words a user reads: no "[Errno 111]" prefixes."""
    text = re.sub(r"\[Errno -?\d+\]\s*", "", str(exc)).strip()
    return text or type(exc).__name__


def _read_capped(resp: httpx.Response, url: str, limits: FetchLimits, deadline: float) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"{url}: too large ({int(declared):,} bytes; limit {limits.max_bytes:,})", kind=TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(f"{url}: too large (more than {limits.max_bytes:,} bytes)", kind=TOO_LARGE)
        if time.monotonic() > deadline:
            raise _Retryable(f"timed out after {limits.timeout_s:g} s (body too slow)")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(resp: httpx.Response, limits: FetchLimits) -> float | None:
    """Seconds the server asked us to wait (seconds or HTTP-date form), capped; None if absent."""
    value = resp.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), limits.max_retry_after_s)


# -- every catalog URL ---------------------------------------------------------------------------


def fetch_posters(
    catalog: Catalog,
    store: PosterStore,
    *,
    concurrency: int = 8,
    limits: FetchLimits = FetchLimits(),
    progress: ProgressFn | None = None,
) -> FetchSummary:
    """Fetch the poster URL of every movie without a stored poster (earlier failures are retried)."""
    store.sweep_partial()
    summary = FetchSummary()
    by_url: dict[str, list[str]] = {}
    rows = catalog.conn.execute(
        "SELECT m.imdb_id, m.poster_url, p.status, p.sha256 FROM movies m"
        " LEFT JOIN posters p ON p.imdb_id = m.imdb_id"
        " WHERE m.poster_url IS NOT NULL AND m.poster_url != '' ORDER BY m.imdb_id"
    ).fetchall()
    for imdb_id, url, status, sha in rows:
        if status == "ok" and sha and store.has(sha):
            summary.already_ok += 1
        else:
            by_url.setdefault(url.strip(), []).append(imdb_id)
    summary.to_fetch = sum(len(ids) for ids in by_url.values())
    summary.urls = len(by_url)

    writer = _ResultWriter(catalog, summary)
    with (
        counter(progress, summary.to_fetch, "fetching posters") as advance,
        _client(limits, connections=max(1, concurrency)) as client,
    ):
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="poster-fetch")
        try:
            pending: dict[Future, str] = {
                pool.submit(_fetch_and_store, client, store, url, limits): url for url in by_url
            }
            first: list[tuple[str | None, str]] = []  # (kind, host) of each of the first OFFLINE_AFTER results
            while pending and summary.stopped is None:
                done, _ = wait(pending, timeout=_FLUSH_EVERY_S, return_when=FIRST_COMPLETED)
                for future in done:
                    url = pending.pop(future)
                    result = future.result()
                    writer.add(by_url[url], url, result)
                    advance(len(by_url[url]), summary.ok, summary.failed)
                    if len(first) < OFFLINE_AFTER:
                        first.append((result.kind if isinstance(result, _Failure) else None, _host(url)))
                        reason = offline_reason(first) if len(first) == OFFLINE_AFTER and pending else None
                        if reason:
                            summary.stopped = (
                                f"the first {OFFLINE_AFTER} downloads all failed: {reason} on "
                                f"{len({host for _, host in first})} hosts (offline?); {len(pending)} "
                                "URLs not tried, finished work kept; rerun when the network is back"
                            )
                            break
                writer.flush_if_due()
        finally:
            writer.flush()  # an interrupted run still commits everything that finished
            pool.shutdown(wait=False, cancel_futures=True)
    return summary


def offline_reason(first: list[tuple[str | None, str]]) -> str | None:
    """In words, the network reason every (kind, host) of `first` failed for, when they span two hosts or more;
    None otherwise (also for a policy refusal or an HTTP error: those are not the network's)."""
    kinds = {kind for kind, _ in first}
    if len(kinds) != 1 or len({host for _, host in first}) < 2:
        return None
    kind = kinds.pop()
    return None if kind is None else NETWORK_REASONS.get(kind)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or url
    except ValueError:  # a malformed URL (it failed as such) counts as its own host
        return url


def _fetch_and_store(
    client: httpx.Client, store: PosterStore, url: str, limits: FetchLimits
) -> tuple[str, int, int] | _Failure:
    """(sha256, width, height) once stored, or the failure."""
    try:
        data, width, height = _fetch_valid(client, url, limits)
    except FetchError as exc:
        return _Failure(str(exc), exc.kind)
    except Exception as exc:  # one odd URL must not end a run of thousands; record it instead
        return _Failure(f"{url}: unexpected error ({type(exc).__name__}: {exc})", None)
    return store.put(data), width, height


class _ResultWriter:
    """Collects finished results and commits them in batched transactions."""

    def __init__(self, catalog: Catalog, summary: FetchSummary):
        self.catalog, self.summary = catalog, summary
        self.ok: list[tuple[str, str, int, int, str]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.last = time.monotonic()

    def add(self, imdb_ids: list[str], url: str, result: tuple[str, int, int] | _Failure) -> None:
        for imdb_id in imdb_ids:
            if isinstance(result, _Failure):
                self.failed.append((imdb_id, url, result.text))
                self.summary.failures.append((imdb_id, url, result.text))
                self.summary.failed += 1
            else:
                self.ok.append((imdb_id, *result, url))
                self.summary.ok += 1

    def flush_if_due(self) -> None:
        if len(self.ok) + len(self.failed) >= _FLUSH_ROWS or time.monotonic() - self.last >= _FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.ok:
            self.catalog.set_posters(self.ok)
        if self.failed:
            self.catalog.set_poster_failures(self.failed)
        self.ok, self.failed = [], []
        self.last = time.monotonic()
