"""`postergenre serve` as a user starts it: a subprocess that prints the URL to open and serves the page."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_the_url_and_serves_the_page(model_dir: Path, small_home: Path, three_posters: list[Path]):
    port = _free_port()
    cmd = [
        sys.executable,
        "-c",
        "from postergenre.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--home",
        str(small_home),
        "--model",
        str(model_dir),
        "--max-upload-mb",
        "1",
    ]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()
            try:
                page = httpx.get(url, timeout=2)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the service did not answer within 120 s"
                time.sleep(0.2)
        assert page.status_code == 200 and 'id="file-input"' in page.text
        small = httpx.post(
            url + "v1/predict", files={"file": ("p.jpg", three_posters[0].read_bytes(), "image/jpeg")}, timeout=60
        )
        assert small.status_code == 200, small.text
        big = httpx.post(
            url + "v1/predict", files={"file": ("p.jpg", b"\xff\xd8\xff" + bytes(1_100_000), "image/jpeg")}, timeout=60
        )
        assert big.status_code == 413  # --max-upload-mb 1 is applied
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert url in out, out  # tells the user which URL to open
    # One JSON line per request on stderr.
    logged = {
        (r["method"], r["path"], r["status"])
        for r in map(json.loads, (line for line in err.splitlines() if line.startswith("{")))
    }
    assert {("GET", "/", 200), ("POST", "/v1/predict", 200), ("POST", "/v1/predict", 413)} <= logged
