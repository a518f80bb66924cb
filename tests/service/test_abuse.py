"""Hostile and careless clients against a real uvicorn server with the service's own connection guards.

Each test provokes the fault for real (slow sockets, stalled bodies, a saturated gate, a foreign Host header, a
client that hangs up mid-upload, a huge image to explain) and checks the service stays available and answers as
documented. Timings here are generous functional bounds; the figures live in benchmarks/abuse.py.
"""

from __future__ import annotations

import io
import logging
import socket
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def _guarded(serve, app, header_timeout_s: float = 1.0, max_per_client: int = 64):
    """A real server with the protocol `postergenre serve` uses (header deadline, per-client cap)."""
    from postergenre.service.connections import guarded_protocol

    return serve(app, limit_concurrency=1024, http=guarded_protocol(header_timeout_s, max_per_client))


def _app(predictor, small_home: Path, **settings):
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    return create_app(ServiceSettings(home=small_home, **settings), predictor=predictor)


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


def _read_all(sock: socket.socket, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection (or `seconds` pass)."""
    sock.settimeout(seconds)
    chunks = []
    try:
        while chunk := sock.recv(4096):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def test_slow_header_sockets_are_dropped_and_do_not_block_others(
    predictor, serve, small_home: Path, catalog_posters
) -> None:
    with _guarded(serve, _app(predictor, small_home), header_timeout_s=1.0, max_per_client=200) as srv:
        slow = [srv.raw() for _ in range(60)]
        for s in slow:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        with httpx.Client(base_url=srv.url, timeout=10) as client:
            assert client.get("/healthz").status_code == 200  # answered while 60 sockets dawdle
            upload = client.post("/v1/predict", files={"file": ("p.jpg", catalog_posters[0].data, "image/jpeg")})
            assert upload.status_code == 200
        assert all(_closed_within(s, 10) for s in slow), "slow-header connections must be closed by the deadline"


def test_connections_beyond_the_per_client_cap_are_refused(predictor, serve, small_home: Path) -> None:
    with _guarded(serve, _app(predictor, small_home), header_timeout_s=30, max_per_client=5) as srv:
        held = [srv.raw() for _ in range(5)]
        extra = srv.raw()
        assert _closed_within(extra, 5), "the 6th connection from one client is closed at once"
        held[0].close()
        time.sleep(0.3)
        with httpx.Client(base_url=srv.url, timeout=10) as client:  # a freed place is usable again
            assert client.get("/healthz").status_code == 200
        for s in held[1:]:
            s.close()


def test_a_stalled_body_gets_408_and_frees_its_slot(predictor, serve, small_home: Path) -> None:
    with _guarded(serve, _app(predictor, small_home, body_timeout_s=1.0)) as srv:
        s = srv.raw()
        # the body's first bytes, then nothing
        s.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 5000\r\n\r\n--x\r\n"
        )
        answer = _read_all(s, 15)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b"stalled" in answer


def test_saturated_service_refuses_before_reading_the_body(predictor, serve, small_home: Path) -> None:
    with _guarded(serve, _app(predictor, small_home, max_concurrency=1, max_waiting=0, body_timeout_s=20)) as srv:
        holder = srv.raw()  # admitted, then holds its place while "uploading" slowly
        holder.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
            b"boundary=x\r\nContent-Length: 9000000\r\n\r\n--x\r\n"
        )
        time.sleep(0.5)
        second = srv.raw()
        # headers only: no byte of the 80 MB
        second.sendall(
            b"POST /v1/compare HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
            b"boundary=x\r\nContent-Length: 80000000\r\n\r\n"
        )
        second.settimeout(10)
        answer = second.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503") and b"retry-after" in answer.lower(), answer[:300]
        holder.close()


def test_foreign_host_header_is_refused(predictor, serve, small_home: Path) -> None:
    with _guarded(serve, _app(predictor, small_home)) as srv, httpx.Client(base_url=srv.url, timeout=10) as client:
        refused = client.get("/healthz", headers={"Host": "attacker.example:8000"})
        assert refused.status_code == 421 and "attacker.example" in refused.json()["error"]
        assert client.get("/healthz", headers={"Host": f"localhost:{srv.port}"}).status_code == 200


def test_client_hanging_up_mid_upload_is_not_a_server_error(predictor, serve, small_home: Path, caplog) -> None:
    with (
        caplog.at_level(logging.INFO, logger="postergenre.service"),
        _guarded(serve, _app(predictor, small_home)) as srv,
    ):
        s = srv.raw()
        s.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            b'Content-Length: 100000\r\n\r\n--x\r\nContent-Disposition: form-data; name="file"; '
            b'filename="a.jpg"\r\n\r\n' + b"\xff" * 1000
        )
        time.sleep(0.3)
        s.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(r.name.endswith("access") for r in caplog.records):
            time.sleep(0.1)
    statuses = [r.getMessage() for r in caplog.records if r.name.endswith("access")]
    assert statuses and all('"status": 500' not in line for line in statuses), statuses
    assert not any(r.exc_info for r in caplog.records), "no traceback for a client that went away"


def test_explain_on_a_huge_image_works_on_a_bounded_copy(predictor) -> None:
    big = Image.new("RGB", (6300, 6300), (30, 60, 90))
    big.paste((220, 40, 40), (1000, 1000, 5000, 5000))
    buffer = io.BytesIO()
    big.save(buffer, format="PNG")
    prediction = predictor.predict(buffer.getvalue(), heatmaps=True)
    assert prediction.heatmaps
    for heat in prediction.heatmaps.values():
        assert max(heat.shape) <= 320 and np.isfinite(heat).all()  # independent of the 40-megapixel input
