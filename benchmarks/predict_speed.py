"""Prediction speed: warm single-poster latency, CLI start-to-first-answer, folder throughput.

    python benchmarks/predict_speed.py [--model DIR] [--data ../shared/data] [--threads 1]

Targets (issue: predict): warm single poster ≤ 60 ms; `postergenre predict one.jpg` ≤ 3 s from start to
answer. Prints a summary and writes benchmarks/results/predict_speed.json. Uses real shared posters.
The machine's load average is recorded with the numbers: on a shared machine it explains most variance.
"""

from __future__ import annotations

import argparse
import csv
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


def _posters(data: Path, n: int) -> list[Path]:
    with open(data / "movies.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // n)  # spread over the catalog, deterministic
    paths = [data / r["poster"] for r in rows[::step]]
    return [p for p in paths if p.is_file()][:n]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model folder (default: the bundled model)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (the CLI uses 1)")
    parser.add_argument("--latency-posters", type=int, default=50)
    parser.add_argument("--throughput-posters", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=2, help="predict_many batch size for the throughput run")
    parser.add_argument("--cli-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import torch

    from postergenre.predict.predictor import Predictor

    posters = _posters(args.data, max(args.latency_posters, args.throughput_posters))
    if not posters:
        sys.exit(f"no posters found under {args.data}")

    started = time.perf_counter()
    predictor = Predictor.load(args.model, threads=args.threads)
    load_s = time.perf_counter() - started

    # warm single-poster latency: file path in, decided genres out (decode + preprocess + forward + check)
    for p in posters[:5]:
        predictor.predict(p)
    latencies = []
    for p in posters[: args.latency_posters]:
        t = time.perf_counter()
        predictor.predict(p)
        latencies.append((time.perf_counter() - t) * 1000)

    # folder throughput: predict_many in batches
    batch = posters[: args.throughput_posters]
    t = time.perf_counter()
    results = predictor.predict_many(batch, batch_size=args.batch_size)
    throughput_s = time.perf_counter() - t
    failed = sum(not r.ok for r in results)

    # CLI start to first answer: a fresh process, the way a user runs it
    exe = Path(sys.executable).with_name("postergenre")
    cmd = [str(exe), "predict", str(posters[0]), "--format", "json"] + (["--model", str(args.model)] if args.model else [])
    cli, cli_cpu = [], []
    for _ in range(args.cli_runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        cli.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # CPU seconds the command used: what its wall time would be on an idle core
        cli_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if proc.returncode != 0:
            sys.exit(f"CLI failed ({proc.returncode}): {proc.stderr.strip()}")

    result = {
        "warm_latency_ms": {"median": round(statistics.median(latencies), 1), "p95": round(_pct(latencies, 95), 1),
                            "min": round(min(latencies), 1), "posters": len(latencies), "target_ms": 60},
        "cli_first_answer_s": {"median": round(statistics.median(cli), 2), "max": round(max(cli), 2),
                               "cpu_median": round(statistics.median(cli_cpu), 2), "runs": len(cli), "target_s": 3.0},
        "throughput_posters_per_s": round(len(batch) / throughput_s, 1),
        "throughput_posters": len(batch),
        "throughput_batch_size": args.batch_size,
        "throughput_failed": failed,
        "model_load_s": round(load_s, 2),
        "optimized_backbone": predictor.optimized,
        "torch_threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()},
        "model": str(predictor.model_dir),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    w, c = result["warm_latency_ms"], result["cli_first_answer_s"]
    print(f"warm single poster: median {w['median']} ms, p95 {w['p95']} ms (target ≤ 60 ms) over {w['posters']} posters")
    print(f"CLI start to first answer: median {c['median']} s, max {c['max']} s (target ≤ 3 s) over {c['runs']} runs; "
          f"CPU time {c['cpu_median']} s (the wall time on an idle core)")
    print(f"folder throughput: {result['throughput_posters_per_s']} posters/s over {len(batch)} posters "
          f"({failed} failed); model load {result['model_load_s']} s; load average {result['machine']['load_average_1m']}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
