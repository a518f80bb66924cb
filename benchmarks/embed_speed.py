"""Embedding speed, end to end: read + decode + resize + forward + store, torch vs ONNX Runtime side by side.

    nice python benchmarks/embed_speed.py [-n 512] [--reps 2] [--backbones efficientnet-lite0,...]
                                          [--runtimes torch,onnx[,onnx-int8]] [--view-sets poster,poster+mirror]
                                          [--latency] [--decode] [--ablation] [--data ../shared/data] [--json PATH]

Each (backbone, runtime) run goes in its own process on a fresh temporary data folder (the N posters
imported and attached there first; that setup is not timed), through `embed_catalog`, the code
`postergenre embed` runs, so the number includes the SQLite writes. Runtimes alternate (torch, onnx,
torch, onnx, ...) so that a change in the machine's load hits both alike; the median of `--reps` runs is
reported. `--view-sets` runs each runtime once per set of views (features/views.py; default poster+mirror, what
the default `train` recipe reads; "poster,poster+mirror" measures what the second view costs, the two sets
alternating too). The ONNX graph is exported once before the runs (not timed), so ONNX children import no torch
and their peak RSS is what `postergenre embed` holds. Reported per run: posters/s, CPU ms/poster,
posters per CPU-second, the ONNX/torch ratios, the fraction of the fp32 limit (issue 13: lite0 at 224×320
is 1.097 GFLOP per poster; 2 cores × 2.6 GHz × 32 FLOP/cycle ≈ 151 posters/s), peak RSS.

onnx-int8 (static int8 with the calibration table shipped in the package, features.quantize; the default
runtime for lite0) is quantized once before the runs (not timed); its quality change is
benchmarks/int8_quality.py.
--latency: warm single-poster latency (1 intra-op thread, batch of 1, preprocessing included) per runtime.
--decode: full-size posters (shared posters upscaled ×8 to ~1,450×2,150 JPEGs in a temp folder): decode +
letterbox time with and without JPEG draft, and the feature difference draft makes (and ONNX vs torch on them).
--ablation adds, for the default backbone, the steps from a naive loop to the shipped torch settings.
The machine is shared: the load average is recorded, and ratios measured in one run matter more than
absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from results_file import write_result  # benchmarks/ siblings (run as a script)
from shared_sample import make_home, spread_rows

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "embed_speed.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"
FP32_LIMIT_POSTERS_PER_S = 151.0  # issue 13: 166 GFLOP/s peak on 2 cores / 1.097 GFLOP per lite0 poster


def _one(config: dict) -> dict:
    """One end-to-end configuration (runs in a child process so peak RSS is its own)."""
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.embed import embed_catalog
    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime
    from postergenre.posters.store import PosterStore

    spec = get_backbone(config["backbone"])
    rows = spread_rows(Path(config["data"]), config["n"])
    with tempfile.TemporaryDirectory(prefix="embed_speed_") as tmp:
        home = make_home(Path(tmp), rows, Path(config["data"]))
        paths = get_paths(home)
        # built (or loaded) before the clock starts: a long run pays it once
        runtime = load_runtime(spec, config["runtime"], cache_dir=config["runtime_cache"], threads=config["threads"])
        with Catalog(paths.db) as catalog:
            cpu_start, start = _cpu_seconds(), time.perf_counter()
            summary = embed_catalog(catalog, PosterStore(paths.posters), spec, batch_size=config["batch_size"],
                                    workers=config["workers"], threads=config["threads"], runtime=runtime,
                                    views=config.get("views", "poster+mirror").split("+"))
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
    done = summary.embedded
    # CPU time per poster is what a busy shared machine distorts least (spin-waiting threads aside).
    return {**config, "runtime": runtime.name, "posters": done, "failed": summary.failed, "seconds": round(seconds, 2),
            "ms_per_poster": round(1000 * seconds / done, 2), "posters_per_s": round(done / seconds, 1),
            "cpu_ms_per_poster": round(1000 * cpu / done, 2), "posters_per_cpu_s": round(done / cpu, 1),
            "torch_imported": "torch" in sys.modules,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _latency(config: dict) -> dict:
    """Warm single-poster latency: preprocessing + forward of one decoded poster, 1 intra-op thread."""
    import statistics

    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime
    from postergenre.posters.images import decode_image

    spec = get_backbone(config["backbone"])
    runtime = load_runtime(spec, config["runtime"], cache_dir=config["runtime_cache"], threads=1)
    images = [decode_image(Path(config["data"]) / row["poster"]) for row in spread_rows(Path(config["data"]), 40)]
    for image in images[:5]:
        runtime.embed([image])  # warm-up: first calls allocate
    times = []
    for _ in range(config["rounds"]):
        for image in images:
            start = time.perf_counter()
            runtime.embed([image])
            times.append(1000 * (time.perf_counter() - start))
    return {"runtime": runtime.name, "calls": len(times), "median_ms": round(statistics.median(times), 2),
            "p90_ms": round(sorted(times)[int(0.9 * len(times))], 2), "max_ms": round(max(times), 2)}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _forward_only(threads: int, batch: int = 32, reps: int = 3) -> list[dict]:
    """Network-only timings for the default backbone: what channels-last and BN folding buy."""
    import torch

    from postergenre.features import backbones, registry

    torch.set_num_threads(threads)
    spec = registry.get_backbone()
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


def _child(config: dict, mode: str = "--_one") -> dict:
    cmd = [sys.executable, __file__, mode, json.dumps(config)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _decode(config: dict) -> dict:
    """Full-size posters (upscaled shared ones): decode + letterbox with and without draft, and what draft changes."""
    import io

    import numpy as np
    from PIL import Image

    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime
    from postergenre.posters.images import decode_image

    spec = get_backbone(config["backbone"])
    box = spec.preprocessing
    rows = spread_rows(Path(config["data"]), config["posters"])
    small = [Path(config["data"]) / row["poster"] for row in rows]
    big = []
    for path in small:
        image = decode_image(path)
        out = io.BytesIO()
        image.resize((image.width * 8, image.height * 8), Image.Resampling.BICUBIC).save(out, "JPEG", quality=90)
        big.append(out.getvalue())

    def full(data: bytes) -> np.ndarray:
        return box.prepare_pixels(decode_image(data))

    def drafted(data: bytes) -> np.ndarray:  # what the embed pipeline does (JPEG draft inside the decoder)
        return box.prepare_pixels(decode_image(data, max_side=box.decode_max_side))

    def best_ms(fn, items) -> float:
        return 1000 * sum(min(_timed(lambda: fn(x)) for _ in range(3)) for x in items) / len(items)

    result = {"posters": len(big), "size": list(Image.open(io.BytesIO(big[0])).size),
              "small_decode_letterbox_ms": round(best_ms(lambda p: box.prepare_pixels(decode_image(p)), small), 2),
              "full_decode_letterbox_ms": round(best_ms(full, big), 2),
              "draft_decode_letterbox_ms": round(best_ms(drafted, big), 2)}
    onnx = load_runtime(spec, "onnx", cache_dir=config["runtime_cache"])
    torch_rt = load_runtime(spec, "torch")
    a = onnx.embed_pixels(box.normalize(np.stack([full(b) for b in big])))
    d = onnx.embed_pixels(box.normalize(np.stack([drafted(b) for b in big])))
    t = torch_rt.embed_pixels(box.normalize(np.stack([drafted(b) for b in big])))
    cos = (a * d).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(d, axis=1)
    result.update({"draft_vs_full_max_abs": float(np.abs(a - d).max()), "draft_vs_full_min_cosine": round(float(cos.min()), 6),
                   "onnx_vs_torch_on_drafted_max_abs": float(np.abs(d - t).max())})
    return result


def _forward_cpu(backbone: str, runtimes: list[str], cache: str, batch: int = 4, calls: int = 12) -> dict:
    """Forward pass alone, CPU ms/poster of the calling thread (best of 3 rounds, runtimes interleaved)."""
    import numpy as np

    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime

    spec = get_backbone(backbone)
    width, height = spec.input_size
    x = np.random.default_rng(0).uniform(-1, 1, (batch, 3, height, width)).astype(np.float32)
    loaded = {rt: load_runtime(spec, rt, cache_dir=cache, threads=1) for rt in runtimes}
    best = {rt: float("inf") for rt in runtimes}
    for rt in loaded.values():
        rt.embed_pixels(x)
    for _ in range(3):
        for name, rt in loaded.items():
            start = time.thread_time()
            for _ in range(calls):
                rt.embed_pixels(x)
            best[name] = min(best[name], 1000 * (time.thread_time() - start) / (calls * batch))
    return {name: round(ms, 2) for name, ms in best.items()}


def _median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda r: r["posters_per_s"])
    return {**ordered[len(ordered) // 2], "reps_posters_per_s": [r["posters_per_s"] for r in runs],
            "reps_cpu_ms_per_poster": [r["cpu_ms_per_poster"] for r in runs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=512, help="number of shared posters (default 512)")
    parser.add_argument("--reps", type=int, default=2, help="runs per (backbone, runtime), alternating runtimes")
    parser.add_argument("--backbones", default="efficientnet-lite0")
    parser.add_argument("--runtimes", default="torch,onnx,onnx-int8")
    parser.add_argument("--view-sets", default="poster+mirror",
                        help="sets of views to embed, comma-separated, views joined by + (default poster+mirror)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="batches in flight")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per forward pass")
    parser.add_argument("--latency", action="store_true", help="warm single-poster latency per runtime")
    parser.add_argument("--decode", action="store_true", help="full-size poster decode with and without draft")
    parser.add_argument("--ablation", action="store_true", help="also time the steps from a naive torch loop")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, default=RESULTS)
    for mode in ("--_one", "--_latency", "--_decode"):
        parser.add_argument(mode, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for mode, fn in (("_one", _one), ("_latency", _latency), ("_decode", _decode)):
        if getattr(args, mode):
            print(json.dumps(fn(json.loads(getattr(args, mode)))))
            return
    if not (args.data / "movies.csv").is_file():
        sys.exit(f"shared data not found at {args.data} (use --data)")

    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime

    runtimes = args.runtimes.split(",")
    with tempfile.TemporaryDirectory(prefix="embed_speed_runtimes_") as cache:
        base = {"n": args.n, "data": str(args.data), "batch_size": args.batch_size, "workers": args.workers,
                "threads": args.threads, "runtime_cache": cache}
        load_before = os.getloadavg()
        report: dict = {"cpu_count": os.cpu_count(), "platform": platform.platform(), "runs": [], "comparisons": []}
        for backbone in args.backbones.split(","):
            if "onnx" in runtimes:
                load_runtime(get_backbone(backbone), "onnx", cache_dir=cache)  # export once, untimed
            if "onnx-int8" in runtimes:  # quantize once, untimed
                load_runtime(get_backbone(backbone), "onnx-int8", cache_dir=cache)
            view_sets = args.view_sets.split(",")
            by_run: dict[tuple[str, str], list[dict]] = {(rt, vs): [] for rt in runtimes for vs in view_sets}
            for rep in range(args.reps):
                for rt, vs in by_run:
                    result = _child({**base, "backbone": backbone, "runtime": rt, "views": vs})
                    by_run[(rt, vs)].append(result)
                    print(f"{backbone:18s} {rt:5s} {vs:13s} rep {rep + 1}: {result['posters_per_s']:6.1f} posters/s, "
                          f"CPU {result['cpu_ms_per_poster']:5.1f} ms/poster ({result['posters_per_cpu_s']:.1f} per CPU-s), "
                          f"peak RSS {result['peak_rss_mb']:.0f} MB, torch imported: {result['torch_imported']}", flush=True)
            every = {key: _median_run(runs) for key, runs in by_run.items()}
            medians = {rt: every[(rt, view_sets[-1])] for rt in runtimes}  # the last set: the default's place
            report["runs"] += [m for (rt, vs), m in every.items() if vs != view_sets[-1]]
            for rt in runtimes:
                for vs in view_sets[:-1]:
                    one, other = every[(rt, vs)], every[(rt, view_sets[-1])]
                    row = {"backbone": backbone, "runtime": rt, "views": [vs, view_sets[-1]],
                           "posters_per_s": [one["posters_per_s"], other["posters_per_s"]],
                           "cpu_ms_per_poster": [one["cpu_ms_per_poster"], other["cpu_ms_per_poster"]],
                           "throughput_ratio": round(other["posters_per_s"] / one["posters_per_s"], 3)}
                    report.setdefault("views", []).append(row)
                    print(f"{backbone} {rt}: {vs} {row['posters_per_s'][0]}/s, {view_sets[-1]} "
                          f"{row['posters_per_s'][1]}/s (x{row['throughput_ratio']}); CPU ms/poster "
                          f"{row['cpu_ms_per_poster'][0]} -> {row['cpu_ms_per_poster'][1]}", flush=True)
            forward = _forward_cpu(backbone, runtimes, cache)
            report.setdefault("forward_only_cpu_ms_per_poster", {})[backbone] = forward
            print(f"{backbone}: forward pass alone, CPU ms/poster (batch 4, 1 thread): {forward}", flush=True)
            report["runs"] += list(medians.values())
            if {"torch", "onnx"} <= medians.keys():
                t, o = medians["torch"], medians["onnx"]
                row = {"backbone": backbone, "onnx_over_torch_posters_per_s": round(o["posters_per_s"] / t["posters_per_s"], 2),
                       "onnx_over_torch_posters_per_cpu_s": round(o["posters_per_cpu_s"] / t["posters_per_cpu_s"], 2)}
                if backbone == "efficientnet-lite0":
                    row["fraction_of_fp32_limit"] = {rt: round(m["posters_per_s"] / FP32_LIMIT_POSTERS_PER_S, 3)
                                                     for rt, m in medians.items()}
                    row["fraction_of_fp32_limit_per_cpu_s"] = {
                        rt: round(m["posters_per_cpu_s"] * (os.cpu_count() or 1) / FP32_LIMIT_POSTERS_PER_S, 3)
                        for rt, m in medians.items()}
                if "onnx-int8" in medians:
                    q = medians["onnx-int8"]
                    row["int8_over_torch_posters_per_cpu_s"] = round(q["posters_per_cpu_s"] / t["posters_per_cpu_s"], 2)
                    row["int8_over_onnx_posters_per_cpu_s"] = round(q["posters_per_cpu_s"] / o["posters_per_cpu_s"], 2)
                    row["int8_over_torch_posters_per_s"] = round(q["posters_per_s"] / t["posters_per_s"], 2)
                    print(f"{backbone}: int8 / torch = {row['int8_over_torch_posters_per_cpu_s']:.2f}×, int8 / ONNX fp32 = "
                          f"{row['int8_over_onnx_posters_per_cpu_s']:.2f}× posters per CPU-second", flush=True)
                report["comparisons"].append(row)
                print(f"{backbone}: ONNX / torch = {row['onnx_over_torch_posters_per_s']:.2f}× posters/s, "
                      f"{row['onnx_over_torch_posters_per_cpu_s']:.2f}× posters per CPU-second"
                      + (f"; fraction of the {FP32_LIMIT_POSTERS_PER_S:.0f}/s fp32 limit: {row['fraction_of_fp32_limit']}"
                         f" (by CPU time, as if both cores were ours: {row['fraction_of_fp32_limit_per_cpu_s']})"
                         if "fraction_of_fp32_limit" in row else ""), flush=True)
        if args.latency:
            report["latency"] = []
            for rt in runtimes:
                result = _child({**base, "backbone": "efficientnet-lite0", "runtime": rt, "rounds": 3}, "--_latency")
                report["latency"].append(result)
                print(f"warm single poster, 1 thread, {rt:5s}: median {result['median_ms']:.1f} ms, "
                      f"p90 {result['p90_ms']:.1f} ms, max {result['max_ms']:.1f} ms ({result['calls']} calls)", flush=True)
        if args.decode:
            result = _child({**base, "backbone": "efficientnet-lite0", "posters": 8}, "--_decode")
            report["decode"] = result
            print(f"decode + letterbox, {result['posters']} posters of {result['size'][0]}×{result['size'][1]}: "
                  f"full {result['full_decode_letterbox_ms']:.1f} ms, draft {result['draft_decode_letterbox_ms']:.1f} ms "
                  f"(shared originals: {result['small_decode_letterbox_ms']:.2f} ms); draft vs full features: max abs "
                  f"{result['draft_vs_full_max_abs']:.3g}, min cosine {result['draft_vs_full_min_cosine']}; ONNX vs torch "
                  f"on drafted: max abs {result['onnx_vs_torch_on_drafted_max_abs']:.2g}", flush=True)
        if args.ablation:
            forward = _forward_only(1) + _forward_only(2)
            for row in forward:
                print(f"forward only  {row['variant']:36s} {row['threads']} threads: {row['ms_per_poster']:6.1f} ms/poster "
                      f"{row['posters_per_s']:6.1f}/s", flush=True)
            pipeline = []
            for batch, workers, threads in ((1, 1, 1), (16, 1, 2), (16, 1, 1), (16, 2, 1), (4, 2, 1)):
                result = _child({**base, "backbone": "efficientnet-lite0", "runtime": "torch", "batch_size": batch,
                                 "workers": workers, "threads": threads})
                pipeline.append(result)
                print(f"end to end    batch {batch:3d}, {workers} batches in flight, {threads} torch threads each: "
                      f"{result['ms_per_poster']:6.1f} ms/poster {result['posters_per_s']:6.1f}/s "
                      f"(CPU {result['cpu_ms_per_poster']:.0f} ms/poster)", flush=True)
            report["ablation"] = {"forward_only": forward, "pipeline": pipeline}
    for run in report["runs"]:
        run.pop("runtime_cache", None)
    report["loadavg_before"] = [round(v, 2) for v in load_before]
    report["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(f"load average before {report['loadavg_before']}, after {report['loadavg_after']} "
          f"(on {os.cpu_count()} cores; other jobs share them)")
    write_result(args.json, report)


if __name__ == "__main__":
    main()
