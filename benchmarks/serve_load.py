"""Load test of the web service: latency, throughput, errors and memory under concurrent poster uploads.

Starts `postergenre serve` on a free 127.0.0.1 port (or targets a running service with --url), then sends
bounded loops of POST /v1/predict with one shared poster:

* at concurrency 1, 8 and 32: p50/p99 latency, throughput, 503 refusals (counted apart from errors);
* server memory (VmRSS from /proc) before and after --memory-requests (default 5,000) more requests.

Targets (the web-service issue): p50 ≤ 80 ms at concurrency 1, no errors at 32, memory flat.
Prints a table and writes benchmarks/results/serve_load.json.

    .venv/bin/python benchmarks/serve_load.py --home ~/.local/share/postergenre
    .venv/bin/python benchmarks/serve_load.py --url http://127.0.0.1:8000 --pid 12345 --poster p.jpg
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "serve_load.json"
MEMORY_CHUNK = 1000


def rss_kib(pid: int | None) -> dict[str, int] | None:
    """VmRSS and VmHWM (peak) of `pid` in KiB, from /proc (no psutil needed)."""
    if pid is None:
        return None
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-c", "from postergenre.cli import main; main()", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--max-concurrency", str(args.max_concurrency), "--max-queue", str(args.max_queue)]
    if args.home:
        cmd += ["--home", str(args.home)]
    if args.model:
        cmd += ["--model", str(args.model)]
    log = open(args.server_log, "w") if args.server_log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with code {proc.returncode} before it answered (see --server-log)")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.terminate()
    raise SystemExit("the service did not answer /healthz within 180 s")


def default_poster(home: Path | None) -> tuple[str, bytes]:
    """A shared poster from the home's catalog (the first stored one)."""
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.posters.store import PosterStore

    paths = get_paths(home)
    with Catalog(paths.db) as catalog:
        movie = next((m for m in catalog.movies() if m.poster_status == "ok" and m.poster_sha256), None)
    if movie is None:
        raise SystemExit(f"no stored posters in {paths.home}; pass --poster FILE")
    return f"{movie.imdb_id}.jpg", PosterStore(paths.posters).read(movie.poster_sha256)


async def run_level(url: str, poster: tuple[str, bytes], concurrency: int, total: int) -> dict:
    """`total` requests from `concurrency` workers, each sending its next request when the last one is answered."""
    latencies: list[float] = []
    counts = {"ok": 0, "busy_503": 0, "errors": 0}
    error_samples: list[str] = []
    remaining = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                start = time.perf_counter()
                try:
                    response = await client.post("/v1/predict", files={"file": (poster[0], poster[1], "image/jpeg")})
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status, response = None, exc
                elapsed = time.perf_counter() - start
                if status == 200:
                    counts["ok"] += 1
                    latencies.append(elapsed)
                elif status == 503:
                    counts["busy_503"] += 1
                else:
                    counts["errors"] += 1
                    if len(error_samples) < 5:
                        error_samples.append(f"{status}: {getattr(response, 'text', response)!s:.200}")

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    ms = sorted(x * 1000 for x in latencies)
    return {"concurrency": concurrency, "requests": total, **counts, **latency_stats(ms),
            "throughput_rps": round(counts["ok"] / wall, 1), "wall_s": round(wall, 1), "error_samples": error_samples,
            "latencies_ms": ms}


def merge_runs(runs: list[dict]) -> dict:
    """One summary of consecutive runs at the same concurrency (percentiles over all their latencies)."""
    ms = sorted(x for r in runs for x in r["latencies_ms"])
    wall = sum(r["wall_s"] for r in runs)
    counts = {k: sum(r[k] for r in runs) for k in ("requests", "ok", "busy_503", "errors")}
    return {"concurrency": runs[0]["concurrency"], **counts, **latency_stats(ms),
            "throughput_rps": round(counts["ok"] / wall, 1), "wall_s": round(wall, 1),
            "error_samples": [e for r in runs for e in r["error_samples"]][:5], "latencies_ms": ms}


