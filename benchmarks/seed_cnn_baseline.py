"""The predecessor's CNN as a measured baseline: k-fold CV on a deterministic stratified subset of posters.

Usage (CPU, a small subset):
    python benchmarks/seed_cnn_baseline.py --csv /work/shared/data/movies.csv --limit 150 --folds 5 \\
        --device cpu --json out/seed_cnn.json
On a GPU machine given only the repo, a posters folder and the CSV:
    python benchmarks/seed_cnn_baseline.py --csv movies.csv --posters-root posters/ --device cuda --json seed.json

Selection rule (documented in the JSON too):
1. genres: those with at least --min-examples (100) movies in the whole CSV (the issue's evaluation genres);
2. movies: rows with at least one of those genres whose poster exists and decodes; rows whose poster file is
   byte-identical (same sha256) to an earlier row's are dropped, so no poster can be on both sides of a split;
3. subset: when --limit N is below the eligible count, N movies are picked by iterative stratification
   (MultilabelStratifiedShuffleSplit, random_state=--seed) on those genre labels, so the subset keeps the
   genre proportions (the few rows it lands off N are trimmed or topped up at random with the same seed);
   genres with no positive in the subset are dropped from scoring;
4. folds: MultilabelStratifiedKFold(--folds, shuffle=True, random_state=--seed); thresholds are chosen per
   genre on the out-of-fold predictions (max F1), then `evaluate_predictions` scores the same predictions.
   That threshold choice is tuned on the scored folds, as for every model in the quality table's CV; the
   ROC AUCs do not depend on thresholds.

Imports are limited to numpy, torch, PIL, iterstrat, scikit-learn and postergenre itself.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold, MultilabelStratifiedShuffleSplit

from postergenre.errors import PosterDecodeError
from postergenre.labelled.metrics import HEADLINE, evaluate_predictions
from postergenre.training.seed_cnn import load_pixels, predict_seed_cnn, train_seed_cnn
from postergenre.model.thresholds import choose_thresholds
from results_file import write_result  # benchmarks/ sibling (run as a script)


def _poster_path(root: Path, rel: str) -> Path:
    """The CSV's `poster` column is relative to the CSV folder ('posters/tt….jpg'); a bare posters folder works too."""
    p = Path(rel)
    if p.is_absolute():
        return p
    for candidate in (root / p, root / p.name):
        if candidate.is_file():
            return candidate
    return root / p


