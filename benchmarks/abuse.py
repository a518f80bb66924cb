"""Abuse figures for `postergenre serve` (issue "Hardening"): a real server in a subprocess, hostile clients here.

    python benchmarks/abuse.py [--home DIR] [--mutations 36000] [--json PATH]

1. 131 sockets that drip one header line every 5 s and 3 that drip a body 1 byte every 5 s: latency of /healthz
   and of a normal upload while they are open (target < 1 s each).
2. A saturated service (1 slot, no waiting place, the slot held by a slow upload) receiving 20 concurrent 80 MB
   compare uploads: the server's RSS rise (target < 200 MB) and how fast each 503 comes back (target < 1 s).
3. explain on a 6300×6300 PNG and on a 24-megapixel JPEG: seconds and server RSS rise (targets < 3 s, < 300 MB).
4. `--mutations` seeded mutations of real posters and crafted AVIF/BLP/DDS/ICO files sent to /v1/predict:
   how many 5xx answers (target 0) and how many tracebacks in the server log (target 0).
5. `--briefs` (60) concurrent `POST /v1/brief?format=html` of six ~9.7 MB random-noise JPEGs each (the default
   2 slots + 64 waiting places admit them all): the server's peak RSS (target < 2 GB; waiting requests hold their
   uploads on disk, not in memory) and /healthz latency while they run (target < 0.1 s).

`--only NAME` runs one part (slow-clients, big-explains, mutations, saturated, brief-load).
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
DEFAULT_DATA = Path(os.environ.get("POSTERGENRE_SHARED_DATA") or REPO.parent / "shared" / "data")


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


def noise_posters(folder: Path, n: int = 6, target_bytes: int = 9_700_000) -> list[Path]:
    """`n` random-noise JPEGs of about `target_bytes` each (noise does not compress: the worst case per byte)."""
    rng = np.random.default_rng(0)
    side = int(2500 * (target_bytes / 8_760_000) ** 0.5)  # 2500x2500 at quality 97 is ~8.76 MB
    paths = []
    for i in range(n):
        path = folder / f"noise{i}.jpg"
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path, quality=97)
        paths.append(path)
    return paths


_HEALTH_PROBE = """
import sys, time, httpx
with httpx.Client(timeout=30) as client:
    while True:
        t = time.perf_counter()
        client.get(sys.argv[1])
        print(f"{time.time():.3f} {time.perf_counter() - t:.4f}", flush=True)
        time.sleep(0.5)
"""


def brief_load(home: Path | None, log: Path, work: Path, n: int) -> dict:
    """`n` concurrent HTML briefs of six big posters each: the server's peak RSS, and /healthz latency meanwhile as a
    separate process sees it (a probe thread here would also wait for this process's upload threads)."""
    posters = noise_posters(work)
    server = Server(home, log)
    probe = subprocess.Popen([sys.executable, "-c", _HEALTH_PROBE, server.url + "/healthz"], stdout=subprocess.PIPE,
                             text=True)
    try:
        time.sleep(3)  # a few probes of the idle server first: the reference
        before = rss_mb(server.proc.pid)
        load = list(os.getloadavg())

        def one(_: int) -> tuple[float, int]:
            files = [("posters", (p.name, p.open("rb"), "image/jpeg")) for p in posters]
            try:
                with httpx.Client(base_url=server.url, timeout=900) as c:
                    t = time.perf_counter()
                    r = c.post("/v1/brief", params={"format": "html"}, files=files, data={"intended": "Family"})
                    return time.perf_counter() - t, r.status_code
            finally:
                for _, (_, f, _) in files:
                    f.close()

        peak = before
        started = time.time()
        with ThreadPoolExecutor(n) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            while not all(f.done() for f in futures):
                peak = max(peak, rss_mb(server.proc.pid))
                time.sleep(0.05)
            answers = [f.result() for f in futures]
        ended = time.time()
    finally:
        probe.terminate()
        server.stop()
    probes = [tuple(map(float, line.split())) for line in probe.communicate()[0].splitlines()]
    idle = [s for t, s in probes if t < started]
    loaded = [s for t, s in probes if started <= t <= ended]
    statuses: dict[str, int] = {}
    for _, status in answers:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {"briefs": n, "posters_each": len(posters), "poster_mb": round(posters[0].stat().st_size / 1e6, 2),
            "load_average": load,
            "rss_before_mb": round(before, 1), "rss_peak_mb": round(peak, 1), "statuses": statuses,
            "healthz_idle_max_s": round(max(idle, default=float("nan")), 3),
            "healthz_probes_under_load": len(loaded), "healthz_median_s": round(float(np.median(loaded)), 3),
            "healthz_p95_s": round(float(np.percentile(loaded, 95)), 3), "healthz_max_s": round(max(loaded), 3),
            "healthz_over_100ms": sum(s > 0.1 for s in loaded),
            "healthz_over_100ms_at": [[round(t - started, 1), s] for t, s in probes if started <= t <= ended and s > 0.1],
            "seconds": round(ended - started, 1),
            "slowest_brief_s": round(max(t for t, _ in answers), 1)}


PARTS = ("slow-clients", "big-explains", "mutations", "saturated", "brief-load")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, default=None, help="Data folder to serve (default: $POSTERGENRE_HOME).")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--mutations", type=int, default=36000)
    ap.add_argument("--briefs", type=int, default=60, help="Concurrent briefs of six big posters (part 5).")
    ap.add_argument("--only", choices=PARTS, action="append", help="Run only these parts (repeatable).")
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    parts = args.only or PARTS
    poster_path = sorted((args.data / "posters").glob("tt01*.jpg"))[0]
    poster = poster_path.read_bytes()
    logs = Path(tempfile.mkdtemp(prefix="abuse-"))
    result: dict = {"load_average": list(os.getloadavg())}
    if {"slow-clients", "big-explains", "mutations"} & set(parts):
        server = Server(args.home, logs / "server.log")
        try:
            if "slow-clients" in parts:
                result["slow_clients"] = slow_clients(server, poster)
                print("slow clients:", result["slow_clients"], flush=True)
            if "big-explains" in parts:
                result["big_explains"] = big_explains(server, poster_path)
                print("explain on big images:", result["big_explains"], flush=True)
            if "mutations" in parts:
                result["mutation_run"] = mutations(server, args.data, args.mutations)
                print("mutation run:", result["mutation_run"], flush=True)
        finally:
            server.stop()
        if "mutations" in parts:
            log_text = (logs / "server.log").read_text(errors="replace")
            result["mutation_run"]["tracebacks_in_log"] = log_text.count("Traceback")
    if "saturated" in parts:
        result["saturated_uploads"] = saturated_uploads(args.home, logs / "saturated.log")
        print("saturated uploads:", result["saturated_uploads"], flush=True)
    if "brief-load" in parts:
        result["brief_load"] = brief_load(args.home, logs / "briefs.log", logs, args.briefs)
        print("concurrent big briefs:", result["brief_load"], flush=True)
        print(f"server peak RSS under {args.briefs} concurrent briefs: {result['brief_load']['rss_peak_mb']:.0f} MB",
              flush=True)
    if args.only and args.json.is_file():  # a partial run updates its parts and keeps the others' figures
        import json

        kept = json.loads(args.json.read_text(encoding="utf-8"))
        result = {**kept, **{k: v for k, v in result.items() if k != "load_average"}}
    write_result(args.json, result)


if __name__ == "__main__":
    main()
