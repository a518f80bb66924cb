"""The URL fetcher against hostile servers on 127.0.0.1 and hostile addresses.

* Servers that drip their headers or body a byte at a time, or spread a slow response over redirect
  hops, are cut off at the one whole-request deadline (httpx alone restarts its read timeout on every
  byte, so these were held for as long as the server liked).
* The SSRF guard refuses every non-public address, also written as IPv6 forms that embed an IPv4
  address, on every redirect hop, and at connect time (a DNS answer that changes after the check).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from postergenre.catalog.records import MovieRecord
from postergenre.catalog.store import Catalog
from postergenre.errors import FetchError
from postergenre.posters import urlguard
from postergenre.posters.fetch import FetchLimits, check_url, fetch_image_bytes
from postergenre.posters.urlguard import is_public_address

DRIP_S = 0.05  # one byte every 50 ms: each read returns long before any per-read timeout
DRIP_MAX_BYTES = 400  # a server gives up after 400 bytes (20 s): bounds the test if the deadline failed


class RawServer:
    """A TCP server on 127.0.0.1 whose handler gets the accepted socket (after reading the request head).

    `sent[i]` counts the bytes handler i wrote before the client hung up or it finished."""

    def __init__(self, handler: Callable[[RawServer, socket.socket, str], None]):
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self.sent: list[int] = []
        self.closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ")[1].decode()
            self.requests.append(path)
            with contextlib.suppress(OSError):  # the client hung up
                self.handler(self, conn, path)

    def drip(self, conn: socket.socket, data: bytes) -> None:
        """Send `data` one byte per DRIP_S (at most DRIP_MAX_BYTES), counting what got out."""
        index = len(self.sent)
        self.sent.append(0)
        for byte in data[:DRIP_MAX_BYTES]:
            conn.sendall(bytes([byte]))
            self.sent[index] += 1
            time.sleep(DRIP_S)

    def close(self) -> None:
        self.closed.set()
        self.sock.close()


@contextmanager
def raw_server(handler) -> Iterator[RawServer]:
    server = RawServer(handler)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def poster_bytes(shared_data: Path) -> bytes:
    return (shared_data / "posters" / "tt0000003.jpg").read_bytes()


LIMITS = FetchLimits(timeout_s=1.0, retries=0, allow_private_hosts=True)  # the hostile servers are on 127.0.0.1


def test_dripping_headers_are_cut_off_at_the_deadline() -> None:
    headers = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-Pad-%03d: drip\r\n" % i for i in range(40)) + b"\r\n"

    def handler(server: RawServer, conn: socket.socket, path: str) -> None:
        server.drip(conn, headers)

    with raw_server(handler) as server:
        with pytest.raises(FetchError, match=r"timed out after 1 s for the whole request \(gave up after 1 attempt\)"):
            fetch_image_bytes(server.url + "/poster.jpg", limits=LIMITS)
        # the client hung up long before the server would have stopped on its own
        assert 0 < server.sent[0] < DRIP_MAX_BYTES / 2


def test_dripping_body_is_cut_off_at_the_deadline(poster_bytes: bytes) -> None:
    def handler(server: RawServer, conn: socket.socket, path: str) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
            % len(poster_bytes)
        )
        server.drip(conn, poster_bytes)

    with raw_server(handler) as server:
        with pytest.raises(FetchError, match="timed out after 1 s"):
            fetch_image_bytes(server.url + "/poster.jpg", limits=LIMITS)
        assert 0 < server.sent[0] < DRIP_MAX_BYTES / 2


def test_the_deadline_spans_every_redirect_hop(poster_bytes: bytes) -> None:
    """Four hops that each stall 0.4 s (well inside any per-read timeout) add up past the 1 s deadline."""

    def handler(server: RawServer, conn: socket.socket, path: str) -> None:
        hop = int(path.rsplit("/", 1)[1])
        time.sleep(0.4)
        if hop < 4:
            conn.sendall(
                b"HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: /hop/%d\r\nContent-Length: 0\r\n\r\n" % (hop + 1)
            )
        else:
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(poster_bytes) + poster_bytes
            )

    with raw_server(handler) as server:
        with pytest.raises(FetchError, match="timed out after 1 s for the whole request"):
            fetch_image_bytes(server.url + "/hop/0", limits=LIMITS)
        assert server.requests[:3] == ["/hop/0", "/hop/1", "/hop/2"] and "/hop/4" not in server.requests
        # the same chain with time to spare arrives whole
        limits = FetchLimits(timeout_s=10, retries=0, allow_private_hosts=True)
        assert fetch_image_bytes(server.url + "/hop/0", limits=limits) == poster_bytes


# Each of these is loopback, private, link-local, shared, multicast or reserved, or carries such an IPv4.
NON_PUBLIC = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.0.7",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::127.0.0.1",
    "::10.0.0.1",  # IPv4-compatible (deprecated)
    "64:ff9b::127.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::10.0.0.1",  # NAT64 well-known prefix
    "64:ff9b:1::a00:1",
    "64:ff9b:1::808:808",  # NAT64 local-use prefix: never public
    "2002:7f00:1::1",
    "2002:a9fe:a9fe::",
    "2002:c0a8:1::1",  # 6to4 of 127.0.0.1, 169.254.169.254, 192.168.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1 (stored inverted)
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "64:ff9b::808:808",
    "::ffff:8.8.8.8",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses_in_every_form(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_stay_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def _literal(address: str) -> str:
    return f"[{address}]" if ":" in address else address


@pytest.mark.parametrize("host", [_literal(a) for a in NON_PUBLIC] + ["2130706433", "0x7f.1", "127.1", "localhost"])
def test_fetch_refuses_every_form_before_connecting(host: str) -> None:
    with raw_server(lambda server, conn, path: None) as server:
        url = f"http://{host}:{server.port}/poster.jpg"
        with pytest.raises(FetchError, match=r"refused: host .* resolves to non-public address"):
            fetch_image_bytes(url, limits=FetchLimits(allow_private_hosts=False, retries=0, timeout_s=1))
        assert server.requests == []


@pytest.fixture()
def loopback_plays_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 (and only it) counts as public, so a server on this machine can stand in for a public
    poster CDN: nothing else can put a public address in front of a local test server."""
    real = urlguard.is_public_address
    monkeypatch.setattr(
        urlguard, "is_public_address", lambda address: address == ipaddress.ip_address("127.0.0.1") or real(address)
    )


