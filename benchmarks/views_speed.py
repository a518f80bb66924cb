"""What a second (mirrored) view costs: warm single-poster time and embedding throughput, as ratios in one run.

    nice python benchmarks/views_speed.py [--posters 60] [--throughput 400] [--before DIR]

`--before DIR`: a one-view model folder (e.g. the bundled model before two views: `git show` its model.json and
model.safetensors into DIR); its `Predictor.predict` is timed in the same interleaved loop as the bundled model's, so
the added milliseconds of the shipped two-view answer are measured on the same machine load.

Measures, on the bundled model's default runtime (int8 ONNX here) and real shared posters, in one interleaved loop:
today's warm single-poster answer (`Predictor.predict`), the forward pass of one view, of two views as one batch of
2, and of two views run concurrently on two threads (one view each); then the catalog embedding throughput of one
view against two (decode once, mirror, both views through the runtime, `--workers` batches in flight). `predict` runs
a single poster's views as passes of one side by side on the cores (features.runtime.embed_views); the "two threads"
row times that with the letterboxing inside each thread. The
machine is shared, so the numbers are noisy; the ratios measured in the same loop are what to read. Writes
benchmarks/results/views_speed.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import ImageOps

from postergenre.posters.images import decode_image
from postergenre.predict.predictor import Predictor
from results_file import write_result

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared" / "data"))


def _posters(n: int) -> list[Path]:
    with open(SHARED / "movies.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [SHARED / r["poster"] for r in rows[::max(1, len(rows) // n)]][:n]


def _ms(values: list[float]) -> dict:
    return {"median": round(1e3 * statistics.median(values), 2),
            "p90": round(1e3 * float(np.percentile(values, 90)), 2)}


def latency(predictor: Predictor, posters: list[Path], rounds: int, before: Predictor | None = None) -> dict:
    runtime, box = predictor.core.embedder, predictor.core.spec.preprocessing
    images = [decode_image(p, max_side=box.decode_max_side) for p in posters]
    pool = ThreadPoolExecutor(max_workers=2)
    t = {"predict": [], "one_view": [], "two_views_batch": [], "two_views_two_threads": []}
    if before is not None:
        t["predict_before"] = []
    for p in posters[:3]:
        predictor.predict(p)
        if before is not None:
            before.predict(p)
    for _ in range(rounds):
        for path, image in zip(posters, images):
            s = time.perf_counter()
            predictor.predict(path)
            t["predict"].append(time.perf_counter() - s)
            if before is not None:
                s = time.perf_counter()
                before.predict(path)
                t["predict_before"].append(time.perf_counter() - s)
            s = time.perf_counter()
            runtime.embed_pixels(box.batch([image]))
            t["one_view"].append(time.perf_counter() - s)
            s = time.perf_counter()
            runtime.embed_pixels(box.batch([image, ImageOps.mirror(image)]))
            t["two_views_batch"].append(time.perf_counter() - s)
            s = time.perf_counter()
            views = [pool.submit(lambda im: runtime.embed_pixels(box.batch([im])), v)
                     for v in (image, ImageOps.mirror(image))]
            for v in views:
                v.result()
            t["two_views_two_threads"].append(time.perf_counter() - s)
    pool.shutdown()
    out = {k: _ms(v) for k, v in t.items()}
    one = out["one_view"]["median"]
    out["added_ms_batch"] = round(out["two_views_batch"]["median"] - one, 2)
    out["added_ms_two_threads"] = round(out["two_views_two_threads"]["median"] - one, 2)
    if before is not None:
        out["predict_added_ms"] = round(out["predict"]["median"] - out["predict_before"]["median"], 2)
    out["views"] = list(predictor.core.views)
    return out


def throughput(predictor: Predictor, posters: list[Path], workers: int) -> dict:
    runtime, box = predictor.core.embedder, predictor.core.spec.preprocessing
    batches = [posters[i:i + 4] for i in range(0, len(posters), 4)]

    def run(views: int):
        def one(batch):
            images = [decode_image(p, max_side=box.decode_max_side) for p in batch]
            if views == 2:
                images += [ImageOps.mirror(im) for im in images]
            return runtime.embed_pixels(box.batch(images))

        s = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(one, batches))
        return len(posters) / (time.perf_counter() - s)

    rates = {"one_view": [], "two_views": []}
    for _ in range(2):  # interleaved, so both see the same machine
        rates["one_view"].append(run(1))
        rates["two_views"].append(run(2))
    out = {k: round(max(v), 1) for k, v in rates.items()}
    out["ratio"] = round(out["two_views"] / out["one_view"], 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posters", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--throughput", type=int, default=400, help="posters for the throughput run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--before", type=Path, help="a one-view model folder to time beside the bundled model")
    args = ap.parse_args()
    predictor = Predictor.load()
    before = Predictor.load(args.before) if args.before else None
    result = {"runtime": predictor.core.runtime_name, "load_average_before": list(os.getloadavg()),
              "warm_single_poster_ms": latency(predictor, _posters(args.posters), args.rounds, before),
              "embed_posters_per_s": throughput(predictor, _posters(args.throughput), args.workers),
              "load_average_after": list(os.getloadavg())}
    lat, thr = result["warm_single_poster_ms"], result["embed_posters_per_s"]
    if before is not None:
        print(f"warm single poster (median ms): predict with the bundled model ({', '.join(lat['views'])}) "
              f"{lat['predict']['median']}, with the one-view model {lat['predict_before']['median']} "
              f"(+{lat['predict_added_ms']})")
    print(f"warm single poster (median ms): predict {lat['predict']['median']}, one view {lat['one_view']['median']}, "
          f"two views batched {lat['two_views_batch']['median']} (+{lat['added_ms_batch']}), two views on two "
          f"threads {lat['two_views_two_threads']['median']} (+{lat['added_ms_two_threads']})")
    print(f"embedding throughput: one view {thr['one_view']}/s, two views {thr['two_views']}/s (x{thr['ratio']}); "
          f"load average {result['load_average_before'][0]:.1f} -> {result['load_average_after'][0]:.1f}")
    write_result(ROOT / "benchmarks" / "results" / "views_speed.json", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
