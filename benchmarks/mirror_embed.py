"""Embed every catalog poster MIRRORED (left-right) with the project's default runtime, for the test-time-views lever.

    nice python benchmarks/mirror_embed.py --home DATA_FOLDER [--limit N]

The package's embed path is unchanged: this script decodes each poster with the one decoder
(`posters.images.decode_image`), mirrors the decoded image (`PIL.ImageOps.mirror`), then runs the same
preprocessing (`Letterbox.prepare_pixels` / `normalize`) and the same runtime as `postergenre embed` (int8 ONNX where
that is the default). Vectors go into the data folder's own embedding cache under the default runtime's key with
`+mirror` appended to the backbone name, so they never mix with the real vectors, a rerun resumes, and nothing
image-by-image lands in the repository. Prints a one-line summary (posters, seconds, posters/s) on stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import ImageOps

from postergenre.catalog.store import Catalog
from postergenre.errors import PosterDecodeError
from postergenre.features.cache import EmbeddingCache
from postergenre.features.embed import selected_posters
from postergenre.features.registry import get_backbone
from postergenre.features.runtime import load_runtime, vector_key
from postergenre.posters.images import decode_image
from postergenre.posters.store import PosterStore

MIRROR_SUFFIX = "+mirror"
BATCH = 4
COMMIT_EVERY = 64  # batches per transaction: a killed run loses at most this many


def mirror_key(backbone: str | None = None, runtime: str = "auto") -> tuple[str, str]:
    """The cache key of mirrored vectors: the default runtime's key with `+mirror` on the backbone name."""
    name, version = vector_key(get_backbone(backbone), runtime)
    return name + MIRROR_SUFFIX, version


def _mirrored_pixels(store: PosterStore, spec, shas: list[str]) -> tuple[list[str], np.ndarray | None, dict[str, str]]:
    ok, pixels, failures = [], [], {}
    for sha in shas:
        try:
            image = decode_image(store.path(sha), name=f"poster {sha}", max_side=spec.preprocessing.decode_max_side)
            pixels.append(spec.preprocessing.prepare_pixels(ImageOps.mirror(image)))
            ok.append(sha)
        except (PosterDecodeError, OSError, ValueError) as exc:
            failures[sha] = str(exc)
    return ok, (np.stack(pixels) if pixels else None), failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=os.environ.get("POSTERGENRE_HOME"))
    ap.add_argument("--limit", type=int, default=0, help="embed at most this many (0 = all)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    spec = get_backbone(None)
    db = args.home / "catalog.sqlite"
    with Catalog(db) as catalog:
        shas = selected_posters(catalog)
    store = PosterStore(args.home / "posters")
    key = mirror_key()
    runtime = load_runtime(spec, "auto", cache_dir=args.home / "runtimes")
    if (runtime.vector_key[0] + MIRROR_SUFFIX, runtime.vector_key[1]) != key:
        raise SystemExit(f"the default runtime fell back to {runtime.name}; mirrored vectors would not match")
    start, done = time.perf_counter(), 0
    with EmbeddingCache(db, *key) as cache:
        todo = cache.missing(shas)
        todo = todo[:args.limit] if args.limit else todo
        batches = [todo[i:i + BATCH] for i in range(0, len(todo), BATCH)]

        def process(batch: list[str]):
            ok, pixels, failures = _mirrored_pixels(store, spec, batch)
            vectors = runtime.embed_pixels(spec.preprocessing.normalize(pixels)) if pixels is not None else []
            return dict(zip(ok, vectors)), failures

        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            for i in range(0, len(batches), COMMIT_EVERY):
                vectors, failures = {}, {}
                for v, f in pool.map(process, batches[i:i + COMMIT_EVERY]):
                    vectors.update(v)
                    failures.update(f)
                cache.record(vectors, failures)
                done += len(vectors)
                print(f"mirrored {done}/{len(todo)} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    rate = done / max(seconds, 1e-9)
    print(f"mirrored posters embedded: {done} in {seconds:.0f} s ({rate:.0f}/s), key {'/'.join(key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