def latency_stats(ms: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(ms), 1) if ms else None,
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 1) if ms else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running service; default: start `postergenre serve` on a free port")
    parser.add_argument("--pid", type=int, help="the running service's process id (for memory) with --url")
    parser.add_argument("--home", type=Path, help="data folder for the started service and the default poster")
    parser.add_argument("--model", type=Path, help="model folder for the started service (default: bundled)")
    parser.add_argument("--poster", type=Path, help="poster file to upload (default: one from the home's catalog)")
    parser.add_argument("--levels", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=300, help="requests per concurrency level")
    parser.add_argument("--memory-requests", type=int, default=5000, help="requests between the two memory readings")
    parser.add_argument("--memory-concurrency", type=int, default=8)
    parser.add_argument("--max-concurrency", type=int, default=2, help="the started service's --max-concurrency")
    parser.add_argument("--max-queue", type=int, default=64, help="the started service's --max-queue")
    parser.add_argument("--server-log", type=Path, help="write the started service's output (JSON request log) here")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    poster = (args.poster.name, args.poster.read_bytes()) if args.poster else default_poster(args.home)
    proc, url, pid = None, args.url, args.pid
    if url is None:
        proc, url = start_server(args)
        pid = proc.pid
    try:
        warm = asyncio.run(run_level(url, poster, 2, 20))
        if warm["ok"] == 0:
            raise SystemExit(f"warm-up failed: {warm['error_samples']}")
        memory_before = rss_kib(pid)
        levels = [asyncio.run(run_level(url, poster, int(c), args.requests)) for c in args.levels.split(",")]
        memory_run, memory_samples = None, []
        if args.memory_requests:
            # In chunks, reading the memory after each: flat means no growth from chunk to chunk once warm.
            chunks = []
            for start in range(0, args.memory_requests, MEMORY_CHUNK):
                n = min(MEMORY_CHUNK, args.memory_requests - start)
                chunks.append(asyncio.run(run_level(url, poster, args.memory_concurrency, n)))
                memory_samples.append({"after_requests": start + n, **(rss_kib(pid) or {})})
            memory_run = merge_runs(chunks)
        memory_after = rss_kib(pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)

    result = {
        "benchmark": "serve_load", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "url": url, "poster_bytes": len(poster[1]), "levels": [_public(r) for r in levels],
        "memory_run": _public(memory_run) if memory_run else None,
        "memory_kib": {"before": memory_before, "after": memory_after, "samples": memory_samples,
                       "growth": (memory_after["VmRSS"] - memory_before["VmRSS"]) if memory_before and memory_after else None},
        "conditions": {"cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(), "python": platform.python_version(),
                       "machine": platform.machine(), "client_on_same_machine": True,
                       "service": {"max_concurrency": args.max_concurrency, "max_queue": args.max_queue} if proc else "external"},
        "targets": {"p50_ms_at_1": 80, "errors_at_32": 0, "memory": "flat"},
    }
    write_result(args.out, result)

    print(f"{'conc':>5} {'requests':>8} {'ok':>6} {'503':>5} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>7}")
    for row in levels + ([dict(memory_run, concurrency=f"{memory_run['concurrency']}*")] if memory_run else []):
        print(f"{row['concurrency']!s:>5} {row['requests']:>8} {row['ok']:>6} {row['busy_503']:>5} {row['errors']:>6} "
              f"{row['p50_ms']!s:>8} {row['p99_ms']!s:>8} {row['throughput_rps']:>7}")
    if memory_samples:
        print("server VmRSS during the memory run: " + ", ".join(
            f"{m['after_requests']}: {m['VmRSS'] / 1024:.0f} MiB" for m in memory_samples if "VmRSS" in m))
    if memory_before and memory_after:
        print(f"* memory run. Server VmRSS: {memory_before['VmRSS'] / 1024:.0f} MiB before, "
              f"{memory_after['VmRSS'] / 1024:.0f} MiB after {args.memory_requests} requests "
              f"(growth {result['memory_kib']['growth'] / 1024:+.1f} MiB; peak {memory_after['VmHWM'] / 1024:.0f} MiB)")
    print(f"load average at end {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine; client on the same CPUs)")
    print(f"wrote {args.out}")


def _public(run: dict) -> dict:
    """A run without its raw latency list (kept out of the JSON file)."""
    return {k: v for k, v in run.items() if k != "latencies_ms"}


if __name__ == "__main__":
    main()
