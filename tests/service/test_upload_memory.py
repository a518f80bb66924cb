"""Requests waiting for an inference slot hold their uploads as file handles, not bytes (issue 26: 60 queued briefs
of six 9.7 MB posters took the server from 1.2 GB to 4.6 GB). A real server on 127.0.0.1 whose only slot is taken;
the figure under the full load is benchmarks/abuse.py's (`--only brief-load`)."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REQUESTS = 12
FILES_EACH = 4


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def _spooled_files() -> int:
    """Anonymous temporary files this process holds open: the multipart parser's spooled uploads."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        count += target.endswith("(deleted)")
    return count


def _noise_jpegs(folder: Path) -> list[Path]:
    """Four ~4 MB JPEGs of random noise (noise does not compress): each over the parser's 1 MB spool threshold."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(FILES_EACH):
        path = folder / f"noise{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (1700, 1700, 3), dtype=np.uint8)).save(path, quality=97)
        paths.append(path)
    return paths


def test_waiting_requests_hold_file_handles_not_bytes(predictor, small_home: Path, serve, tmp_path: Path) -> None:
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    posters = _noise_jpegs(tmp_path)
    upload_mb = REQUESTS * sum(p.stat().st_size for p in posters) / 1e6
    app = create_app(
        ServiceSettings(home=small_home, max_upload_bytes=5_000_000, max_concurrency=1, max_waiting=REQUESTS),
        predictor=predictor,
    )
    with serve(app) as running:
        gate = app.state.service.gate
        release = threading.Event()
        # The only slot runs a blocking call until released: every request below is admitted, reads its body, and
        # waits for the slot.
        holder = asyncio.run_coroutine_threadsafe(gate.run(release.wait), running.server.servers[0].get_loop())
        gc.collect()
        files_before, rss_before = _spooled_files(), _rss_mb()

        def brief(_: int) -> int:
            handles = [p.open("rb") for p in posters]  # streamed from disk: the client holds no bytes either
            try:
                files = [("posters", (p.name, h, "image/jpeg")) for p, h in zip(posters, handles, strict=True)]
                with httpx.Client(base_url=running.url, timeout=300) as client:
                    return client.post("/v1/brief", files=files, data={"intended": "Family"}).status_code
            finally:
                for h in handles:
                    h.close()

        with ThreadPoolExecutor(REQUESTS) as pool:
            answers = [pool.submit(brief, i) for i in range(REQUESTS)]
            deadline = time.monotonic() + 120
            while gate.waiting < REQUESTS:  # every body read, every request waiting for the slot
                assert time.monotonic() < deadline, f"only {gate.waiting} requests reached the slot's queue"
                time.sleep(0.05)
            assert not any(a.done() for a in answers), "a request was answered while the slot was taken"
            spooled = _spooled_files() - files_before
            gc.collect()
            waiting_rise = _rss_mb() - rss_before
            release.set()
            holder.result(timeout=10)
            statuses = [a.result() for a in answers]

    assert spooled == REQUESTS * FILES_EACH  # each waiting upload is an open temporary file
    assert statuses == [200] * REQUESTS
    # Held as bytes, the waiting uploads would add ~upload_mb (196 MB); as spooled files, next to nothing.
    assert waiting_rise < upload_mb / 4, f"RSS rose {waiting_rise:.0f} MB while {upload_mb:.0f} MB of uploads waited"
