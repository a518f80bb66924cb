"""The fetcher against a real HTTP server on 127.0.0.1 that misbehaves in every way the issue lists."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.errors import FetchError, PosterGenreError
from postergenre.posters.fetch import FetchLimits, check_url, fetch_image_bytes, fetch_posters
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore
from postergenre.posters.urlguard import refusal_reason, resolve_addresses

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
# the test server is on 127.0.0.1
LIMITS = FetchLimits(timeout_s=0.5, retries=2, backoff_s=0.05, max_bytes=1_000_000, allow_private_hosts=True)


class PosterServer:
    """Routes: /good/N, /slowgood/N, /missing, /flaky/N (500 then 200), /busy/N (429 Retry-After: 1
    then 200), /slow, /truncated, /html, /huge, /redirect/N, /down (always 503)."""

    def __init__(self, posters: list[bytes], slow_good_s: float = 0.25):
        self.posters = posters
        self.slow_good_s = slow_good_s
        self.log: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server.lock:
                    server.log.append((self.path, time.monotonic()))
                    hits = sum(1 for p, _ in server.log if p == self.path)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (timeouts)
                    server.respond(self, hits)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def requests(self) -> Counter:
        with self.lock:
            return Counter(p for p, _ in self.log)

    def respond(self, h: BaseHTTPRequestHandler, hits: int) -> None:
        parts = h.path.strip("/").split("/")
        route, arg = parts[0], (int(parts[1]) if len(parts) > 1 else 0)
        poster = self.posters[arg]
        if route == "good":
            return self.send(h, 200, poster)
        if route == "slowgood":
            time.sleep(self.slow_good_s)
            return self.send(h, 200, poster)
        if route == "flaky":
            return self.send(h, 500, b"oops") if hits == 1 else self.send(h, 200, poster)
        if route == "busy":
            return self.send(h, 429, b"slow down", {"Retry-After": "1"}) if hits == 1 else self.send(h, 200, poster)
        if route == "slow":
            time.sleep(1.5)
            return self.send(h, 200, poster)
        if route == "truncated":
            return self.send(h, 200, poster[: len(poster) // 2])
        if route == "html":
            return self.send(h, 200, b"<html><body>Poster not found</body></html>", {"Content-Type": "text/html"})
        if route == "huge":
            return self.send(h, 200, b"\xff\xd8\xff" + b"\0" * 2_000_000)
        if route == "redirect":
            return self.send(h, 302, b"", {"Location": f"/good/{arg}"})
        if route == "down":
            return self.send(h, 503, b"maintenance")
        return self.send(h, 404, b"no such poster")

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict | None = None) -> None:
        h.send_response(status)
        headers = {"Content-Type": "image/jpeg", **(headers or {})}
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def posters(shared_rows: list[dict], shared_data: Path) -> list[bytes]:
    return [(shared_data / row["poster"]).read_bytes() for row in shared_rows[:30]]


@pytest.fixture()
def server(posters: list[bytes]):
    srv = PosterServer(posters)
    yield srv
    srv.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_fetch_posters_against_a_misbehaving_server(tmp_path: Path, server: PosterServer, posters: list[bytes]) -> None:
    routes = {
        "tt0000001": "/good/0",
        "tt0000002": "/good/0",  # two movies sharing one poster URL
        "tt0000003": "/missing",
        "tt0000004": "/flaky/1",
        "tt0000005": "/busy/2",
        "tt0000006": "/slow",
        "tt0000007": "/truncated",
        "tt0000008": "/html",
        "tt0000009": "/huge",
        "tt0000010": "/redirect/3",
        "tt0000011": "/down",
    }
    records = [MovieRecord(i, title=i, poster_url=server.url + route) for i, route in routes.items()]
    records.append(MovieRecord("tt0000012", title="no url"))
    store = PosterStore(tmp_path / "store")
    with Catalog(tmp_path / "c.sqlite") as catalog:
        catalog.upsert_movies(records)
        summary = fetch_posters(catalog, store, concurrency=4, limits=LIMITS, progress=False)
        assert (summary.to_fetch, summary.urls, summary.ok, summary.failed) == (11, 10, 5, 6)

        expected_ok = {"tt0000001": 0, "tt0000002": 0, "tt0000004": 1, "tt0000005": 2, "tt0000010": 3}
        for imdb_id, index in expected_ok.items():
            movie = catalog.get_movie(imdb_id)
            assert movie.poster_status == "ok" and movie.poster_sha256 == _sha(posters[index])
            assert store.read(movie.poster_sha256) == posters[index]
            assert (movie.poster_width, movie.poster_height) == decode_image(posters[index]).size
        reasons = {i: catalog.get_movie(i).poster_error for i in routes if i not in expected_ok}
        assert all(catalog.get_movie(i).poster_status == "failed" for i in reasons)
        assert reasons["tt0000003"] == f"{server.url}/missing: HTTP 404"
        assert "timed out" in reasons["tt0000006"] and "gave up after 3 attempts" in reasons["tt0000006"]
        assert "truncated or corrupt" in reasons["tt0000007"]
        assert "not an image" in reasons["tt0000008"] and "text/html" in reasons["tt0000008"]
        assert "too large" in reasons["tt0000009"]
        assert reasons["tt0000011"] == f"{server.url}/down: HTTP 503 (gave up after 3 attempts)"
        assert catalog.get_movie("tt0000012").poster_status is None

        requests = server.requests()
        assert requests["/good/0"] == 1  # shared URL fetched once
        assert requests["/missing"] == 1  # a 404 is not retried
        assert requests["/flaky/1"] == 2 and requests["/down"] == 3 and requests["/slow"] == 3
        busy = [t for p, t in server.log if p == "/busy/2"]
        assert len(busy) == 2 and busy[1] - busy[0] >= 0.95  # Retry-After: 1, not the 0.05 s backoff

        before = len(server.log)
        again = fetch_posters(catalog, store, concurrency=4, limits=LIMITS, progress=False)
        assert (again.already_ok, again.to_fetch, again.ok) == (5, 6, 0)
        rerun_paths = {p for p, _ in server.log[before:]}
        assert rerun_paths == {"/missing", "/slow", "/truncated", "/html", "/huge", "/down"}
    assert store.partial_files() == []
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 4


def test_fetch_image_bytes(server: PosterServer, posters: list[bytes]) -> None:
    assert fetch_image_bytes(f"{server.url}/good/5", limits=LIMITS) == posters[5]
    with pytest.raises(FetchError, match=f"^{server.url}/html: not an image"):
        fetch_image_bytes(f"{server.url}/html", limits=LIMITS)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/good/0",
        "http://localhost:{port}/good/0",
        "http://[::1]:{port}/good/0",
        "http://10.1.2.3/poster.jpg",
        "http://192.168.0.7/poster.jpg",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0:{port}/good/0",
    ],
)
def test_private_hosts_are_refused_before_connecting(server: PosterServer, url: str) -> None:
    url = url.format(port=server.httpd.server_address[1])
    with pytest.raises(FetchError, match=r"refused: host .* resolves to non-public address"):
        fetch_image_bytes(url, limits=FetchLimits(allow_private_hosts=False, retries=0, timeout_s=1))
    assert server.requests() == Counter()


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.jpg", "gopher://x/", "http:///nohost"])
def test_only_http_urls_are_fetched(url: str) -> None:
    for allow in (True, False):
        with pytest.raises(PosterGenreError, match="only http:// and https://"):
            fetch_image_bytes(url, limits=FetchLimits(allow_private_hosts=allow, retries=0))


@pytest.mark.parametrize("host", ["93.184.216.34", "8.8.8.8", "[2606:2800:220:1:248:1893:25c8:1946]"])
def test_public_addresses_pass_the_check(host: str) -> None:
    """A public literal (no DNS needed) has no refusal reason, where its private neighbours have one."""
    literal = host.strip("[]")
    assert refusal_reason(literal, resolve_addresses(literal, 80)) is None
    check_url(f"http://{host}/poster.jpg", allow_private_hosts=False)  # the same decision through the URL check
    with pytest.raises(FetchError, match="refused"):
        check_url("http://10.0.0.1/poster.jpg", allow_private_hosts=False)


def test_allowing_private_hosts_fetches_from_loopback(server: PosterServer, posters: list[bytes]) -> None:
    url = f"http://127.0.0.1:{server.httpd.server_address[1]}/good/3"
    check_url(url, allow_private_hosts=True)
    assert fetch_image_bytes(url, limits=FetchLimits(allow_private_hosts=True, retries=0)) == posters[3]
    assert server.requests()["/good/3"] == 1


def _ok_rows(db: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT imdb_id, sha256 FROM posters WHERE status = 'ok'").fetchall())
    except sqlite3.OperationalError:  # the fetcher has not created the table yet
        return {}
    finally:
        conn.close()


def test_killed_fetch_resumes_without_partial_files_or_lost_work(
    tmp_path: Path, server: PosterServer, posters: list[bytes]
) -> None:
    server.slow_good_s = 0.4  # 24 posters, 2 at a time: ~5 s, ample time to kill mid-run
    home = tmp_path / "home"
    db = home / "catalog.sqlite"
    with Catalog(db) as catalog:
        catalog.upsert_movies(
            [MovieRecord(f"tt{n:07d}", title=str(n), poster_url=f"{server.url}/slowgood/{n}") for n in range(24)]
        )
    # the test server is on 127.0.0.1
    command = [
        POSTERGENRE,
        "posters",
        "fetch",
        "--home",
        str(home),
        "--concurrency",
        "2",
        "--timeout",
        "5",
        "--retries",
        "0",
        "--allow-private-urls",
    ]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while len(_ok_rows(db)) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished
    before_kill = _ok_rows(db)
    assert 4 <= len(before_kill) < 24
    first_run_requests = len(server.log)

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"already stored {len(before_kill)}" in rerun.stdout
    after = _ok_rows(db)
    assert len(after) == 24
    assert all(after[i] == sha for i, sha in before_kill.items())  # no finished work lost
    rerun_paths = {p for p, _ in server.log[first_run_requests:]}
    assert not rerun_paths & {f"/slowgood/{int(i[2:])}" for i in before_kill}  # nothing fetched twice

    store = PosterStore(home / "posters")
    assert store.partial_files() == []
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert sorted(p.stem for p in files) == sorted({_sha(p) for p in posters[:24]})
    for path in files:  # every stored file is whole: its bytes hash to its name
        assert _sha(path.read_bytes()) == path.stem
