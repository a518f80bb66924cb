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
http(s) URLs whose host resolves solely to public addresses are fetched (SSRF guard): loopback,
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

import ipaddress
import socket
import ssl
import threading
import re
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from ..catalog.store import Catalog
from ..errors import FetchError, PosterDecodeError
from .images import CATALOG_MAX_FILE_BYTES, decode_image
from ..progress import ProgressFn
from .progress import progress_bar
from .store import PosterStore

USER_AGENT = "postergenre/0.1 (poster fetcher)"
_MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_FLUSH_EVERY_S = 0.5  # commit finished results at least this often (bounds what a kill can lose)
_FLUSH_ROWS = 200
OFFLINE_AFTER = 20
"""The bulk fetch stops when its first this-many URLs all failed for one network reason (no DNS, connection refused,
network unreachable): the machine is offline or the hosts are gone, and thousands more attempts would say the same."""
_NETWORK_REASONS = (("could not be found", "host names cannot be resolved"), ("refused", "connection refused"),
                    ("unreachable", "network unreachable"), ("no route to host", "network unreachable"))


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
    """A failure worth another attempt; `wait_s` is the server's Retry-After when it gave one."""

    def __init__(self, reason: str, wait_s: float | None = None):
        super().__init__(reason)
        self.wait_s = wait_s


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

    def start_tls(self, ssl_context, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                     _within_deadline(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's socket backend plus the deadline and, unless private hosts are allowed, the address
    check on exactly the addresses it connects to."""

    def __init__(self, allow_private_hosts: bool):
        self._inner = httpcore.SyncBackend()
        self._allow_private_hosts = allow_private_hosts

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options=None) -> httpcore.NetworkStream:
        if self._allow_private_hosts:
            targets = [host]
        else:
            addresses = _resolve(host, port, httpcore.ConnectError)
            reason = _refusal(host, addresses)
            if reason:
                raise _Refused(reason)
            targets = list(dict.fromkeys(str(a) for a in addresses))
        failure: Exception | None = None
        for target in targets:  # the checked addresses themselves, in the resolver's order
            try:
                stream = self._inner.connect_tcp(target, port, _within_deadline(timeout, httpcore.ConnectTimeout),
                                                 local_address, socket_options)
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
            ssl_context=_ssl_context(), max_connections=connections,
            max_keepalive_connections=connections, keepalive_expiry=5.0,
            network_backend=_GuardedBackend(allow_private_hosts),
        )


def _fetch_valid(client: httpx.Client, url: str, limits: FetchLimits) -> tuple[bytes, int, int]:
    """Bytes, width and height of the poster at `url`."""
    data, content_type = _download(client, url, limits)
    try:
        image = decode_image(data, name=url)
    except PosterDecodeError as exc:
        sent = f" (server sent {content_type})" if content_type else ""
        raise FetchError(f"{exc}{sent}") from exc
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
    raise FetchError(f"{url}: {last} (gave up after {tries} attempt{'s' if tries > 1 else ''})")


def _attempt(client: httpx.Client, url: str, limits: FetchLimits) -> tuple[bytes, str]:
    with _deadline_scope(limits.timeout_s) as deadline:
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            try:
                check_url(current, allow_private_hosts=limits.allow_private_hosts)
            except FetchError as exc:
                if current == url:
                    raise
                raise FetchError(f"{url}: redirected to {exc}") from exc  # exc names the hop's URL
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
                raise FetchError(f"{url}:{hop} refused: {exc}") from exc
            except httpx.TimeoutException as exc:
                what = "for the whole request" if time.monotonic() >= deadline else f"({type(exc).__name__})"
                raise _Retryable(f"timed out after {limits.timeout_s:g} s {what}") from exc
            except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                raise FetchError(f"{url}: invalid URL ({exc})") from exc
            except httpx.TransportError as exc:
                if _unknown_host(exc):
                    raise FetchError(f"{url}: the host name could not be found (check the address)") from exc
                raise _Retryable(f"connection failed ({_plain(exc)})") from exc
        raise FetchError(f"{url}: more than {_MAX_REDIRECTS} redirects")


def _unknown_host(exc: Exception) -> bool:
    text = str(exc)
    return any(s in text for s in ("Name or service not known", "nodename nor servname", "No address associated",
                                   "Temporary failure in name resolution", "getaddrinfo failed"))


def _plain(exc: Exception) -> str:
    """A transport error in words a user reads: no "[Errno 111]" prefixes."""
    text = re.sub(r"\[Errno -?\d+\]\s*", "", str(exc)).strip()
    return text or type(exc).__name__


def _read_capped(resp: httpx.Response, url: str, limits: FetchLimits, deadline: float) -> bytes:
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise FetchError(f"{url}: too large ({int(declared):,} bytes; limit {limits.max_bytes:,})")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise FetchError(f"{url}: too large (more than {limits.max_bytes:,} bytes)")
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
            seconds = (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), limits.max_retry_after_s)


def check_url(url: str, *, allow_private_hosts: bool) -> None:
    """Refuse non-http(s) URLs, and with allow_private_hosts=False hosts with a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"{url}: only http:// and https:// URLs with a host can be fetched")
    if allow_private_hosts:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise FetchError(f"{url}: invalid URL ({exc})") from exc
    addresses = _resolve(parts.hostname, port, FetchError, url)
    reason = _refusal(parts.hostname, addresses)
    if reason:
        raise FetchError(f"{url}: refused: {reason}")


def _resolve(host: str, port: int, error: type[Exception], url: str | None = None) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise error(f"{url + ': ' if url else ''}the host name {host!r} could not be found ({_plain(exc)})") from exc
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the IPv4 is the last 32 bits
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix: never public
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo server and client)."""
    if address.version == 4:
        return []
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.extend(address.teredo)
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def is_public_address(address: IPAddress) -> bool:
    """A globally routable unicast address; for IPv6 also every IPv4 address embedded in it."""
    candidates: list[IPAddress] = [address, *embedded_ipv4(address)]
    if address.version == 6:
        if address in _NAT64_LOCAL:
            return False
        if address in _NAT64 or address.ipv4_mapped is not None:
            # only a wrapper (DNS64 networks show every IPv4-only host so): the IPv4 inside decides
            candidates = candidates[1:]
    # Python's is_global alone is not enough: it calls multicast and (before 3.12) NAT64, 6to4 and
    # IPv4-compatible forms of 127.0.0.1 "global".
    for candidate in candidates:
        if not candidate.is_global or candidate.is_multicast or candidate.is_reserved or candidate.is_unspecified:
            return False
    return True


def _refusal(host: str, addresses: list[IPAddress]) -> str | None:
    """Why a host resolving to `addresses` must not be fetched (None when every address is public)."""
    for address in addresses:
        if not is_public_address(address):
            return (f"host {host!r} resolves to non-public address {address} "
                    "(loopback, private, link-local or reserved)")
    return None


# -- every catalog URL ---------------------------------------------------------------------------

def fetch_posters(catalog: Catalog, store: PosterStore, *, concurrency: int = 8,
                  limits: FetchLimits = FetchLimits(), progress: ProgressFn | None = None) -> FetchSummary:
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
    with progress_bar(progress, summary.to_fetch, "fetching posters") as advance, \
            _client(limits, connections=max(1, concurrency)) as client:
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="poster-fetch")
        try:
            pending: dict[Future, str] = {
                pool.submit(_fetch_and_store, client, store, url, limits): url for url in by_url
            }
            first_reasons: list[str | None] = []  # network reason of each of the first OFFLINE_AFTER results
            while pending and summary.stopped is None:
                done, _ = wait(pending, timeout=_FLUSH_EVERY_S, return_when=FIRST_COMPLETED)
                for future in done:
                    url = pending.pop(future)
                    result = future.result()
                    writer.add(by_url[url], url, result)
                    advance(len(by_url[url]), summary.ok, summary.failed)
                    if len(first_reasons) < OFFLINE_AFTER:
                        first_reasons.append(network_reason(result) if isinstance(result, str) else None)
                        if len(first_reasons) == OFFLINE_AFTER and first_reasons[0] and \
                                len(set(first_reasons)) == 1 and len(pending) > 0:
                            summary.stopped = (f"the first {OFFLINE_AFTER} downloads all failed: {first_reasons[0]} "
                                               f"(offline?); {len(pending)} URLs not tried, finished work kept; "
                                               "rerun when the network is back")
                            break
                writer.flush_if_due()
        finally:
            writer.flush()  # an interrupted run still commits everything that finished
            pool.shutdown(wait=False, cancel_futures=True)
    return summary


def network_reason(failure: str) -> str | None:
    """The network-wide reason a fetch failed (no DNS, refused, unreachable), or None for a failure of one URL."""
    if ": refused: " in failure:  # the private-host guard's policy refusal, not the network's
        return None
    lowered = failure.lower()
    return next((reason for needle, reason in _NETWORK_REASONS if needle in lowered), None)


def _fetch_and_store(client: httpx.Client, store: PosterStore, url: str,
                     limits: FetchLimits) -> tuple[str, int, int] | str:
    """(sha256, width, height) once stored, or the failure reason."""
    try:
        data, width, height = _fetch_valid(client, url, limits)
    except FetchError as exc:
        return str(exc)
    except Exception as exc:  # one odd URL must not end a run of thousands; record it instead
        return f"{url}: unexpected error ({type(exc).__name__}: {exc})"
    return store.put(data), width, height


class _ResultWriter:
    """Collects finished results and commits them in batched transactions."""

    def __init__(self, catalog: Catalog, summary: FetchSummary):
        self.catalog, self.summary = catalog, summary
        self.ok: list[tuple[str, str, int, int, str]] = []
        self.failed: list[tuple[str, str, str]] = []
        self.last = time.monotonic()

    def add(self, imdb_ids: list[str], url: str, result: tuple[str, int, int] | str) -> None:
        for imdb_id in imdb_ids:
            if isinstance(result, str):
                self.failed.append((imdb_id, url, result))
                self.summary.failures.append((imdb_id, url, result))
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
