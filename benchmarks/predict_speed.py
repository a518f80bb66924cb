"""Prediction speed: warm single-poster latency (quiet and contended), CLI start-to-first-answer, throughput,
and what a synopsis adds — per inference runtime, side by side in one run.

    python benchmarks/predict_speed.py [--model DIR] [--data ../shared/data] [--runtimes auto,onnx,torch]

Targets (issues "Fast runtime", "Fit the studio's own films"): CLI start → first answer ≤ 0.8 s; warm single poster
≤ 10 ms; with two busy-loop processes on the cores, median ≤ 3× and max ≤ 10× the quiet median; a prediction with a
synopsis adds ≤ 5 ms. Prints a summary and writes benchmarks/results/predict_speed.json. Uses real shared posters; the
load average is recorded with the numbers (on a shared machine it explains most variance).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "predict_speed.json"
SYNOPSIS = ("A young lion prince flees his kingdom after his father's murder and must learn the true meaning of "
            "responsibility and bravery.")


def _posters(data: Path, n: int) -> list[Path]:
    with open(data / "movies.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // n)  # spread over the catalog, deterministic
    paths = [data / r["poster"] for r in rows[::step]]
    return [p for p in paths if p.is_file()][:n]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _busy(stop) -> None:
    while not stop.is_set():
        pass


def _latencies(predictor, posters: list[Path], synopsis: str | None = None) -> list[float]:
    out = []
    for p in posters:
        t = time.perf_counter()
        predictor.predict(p, synopsis)
        out.append((time.perf_counter() - t) * 1000)
    return out


def _stats(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 2), "p95": round(_pct(values, 95), 2),
            "max": round(max(values), 2), "n": len(values)}


def measure(runtime: str, args: argparse.Namespace, posters: list[Path]) -> dict:
    from postergenre.predict.predictor import Predictor

    started = time.perf_counter()
    predictor = Predictor.load(args.model, runtime=runtime)
    load_s = time.perf_counter() - started
    for p in posters[:5]:
        predictor.predict(p)
    sample = posters[: args.latency_posters]
    quiet = _latencies(predictor, sample)
    row = {"runtime": predictor.core.runtime_name, "model_load_s": round(load_s, 2), "quiet_ms": _stats(quiet)}
    if predictor.has_synopsis:
        with_text = _latencies(predictor, sample, SYNOPSIS)
        row["with_synopsis_ms"] = _stats(with_text)
        row["synopsis_adds_ms"] = round(statistics.median(with_text) - statistics.median(quiet), 2)
    stop = multiprocessing.Event()
    hogs = [multiprocessing.Process(target=_busy, args=(stop,), daemon=True) for _ in range(2)]
    for h in hogs:
        h.start()
    try:
        time.sleep(0.5)
        contended = _latencies(predictor, sample)
    finally:
        stop.set()
        for h in hogs:
            h.join(timeout=5)
    q = statistics.median(quiet)
    row["contended_ms"] = _stats(contended)
    row["contended_vs_quiet"] = {"median_x": round(statistics.median(contended) / q, 2),
                                 "max_x": round(max(contended) / q, 2)}
    batch = posters[: args.throughput_posters]
    t = time.perf_counter()
    results = predictor.predict_many(batch, batch_size=2)
    row["throughput_posters_per_s"] = round(len(batch) / (time.perf_counter() - t), 1)
    row["throughput_failed"] = sum(not r.ok for r in results)

    exe = Path(sys.executable).with_name("postergenre")
    cmd = [str(exe), "predict", str(posters[0]), "--format", "json", "--runtime", runtime] + \
        (["--model", str(args.model)] if args.model else [])
    subprocess.run(cmd, capture_output=True, text=True, check=True)  # first run may export the ONNX graph
    cli, cli_cpu = [], []
    for _ in range(args.cli_runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        cli.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            sys.exit(f"CLI failed ({proc.returncode}): {proc.stderr.strip()}")
    row["cli_first_answer_s"] = {"median": round(statistics.median(cli), 2), "max": round(max(cli), 2),
                                 "cpu_median": round(statistics.median(cli_cpu), 2), "runs": len(cli)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--runtimes", default="auto,onnx,torch")
    parser.add_argument("--latency-posters", type=int, default=50)
    parser.add_argument("--throughput-posters", type=int, default=200)
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    posters = _posters(args.data, max(args.latency_posters, args.throughput_posters))
    if not posters:
        sys.exit(f"no posters found under {args.data}")
    rows = [measure(r.strip(), args, posters) for r in args.runtimes.split(",") if r.strip()]
    result = {
        "targets": {"cli_first_answer_s": 0.8, "warm_ms": 10, "contended_median_x": 3, "contended_max_x": 10,
                    "synopsis_adds_ms": 5},
        "runtimes": rows,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "platform": platform.platform()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for r in rows:
        print(f"[{r['runtime']}] warm single poster: median {r['quiet_ms']['median']} ms (target ≤ 10); contended "
              f"median ×{r['contended_vs_quiet']['median_x']} max ×{r['contended_vs_quiet']['max_x']} (≤ 3 / ≤ 10); "
              f"CLI first answer median {r['cli_first_answer_s']['median']} s (≤ 0.8 s), CPU "
              f"{r['cli_first_answer_s']['cpu_median']} s; throughput {r['throughput_posters_per_s']} posters/s; "
              + (f"synopsis adds {r['synopsis_adds_ms']} ms (≤ 5)" if "synopsis_adds_ms" in r else "no synopsis head"))
    print(f"load average {result['machine']['load_average_1m']}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
