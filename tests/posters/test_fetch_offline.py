"""`posters fetch` without a network: it stops early with one clear line instead of trying thousands of URLs
(issue 20), exits non-zero, and keeps what was already stored. One dead host among working ones, or words like
"refused" in URLs, must not stop it (review 8): the reason is the network's only on two hosts or more."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.posters.fetch import FetchLimits, fetch_posters
from postergenre.posters.store import PosterStore

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
MOVIES = 200
OFFLINE_AFTER = 20  # posters fetch --help: "the first 20 downloads"


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connecting is refused


def _catalog(home: Path, urls: list[str]) -> None:
    with Catalog(home / "catalog.sqlite") as catalog:
        catalog.upsert_movies([MovieRecord(f"tt{n:07d}", title=str(n), poster_url=url) for n, url in enumerate(urls)])


def _statuses(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "catalog.sqlite") as conn:
        return dict(conn.execute("SELECT status, COUNT(*) FROM posters GROUP BY status").fetchall())


def _fetch(home: Path, *extra: str) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    run = subprocess.run(
        [POSTERGENRE, "posters", "fetch", "--home", str(home), "--concurrency", "4", *extra],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    return run, time.monotonic() - start


def test_connection_refused_everywhere_stops_after_the_first_attempts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = _unused_port()
    _catalog(home, [f"http://127.0.0.{1 + n % 2}:{port}/p{n}.jpg" for n in range(MOVIES)])  # two dead hosts

    run, seconds = _fetch(home, "--allow-private-urls", "--retries", "1")

    assert run.returncode == 1, run.stdout + run.stderr
    stopped = [ln for ln in (run.stdout + run.stderr).splitlines() if ln.startswith("stopped")]
    assert len(stopped) == 1 and "connection refused" in stopped[0].lower() and str(OFFLINE_AFTER) in stopped[0], (
        run.stdout + run.stderr
    )
    failed = _statuses(home).get("failed", 0)
    assert OFFLINE_AFTER <= failed < MOVIES  # the attempts made are recorded; the rest were never tried
    assert seconds < 60


def test_unresolvable_hosts_stop_early_too(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _catalog(home, [f"http://posters-{n}.invalid/p.jpg" for n in range(MOVIES)])

    run, _ = _fetch(home)

    assert run.returncode == 1
    assert "stopped" in run.stdout + run.stderr and "could not be found" in run.stdout + run.stderr
    assert _statuses(home).get("failed", 0) < MOVIES


def test_a_network_that_works_for_some_urls_is_not_called_offline(tmp_path: Path, shared_data: Path) -> None:
    """Refused URLs mixed with reachable ones (here: a private host refused by the guard, not by the network) run
    to the end: only a run whose first attempts all fail for one network reason stops."""
    home = tmp_path / "home"
    port = _unused_port()
    urls = [f"http://127.0.0.1:{port}/p{n}.jpg" for n in range(30)] + ["http://10.0.0.1/guarded.jpg"] * 3
    _catalog(home, urls[::-1])  # the guarded (refused by policy, not by the network) come first

    run, _ = _fetch(home, "--retries", "0")

    assert "stopped" not in run.stdout + run.stderr
    assert _statuses(home).get("failed", 0) == len(urls)


@contextmanager
def _server(host: str, poster: bytes) -> Iterator[str]:
    """A real HTTP server on `host` (127.0.0.x): /good/* is a poster, anything else 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, status = (poster, 200) if self.path.startswith("/good/") else (b"not here", 404)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"http://{host}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _fetch_api(home: Path, urls: list[str]):
    _catalog(home, urls)
    with Catalog(home / "catalog.sqlite") as catalog:  # one worker: results arrive in catalog (imdb id) order
        return fetch_posters(
            catalog,
            PosterStore(home / "posters"),
            concurrency=1,
            limits=FetchLimits(timeout_s=2, retries=0, allow_private_hosts=True),
        )


def test_one_dead_host_among_working_ones_does_not_stop_the_run(tmp_path: Path, shared_data: Path) -> None:
    poster = (shared_data / "posters" / "tt0000003.jpg").read_bytes()
    dead = f"http://127.0.0.2:{_unused_port()}"
    with _server("127.0.0.1", poster) as serving:
        summary = _fetch_api(
            tmp_path / "home", [f"{dead}/p{n}.jpg" for n in range(25)] + [f"{serving}/good/{n}.jpg" for n in range(10)]
        )

    assert all(url.startswith(dead) for _, url, _ in summary.failures[:OFFLINE_AFTER])  # the first 20 all refused
    assert "connection refused" in summary.failures[0][2].lower()
    assert summary.stopped is None
    assert (summary.ok, summary.failed) == (10, 25)


def test_words_in_urls_are_not_network_reasons(tmp_path: Path) -> None:
    """HTTP 404s on two hosts whose URLs say "refused" and "unreachable": failures of the URLs, not of the network."""
    with _server("127.0.0.1", b"") as one, _server("127.0.0.2", b"") as two:
        summary = _fetch_api(
            tmp_path / "home", [f"{(one, two)[n % 2]}/refused/unreachable/{n}.jpg" for n in range(OFFLINE_AFTER + 5)]
        )

    assert all("HTTP 404" in reason for _, _, reason in summary.failures)
    assert summary.stopped is None and summary.failed == OFFLINE_AFTER + 5
