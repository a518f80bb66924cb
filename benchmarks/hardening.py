"""Hardening figures for the data layer: the decoder's reduced-scale JPEG decode, a seeded mutation run
against the decoder, and how fast a dripping server is cut off by the fetch deadline.

    python benchmarks/hardening.py [--data ../shared/data] [--mutations 36000] [--json PATH]

1. A 24-megapixel JPEG (a shared poster enlarged to 4000×6000, with grain so it compresses like a photo):
   `decode_image` at full size and with `max_side=640`, each in a fresh process (time, peak RSS rise).
2. `--mutations` seeded mutations (bytes overwritten, files cut short) of JPEG, PNG, GIF, TIFF, WebP and
   BMP seeds and of AVIF, BLP, DDS and ICO files: how many decode, how many are refused with a typed
   error, and how many raise anything else (must be 0).
3. A server on 127.0.0.1 that drips its response headers one byte every 50 ms: seconds until the fetch
   gives up, for --timeout 1 and 3 (httpx's own read timeout never fires on such a server).
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
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image

from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "hardening.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"

# Peak RSS from VmHWM: ru_maxrss would carry over the parent's peak across fork + exec on Linux.
_DECODE_CHILD = """
import re, sys, time
from postergenre.posters.images import decode_image
def peak_kb():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
data = open(sys.argv[1], "rb").read()
max_side = int(sys.argv[2]) or None
before = peak_kb()
start = time.perf_counter()
image = decode_image(data, max_side=max_side)
seconds = time.perf_counter() - start
print(seconds, (peak_kb() - before) / 1024, image.width, image.height)
"""


def bench_decode(data_dir: Path) -> dict:
    poster = Image.open(data_dir / "posters" / "tt0120131.jpg").convert("RGB")
    big = np.asarray(poster.resize((4000, 6000), Image.BICUBIC), dtype=np.int16)
    grain = np.random.default_rng(0).integers(-12, 13, size=big.shape, dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    out: dict = {"megapixels": 24.0, "jpeg_bytes": len(buf.getvalue())}
    with tempfile.NamedTemporaryFile(suffix=".jpg") as f:
        f.write(buf.getvalue())
        f.flush()
        for label, max_side in (("full", 0), ("max_side_640", 640)):
            runs = []
            for _ in range(3):
                done = subprocess.run([sys.executable, "-c", _DECODE_CHILD, f.name, str(max_side)],
                                      capture_output=True, text=True, check=True)
                seconds, rss_mb, width, height = done.stdout.split()
                runs.append((float(seconds), float(rss_mb), f"{width}x{height}"))
            runs.sort()
            seconds, rss_mb, size = runs[len(runs) // 2]
            out[label] = {"seconds": round(seconds, 3), "rss_rise_mb": round(rss_mb, 1), "decoded_size": size}
            print(f"decode {label:13s} {seconds:6.3f} s  RSS +{rss_mb:6.1f} MB  -> {size}")
    return out


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def bench_mutations(total: int) -> dict:
    from postergenre.errors import PosterDecodeError
    from postergenre.posters.images import decode_image

    warnings.simplefilter("ignore", UserWarning)  # Pillow's notes on odd TIFF tags
    picture = Image.new("RGB", (64, 96))
    picture.putdata([(x * 4, y * 2, (x * y) % 256) for y in range(96) for x in range(64)])
    seeds = {
        "JPEG": _encode(picture, "JPEG"), "PNG": _encode(picture, "PNG"), "GIF": _encode(picture.convert("P"), "GIF"),
        "TIFF": _encode(picture, "TIFF"), "TIFF-lzw": _encode(picture, "TIFF", compression="tiff_lzw"),
        "WEBP": _encode(picture, "WEBP"), "BMP": _encode(picture, "BMP"), "AVIF": _encode(picture, "AVIF"),
        "BLP": _encode(picture.convert("P"), "BLP"), "DDS": _encode(picture, "DDS"), "ICO": _encode(picture, "ICO"),
    }
    rng = random.Random(0)
    outcomes: Counter = Counter()
    untyped: Counter = Counter()
    per_seed = max(1, total // len(seeds))
    start = time.perf_counter()
    for name, data in seeds.items():
        for _ in range(per_seed):
            if rng.random() < 0.2:
                mutated = data[: rng.randrange(1, len(data))]
            else:
                b = bytearray(data)
                for _ in range(rng.randint(1, 8)):
                    b[rng.randrange(min(len(b), 256) if rng.random() < 0.8 else len(b))] = rng.randrange(256)
                mutated = bytes(b)
            try:
                decode_image(mutated, name=name)
                outcomes["decoded"] += 1
            except PosterDecodeError as exc:
                outcomes[type(exc).__name__] += 1
            except Exception as exc:  # what the decoder must never let out
                untyped[f"{name}: {type(exc).__name__}"] += 1
    seconds = time.perf_counter() - start
    done = per_seed * len(seeds)
    print(f"mutations: {done} in {seconds:.1f} s; {dict(outcomes)}; untyped errors: {sum(untyped.values())}")
    return {"mutations": done, "seconds": round(seconds, 2), "outcomes": dict(outcomes), "untyped": dict(untyped)}


def bench_drip() -> dict:
    from postergenre.errors import FetchError
    from postergenre.posters.fetch import FetchLimits, fetch_image_bytes

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(4096)
            try:
                for byte in b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"x" * 10_000:
                    conn.sendall(bytes([byte]))
                    time.sleep(0.05)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    out = {}
    for timeout in (1.0, 3.0):
        start = time.perf_counter()
        try:
            fetch_image_bytes(f"http://127.0.0.1:{port}/p.jpg", limits=FetchLimits(timeout_s=timeout, retries=0))
            reason = "fetched?!"
        except FetchError as exc:
            reason = str(exc)
        seconds = time.perf_counter() - start
        out[f"timeout_{timeout:g}s"] = {"seconds_until_cut_off": round(seconds, 3), "error": reason}
        print(f"dripping headers, --timeout {timeout:g}: cut off after {seconds:.2f} s ({reason})")
    server.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--mutations", type=int, default=36_000)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    result = {
        "load_average": os.getloadavg(),
        "decode_24mp_jpeg": bench_decode(args.data),
        "mutation_run": bench_mutations(args.mutations),
        "dripping_server": bench_drip(),
    }
    write_result(args.json, result)


if __name__ == "__main__":
    main()