def select(rows: list[dict], root: Path, min_examples: int, limit: int, seed: int,
           folds: int) -> tuple[list[dict], list[Path], np.ndarray, list[str], dict]:
    """Apply the selection rule in the module docstring; returns rows, poster paths, labels, genres, notes."""
    counts = Counter(g for r in rows for g in r["genres"].split("|") if g)
    genres = sorted((g for g, c in counts.items() if c >= min_examples), key=lambda g: (-counts[g], g))
    kept, paths, seen, skipped = [], [], set(), Counter()
    for r in rows:
        if not any(g in genres for g in r["genres"].split("|")):
            skipped["no evaluated genre"] += 1
            continue
        path = _poster_path(root, r["poster"])
        if not path.is_file():
            skipped["poster missing"] += 1
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest in seen:
            skipped["duplicate poster"] += 1
            continue
        seen.add(digest)
        kept.append(r)
        paths.append(path)
    Y = np.array([[int(g in r["genres"].split("|")) for g in genres] for r in kept], dtype=np.int8)
    if 0 < limit < len(kept):
        splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=limit, random_state=seed)
        _, chosen = next(splitter.split(np.zeros(len(kept)), Y))
        # Iterative stratification lands a few rows off the requested size; trim or top up at random.
        rng = np.random.default_rng(seed)
        rest = np.setdiff1d(np.arange(len(kept)), chosen)
        chosen = np.sort(np.concatenate([rng.permutation(chosen)[:limit],
                                         rng.permutation(rest)[: max(0, limit - len(chosen))]]))
        kept, paths, Y = [kept[i] for i in chosen], [paths[i] for i in chosen], Y[chosen]
    present = Y.sum(axis=0) > 0
    dropped = [g for g, ok in zip(genres, present) if not ok]
    genres, Y = [g for g, ok in zip(genres, present) if ok], Y[:, present]
    if len(kept) < folds:
        sys.exit(f"only {len(kept)} eligible movies: cannot make {folds} folds")
    notes = {"eligible_skipped": dict(skipped), "genres_without_positives_in_subset": dropped,
             "genre_counts_full_csv": {g: counts[g] for g in genres}}
    return kept, paths, Y, genres, notes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, required=True, help="movies.csv (imdb_id,title,year,genres,poster)")
    ap.add_argument("--posters-root", type=Path, default=None, help="folder the poster column is relative to "
                    "(default: the CSV's folder); a flat folder of <id>.jpg files also works")
    ap.add_argument("--limit", type=int, default=0, help="number of movies (0 = all eligible)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-examples", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    root = args.posters_root or args.csv.parent
    t_start = time.perf_counter()

    with open(args.csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kept, paths, Y, genres, notes = select(rows, root, args.min_examples, args.limit, args.seed, args.folds)
    print(f"{len(kept)} movies, {len(genres)} genres (>= {args.min_examples} examples in {len(rows)} rows)",
          flush=True)
    t0 = time.perf_counter()
    try:
        pixels = load_pixels(paths)
    except PosterDecodeError as exc:
        sys.exit(f"cannot decode a poster: {exc}")
    load_s = time.perf_counter() - t0
    print(f"loaded {len(paths)} posters in {load_s:.1f}s", flush=True)

    splitter = MultilabelStratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    train_s = predict_s = 0.0
    train_images = 0
    fold_losses = []
    for k, (tr, te) in enumerate(splitter.split(np.zeros(len(Y)), Y)):
        t0 = time.perf_counter()
        model = train_seed_cnn(pixels[tr], Y[tr], epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                               seed=args.seed + k, device=args.device,
                               log=lambda m, k=k: print(f"  fold {k + 1}: {m}", flush=True))
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        train_s += time.perf_counter() - t0
        train_images += len(tr) * args.epochs
        t0 = time.perf_counter()
        oof[te] = predict_seed_cnn(model, pixels[te], args.device)
        predict_s += time.perf_counter() - t0
        fold_losses.append(model.epoch_losses)
        print(f"fold {k + 1}/{args.folds} done ({train_s + predict_s:.0f}s so far)", flush=True)

    thresholds = choose_thresholds(Y, oof)
    result = evaluate_predictions(Y, oof, thresholds, genres, bootstrap=args.bootstrap, seed=args.seed)
    train_rate = train_images / train_s
    predict_rate = len(Y) / predict_s
    # Seconds per poster of a full CV run: (folds-1) training passes per epoch plus one prediction.
    per_poster = (args.folds - 1) * args.epochs / train_rate + 1 / predict_rate
    speed = {
        "device": args.device, "torch_threads": torch.get_num_threads(),
        "train_images_per_s": train_rate, "predict_images_per_s": predict_rate,
        "load_images_per_s": len(paths) / load_s, "train_s": train_s, "predict_s": predict_s,
        "total_s": time.perf_counter() - t_start,
        "cv_posters_in_600s": int(600 / per_poster),
    }

    print(f"\nseed-cnn {args.folds}-fold CV on {len(Y)} posters, {len(genres)} genres ({args.device})")
    print(f"{'metric':<12} {'model':>7} {'95% CI':>17} {'prior':>7}")
    for name in HEADLINE:
        h = result["headline"][name]
        ci = f"{h['ci_low']:.3f}-{h['ci_high']:.3f}" if h["ci_low"] is not None else "-"
        val = "-" if h["value"] is None else f"{h['value']:.3f}"
        print(f"{name:<12} {val:>7} {ci:>17} {h['prior']:>7.3f}")
    print(f"training {train_rate:.1f} images/s, prediction {predict_rate:.1f} images/s; a full "
          f"{args.folds}-fold x {args.epochs}-epoch CV fits ~{speed['cv_posters_in_600s']} posters in 10 minutes")

    if args.json:
        out = {
            "benchmark": "seed_cnn_baseline",
            "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
            "selection_rule": __doc__.split("Selection rule")[1].split("Imports")[0].strip(),
            "n_movies": len(Y), "genres": genres, "imdb_ids": [r["imdb_id"] for r in kept],
            "selection": notes, "speed": speed, "epoch_losses_per_fold": fold_losses,
            "metrics": result,
            "versions": {"python": platform.python_version(), "torch": torch.__version__,
                         "numpy": np.__version__,
                         "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None},
        }
        write_result(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
