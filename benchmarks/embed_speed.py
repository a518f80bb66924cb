"""Embedding speed, end to end: read + decode + resize + forward + store, per backbone, on shared posters.

    python benchmarks/embed_speed.py [-n 512] [--backbones efficientnet-lite0,...] [--ablation]
                                     [--data ../shared/data] [--json PATH]

Each configuration runs in its own process on a fresh temporary data folder (the N posters imported and
attached there first; that setup is not timed), through `embed_catalog`, the code `postergenre embed`
runs, so the number includes the SQLite writes. Reported: ms/poster, posters/s, the process's peak RSS.

--ablation adds, for the default backbone, the steps from a naive loop to the shipped settings:
forward-only timings (NCHW vs channels-last vs BN folded; torch threads 1 vs 2) and end-to-end pipeline
settings (batch size; one batch at a time with 1 or 2 torch threads vs 2 batches in flight with 1 each). Target (issue 3): efficientnet-lite0 ≥ 40 posters/s on 2 cores.
The load average is recorded: on a shared machine it explains most of the variance.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "embed_speed.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"


def _rows(data: Path, n: int) -> list[dict]:
    with open(data / "movies.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    step = max(1, len(rows) // n)  # spread over the catalog, deterministic
    return rows[::step][:n]


def _make_home(root: Path, rows: list[dict], data: Path) -> Path:
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore

    source = root / "source" / "posters"
    source.mkdir(parents=True)
    with open(root / "source" / "movies.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            poster = data / row["poster"]
            (source / poster.name).symlink_to(poster)
            writer.writerow({**row, "poster": str(poster)})
    paths = get_paths(root / "home").ensure()
    read = read_catalog(root / "source" / "movies.csv")
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(read.records, source="benchmark", fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), source)
    return paths.home


def _one(config: dict) -> dict:
    """One end-to-end configuration (runs in a child process so peak RSS is its own)."""

    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.backbones import get_backbone
    from postergenre.features.embed import embed_catalog
    from postergenre.posters.store import PosterStore

    spec = get_backbone(config["backbone"])
    rows = _rows(Path(config["data"]), config["n"])
    with tempfile.TemporaryDirectory(prefix="embed_speed_") as tmp:
        home = _make_home(Path(tmp), rows, Path(config["data"]))
        paths = get_paths(home)
        net = spec.build()  # built before the clock starts: a long run pays it once
        with Catalog(paths.db) as catalog:
            cpu_start, start = _cpu_seconds(), time.perf_counter()
            summary = embed_catalog(catalog, PosterStore(paths.posters), spec, batch_size=config["batch_size"],
                                    workers=config["workers"], threads=config["threads"], net=net)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    done = summary.embedded
    # CPU time per poster is what a busy shared machine distorts least (spin-waiting threads aside).
    return {**config, "posters": done, "failed": summary.failed, "seconds": round(seconds, 2),
            "ms_per_poster": round(1000 * seconds / done, 1), "posters_per_s": round(done / seconds, 1),
            "cpu_ms_per_poster": round(1000 * cpu / done, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _forward_only(threads: int, batch: int = 32, reps: int = 3) -> list[dict]:
    """Network-only timings for the default backbone: what channels-last and BN folding buy."""
    import torch

    from postergenre.features import backbones

    torch.set_num_threads(threads)
    spec = backbones.get_backbone()
    folded = spec.build()  # shipped: BN folded + channels-last
    fold = backbones._fold_lite_batchnorms
    backbones._fold_lite_batchnorms = lambda net: None  # benchmark-only: the unfolded network
    try:
        unfolded_cl = spec.build()
        unfolded_nchw = spec.build().to(memory_format=torch.contiguous_format)
    finally:
        backbones._fold_lite_batchnorms = fold
    x = torch.randn(batch, 3, 320, 224)
    out = []
    for name, net, memory_format in (("NCHW, BN unfolded", unfolded_nchw, torch.contiguous_format),
                                     ("channels-last, BN unfolded", unfolded_cl, torch.channels_last),
                                     ("channels-last, BN folded (shipped)", folded, torch.channels_last)):
        xx = x.contiguous(memory_format=memory_format)
        with torch.inference_mode():
            net(xx[:2])
            best = min(_timed(lambda: net(xx)) for _ in range(reps))
        out.append({"variant": name, "threads": threads, "batch": batch, "ms_per_poster": round(1000 * best / batch, 1),
                    "posters_per_s": round(batch / best, 1)})
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _child(config: dict) -> dict:
    cmd = [sys.executable, __file__, "--_one", json.dumps(config)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=512, help="number of shared posters (default 512)")
    parser.add_argument("--backbones", default="efficientnet-lite0,efficientnet-lite1,efficientnet-lite2")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="batches in flight")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per forward pass")
    parser.add_argument("--ablation", action="store_true", help="also time the steps from a naive loop")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--_one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._one:
        print(json.dumps(_one(json.loads(args._one))))
        return
    if not (args.data / "movies.csv").is_file():
        sys.exit(f"shared data not found at {args.data} (use --data)")

    base = {"n": args.n, "data": str(args.data), "batch_size": args.batch_size, "workers": args.workers,
            "threads": args.threads}
    load_before = os.getloadavg()
    runs = []
    for backbone in args.backbones.split(","):
        result = _child({**base, "backbone": backbone})
        runs.append(result)
        print(f"{backbone:20s} {result['ms_per_poster']:7.1f} ms/poster {result['posters_per_s']:6.1f} posters/s "
              f"(CPU {result['cpu_ms_per_poster']:.0f} ms/poster) peak RSS {result['peak_rss_mb']:.0f} MB  (batch {args.batch_size}, {args.workers} workers, "
              f"{args.threads} torch threads, {result['posters']} posters)", flush=True)
    report = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "runs": runs}
    if args.ablation:
        forward = _forward_only(1) + _forward_only(2)
        for row in forward:
            print(f"forward only  {row['variant']:36s} {row['threads']} threads: {row['ms_per_poster']:6.1f} ms/poster "
                  f"{row['posters_per_s']:6.1f}/s", flush=True)
        pipeline = []
        for batch, workers, threads in ((1, 1, 1), (16, 1, 2), (16, 1, 1), (16, 2, 1), (4, 2, 1)):
            result = _child({**base, "backbone": "efficientnet-lite0", "batch_size": batch, "workers": workers,
                             "threads": threads})
            pipeline.append(result)
            print(f"end to end    batch {batch:3d}, {workers} batches in flight, {threads} torch threads each: "
                  f"{result['ms_per_poster']:6.1f} ms/poster {result['posters_per_s']:6.1f}/s "
                  f"(CPU {result['cpu_ms_per_poster']:.0f} ms/poster)", flush=True)
        report["ablation"] = {"forward_only": forward, "pipeline": pipeline}
    report["loadavg_before"] = [round(v, 2) for v in load_before]
    report["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"load average before {report['loadavg_before']}, after {report['loadavg_after']} "
          f"(on {os.cpu_count()} cores; other jobs share them)")
    write_result(args.json, report)


if __name__ == "__main__":
    main()
