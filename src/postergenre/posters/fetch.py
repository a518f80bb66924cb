"""Download poster URLs: one URL (prediction, the web service) or every catalog URL (bulk fetch).

Both paths share `_download`, so they share the same rules: a time limit per attempt (not only per
socket read, so a server that drips bytes cannot hold a worker forever), a size cap enforced while
streaming, retries with exponential backoff on connection errors, 429 and 5xx (a `Retry-After` in
seconds or as an HTTP date is honoured, capped), redirects followed by hand so every hop is checked,
and a body that must decode as a poster (an HTML error page served with 200, or a truncated JPEG,
is a failure, not a poster).

With `allow_private_hosts=False` (the web service fetching URLs given by strangers) only http(s)
URLs whose host resolves solely to public addresses are fetched (SSRF guard). The check resolves
the name before connecting; a DNS answer that changes between the check and the connection is not
covered.

The bulk fetcher is resumable: it asks only for movies without a stored poster, stores files
atomically (see PosterStore) and commits results to the catalog every half second, so a killed
run keeps its finished work and a rerun continues where it stopped.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import httpx

from ..catalog.store import Catalog
from ..errors import FetchError, PosterDecodeError
from .images import decode_image
from .progress import progress_bar
from .store import PosterStore

USER_AGENT = "postergenre/0.1 (poster fetcher)"
_MAX_REDIRECTS = 5
_FLUSH_EVERY_S = 0.5  # commit finished results at least this often (bounds what a kill can lose)
_FLUSH_ROWS = 200


@dataclass(frozen=True)
class FetchLimits:
    """Limits for one URL. `retries` counts extra attempts after the first."""

    timeout_s: float = 10.0
    max_bytes: int = 20 * 1024 * 1024
    retries: int = 3
    backoff_s: float = 0.5
    allow_private_hosts: bool = True
    max_retry_after_s: float = 30.0  # a server asking us to wait longer is treated as failing


@dataclass
class FetchSummary:
    to_fetch: int = 0  # movies with a poster URL and no stored poster at the start
    already_ok: int = 0  # movies skipped because their poster is stored
    urls: int = 0  # distinct URLs requested (movies can share a poster URL)
    ok: int = 0
    failed: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # (imdb_id, url, reason)


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
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
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
    deadline = time.monotonic() + limits.timeout_s
    current = url
    for _ in range(_MAX_REDIRECTS + 1):
        check_url(current, allow_private_hosts=limits.allow_private_hosts)
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
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out after {limits.timeout_s:g} s ({type(exc).__name__})") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise FetchError(f"{url}: invalid URL ({exc})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__}: {exc})") from exc
    raise FetchError(f"{url}: more than {_MAX_REDIRECTS} redirects")


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
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, ValueError) as exc:
        raise FetchError(f"{url}: cannot resolve host {parts.hostname!r} ({exc})") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global or address.is_multicast:
            raise FetchError(
                f"{url}: refused: host {parts.hostname!r} resolves to non-public address {address} "
                "(loopback, private, link-local or reserved)"
            )


# -- every catalog URL ---------------------------------------------------------------------------

def fetch_posters(catalog: Catalog, store: PosterStore, *, concurrency: int = 8,
                  limits: FetchLimits = FetchLimits(), progress: bool = True) -> FetchSummary:
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
            while pending:
                done, _ = wait(pending, timeout=_FLUSH_EVERY_S, return_when=FIRST_COMPLETED)
                for future in done:
                    url = pending.pop(future)
                    writer.add(by_url[url], url, future.result())
                    advance(len(by_url[url]), summary.ok, summary.failed)
                writer.flush_if_due()
        finally:
            writer.flush()  # an interrupted run still commits everything that finished
            pool.shutdown(wait=False, cancel_futures=True)
    return summary


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