@pytest.mark.parametrize(
    "target",
    [
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/",
        "http://[2002:7f00:1::1]/",
        "http://[::127.0.0.2]/",
        "http://10.0.0.1:{port}/admin",
    ],
)
def test_every_redirect_hop_is_checked(target: str, loopback_plays_public: None) -> None:
    def handler(server: RawServer, conn: socket.socket, path: str) -> None:
        location = target.format(port=server.port).encode()
        conn.sendall(b"HTTP/1.1 302 Found\r\nConnection: close\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location)

    with raw_server(handler) as server:
        hop = re.escape(target.format(port=server.port))
        with pytest.raises(
            FetchError,
            match=rf"^{re.escape(server.url)}/poster.jpg: redirected to {hop}: refused: host "
            r".* resolves to non-public address",
        ):
            fetch_image_bytes(server.url + "/poster.jpg", limits=FetchLimits(allow_private_hosts=False, retries=0))
        assert server.requests == ["/poster.jpg"]  # the CDN was asked once; the redirect was not followed


def test_an_answer_that_changes_after_the_check_is_refused_at_connect(
    loopback_plays_public: None, monkeypatch: pytest.MonkeyPatch, poster_bytes: bytes
) -> None:
    """DNS rebinding: the name resolves to a public address for the URL check, then to a private one when
    the connection is made. Faked at the resolver: no local DNS server can be put in front of getaddrinfo."""
    real_getaddrinfo = socket.getaddrinfo
    answers = iter(["127.0.0.1", "10.0.0.7"])

    def rebinding(host, port, *args, **kwargs):
        if host == "posters.rebind.test":
            host = next(answers)
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with raw_server(lambda server, conn, path: None) as server:
        with pytest.raises(
            FetchError, match=r"refused: host 'posters.rebind.test' resolves to non-public address 10.0.0.7"
        ):
            fetch_image_bytes(
                f"http://posters.rebind.test:{server.port}/p.jpg",
                limits=FetchLimits(allow_private_hosts=False, retries=0),
            )
        assert server.requests == []


def test_check_url_names_the_url() -> None:
    with pytest.raises(FetchError, match=r"^http://\[64:ff9b::7f00:1\]/p.jpg: refused: host '64:ff9b::7f00:1'"):
        check_url("http://[64:ff9b::7f00:1]/p.jpg", allow_private_hosts=False)
    check_url("http://[64:ff9b::7f00:1]/p.jpg", allow_private_hosts=True)


def test_posters_fetch_guards_private_hosts_unless_allowed(tmp_path: Path, poster_bytes: bytes) -> None:
    """A catalog row pointing at an internal address is refused by `posters fetch` by default."""

    def handler(server: RawServer, conn: socket.socket, path: str) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(poster_bytes) + poster_bytes
        )

    home = tmp_path / "home"
    postergenre = str(Path(sys.executable).parent / "postergenre")
    env = {**os.environ, "COLUMNS": "200"}
    with raw_server(handler) as server:
        with Catalog(home / "catalog.sqlite") as catalog:
            catalog.upsert_movies(
                [MovieRecord("tt0000001", title="internal", poster_url=server.url + "/internal-admin")]
            )
        command = [postergenre, "posters", "fetch", "--home", str(home), "--retries", "0"]
        guarded = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
        assert guarded.returncode == 1, guarded.stdout + guarded.stderr
        assert "fetched 0, failed 1" in guarded.stdout
        assert f"tt0000001: {server.url}/internal-admin: refused: host '127.0.0.1'" in guarded.stdout
        assert server.requests == []

        trusted = subprocess.run(
            [*command, "--allow-private-urls"], capture_output=True, text=True, timeout=120, env=env
        )
        assert trusted.returncode == 0, trusted.stdout + trusted.stderr
        assert "fetched 1, failed 0" in trusted.stdout and server.requests == ["/internal-admin"]
