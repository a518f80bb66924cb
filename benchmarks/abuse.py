"""Abuse figures for `postergenre serve` (issue "Hardening"): a real server in a subprocess, hostile clients here.

    python benchmarks/abuse.py [--home DIR] [--mutations 36000] [--json PATH]

1. 131 sockets that drip one header line every 5 s and 3 that drip a body 1 byte every 5 s: latency of /healthz
   and of a normal upload while they are open (target < 1 s each).
2. A saturated service (1 slot, no waiting place, the slot held by a slow upload) receiving 20 concurrent 80 MB
   compare uploads: the server's RSS rise (target < 200 MB) and how fast each 503 comes back (target < 1 s).
3. explain on a 6300×6300 PNG and on a 24-megapixel JPEG: seconds and server RSS rise (targets < 3 s, < 300 MB).
4. `--mutations` seeded mutations of real posters and crafted AVIF/BLP/DDS/ICO files sent to /v1/predict:
   how many 5xx answers (target 0) and how many tracebacks in the server log (target 0).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "abuse.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, home: Path | None, log: Path, *extra: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-c", "from postergenre.cli import main; main()", "serve", "--port", str(self.port),
               *(["--home", str(home)] if home else []), *extra]
        self.log = log.open("w")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; see {log}")
            time.sleep(0.3)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def raw(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def slow_clients(server: Server, poster: bytes) -> dict:
    stop = threading.Event()
    socks = []
    for _ in range(131):
        s = raw(server.port)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        socks.append(("header", s))
    for _ in range(3):
        s = raw(server.port)
        s.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
                  b"Content-Length: 100000\r\n\r\n")
        socks.append(("body", s))

    def drip() -> None:
        while not stop.wait(5):
            for kind, s in socks:
                try:
                    s.sendall(b"X-Drip: 1\r\n" if kind == "header" else b"x")
                except OSError:
                    pass

    threading.Thread(target=drip, daemon=True).start()
    time.sleep(1)
    with httpx.Client(base_url=server.url, timeout=30) as c:
        health_s, health = timed(lambda: c.get("/healthz"))
        upload_s, upload = timed(lambda: c.post("/v1/predict", files={"file": ("p.jpg", poster, "image/jpeg")}))
    stop.set()
    closed = 0
    for _, s in socks:
        s.settimeout(0.01)
        try:
            closed += s.recv(1) == b""
        except (socket.timeout, OSError):
            pass
        s.close()
    return {"slow_header_sockets": 131, "slow_body_sockets": 3, "healthz_s": round(health_s, 3),
            "healthz_status": health.status_code, "upload_s": round(upload_s, 3), "upload_status": upload.status_code}


def saturated_uploads(home: Path | None, log: Path) -> dict:
    server = Server(home, log, "--max-concurrency", "1", "--max-queue", "0", "--max-upload-mb", "10")
    try:
        holder = raw(server.port)  # takes the only place, then uploads slowly
        holder.sendall(b"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; "
                       b"boundary=x\r\nContent-Length: 9000000\r\n\r\n--x\r\n")
        time.sleep(0.5)
        before = rss_mb(server.proc.pid)
        chunk = os.urandom(1 << 20)

        def body():
            for _ in range(80):
                yield chunk

        def one(_: int) -> tuple[float, int]:
            with httpx.Client(base_url=server.url, timeout=60) as c:
                t = time.perf_counter()
                try:
                    r = c.post("/v1/compare", content=body(),
                               headers={"Content-Type": "multipart/form-data; boundary=x"})
                    return time.perf_counter() - t, r.status_code
                except httpx.HTTPError:
                    return time.perf_counter() - t, -1  # the server answered and closed mid-upload

        peak = before
        with ThreadPoolExecutor(20) as pool:
            futures = [pool.submit(one, i) for i in range(20)]
            while not all(f.done() for f in futures):
                peak = max(peak, rss_mb(server.proc.pid))
                time.sleep(0.05)
            answers = [f.result() for f in futures]
        holder.close()
        return {"uploads": 20, "upload_mb_each": 80, "rss_before_mb": round(before, 1),
                "rss_peak_mb": round(peak, 1), "rss_rise_mb": round(peak - before, 1),
                "statuses": sorted({s for _, s in answers}), "max_answer_s": round(max(t for t, _ in answers), 3)}
    finally:
        server.stop()


def big_explains(server: Server, poster: Path) -> dict:
    png = io.BytesIO()
    big = Image.new("RGB", (6300, 6300), (30, 60, 90))
    big.paste((220, 40, 40), (1000, 1000, 5000, 5000))
    big.save(png, format="PNG")
    rng = np.random.default_rng(0)
    photo = Image.open(poster).convert("RGB").resize((4000, 6000), Image.Resampling.BICUBIC)
    grain = rng.integers(-12, 13, size=(6000, 4000, 3), dtype=np.int16)
    photo = Image.fromarray(np.clip(np.asarray(photo, dtype=np.int16) + grain, 0, 255).astype(np.uint8))
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=90)
    out = {}
    with httpx.Client(base_url=server.url, timeout=300) as c:
        # Warm up: the first explain builds the Grad-CAM network once; that is start-up, not per-image cost.
        c.post("/v1/predict", params={"explain": "true"}, files={"file": ("p.jpg", poster.read_bytes(), "image/jpeg")})
        for name, data, mime in (("png_6300x6300", png.getvalue(), "image/png"),
                                 ("jpeg_24mp", jpeg.getvalue(), "image/jpeg")):
            before = rss_mb(server.proc.pid)
            peak = [before]
            done = threading.Event()

            def watch() -> None:
                while not done.wait(0.02):
                    peak[0] = max(peak[0], rss_mb(server.proc.pid))

            threading.Thread(target=watch, daemon=True).start()
            seconds, r = timed(lambda: c.post("/v1/predict", params={"explain": "true"},
                                              files={"file": (name, data, mime)}))
            done.set()
            out[name] = {"bytes": len(data), "status": r.status_code, "seconds": round(seconds, 3),
                         "rss_rise_mb": round(peak[0] - before, 1)}
    return out


def mutations(server: Server, data_dir: Path, n: int, seed: int = 0) -> dict:
    rng = random.Random(seed)
    seeds = [p.read_bytes() for p in sorted((data_dir / "posters").glob("tt00*.jpg"))[:20]]
    for fmt in ("PNG", "GIF", "TIFF", "WEBP", "BMP"):
        buf = io.BytesIO()
        Image.open(io.BytesIO(seeds[0])).save(buf, format=fmt)
        seeds.append(buf.getvalue())
    statuses: dict[int, int] = {}

    def mutate(blob: bytes) -> bytes:
        b = bytearray(blob)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.3:
            b = b[: rng.randrange(16, len(b))]
        return bytes(b)

    blobs = [mutate(rng.choice(seeds)) for _ in range(n)]

    local = threading.local()

    def send(blob: bytes) -> int:
        if not hasattr(local, "client"):  # one keep-alive client per worker thread
            local.client = httpx.Client(base_url=server.url, timeout=120)
        for _ in range(20):
            r = local.client.post("/v1/predict", files={"file": ("m.bin", blob, "application/octet-stream")})
            if r.status_code != 503:
                return r.status_code
            time.sleep(0.2)
        return 503

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        for status in pool.map(send, blobs):
            statuses[status] = statuses.get(status, 0) + 1
    server_errors = sum(v for k, v in statuses.items() if k >= 500)
    return {"mutations": n, "seed": seed, "seconds": round(time.perf_counter() - start, 1),
            "statuses": {str(k): v for k, v in sorted(statuses.items())}, "server_errors_5xx": server_errors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="Data folder to serve (default: $POSTERGENRE_HOME).")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--mutations", type=int, default=36000)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    poster_path = sorted((args.data / "posters").glob("tt01*.jpg"))[0]
    poster = poster_path.read_bytes()
    logs = Path(tempfile.mkdtemp(prefix="abuse-"))
    result: dict = {"load_average": list(os.getloadavg())}
    server = Server(args.home, logs / "server.log")
    try:
        result["slow_clients"] = slow_clients(server, poster)
        print("slow clients:", result["slow_clients"], flush=True)
        result["big_explains"] = big_explains(server, poster_path)
        print("explain on big images:", result["big_explains"], flush=True)
        result["mutation_run"] = mutations(server, args.data, args.mutations)
        print("mutation run:", result["mutation_run"], flush=True)
    finally:
        server.stop()
    log_text = (logs / "server.log").read_text(errors="replace")
    result["mutation_run"]["tracebacks_in_log"] = log_text.count("Traceback")
    result["saturated_uploads"] = saturated_uploads(args.home, logs / "saturated.log")
    print("saturated uploads:", result["saturated_uploads"], flush=True)
    write_result(args.json, result)


if __name__ == "__main__":
    main()
