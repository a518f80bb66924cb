"""Quality benchmark: 5-fold CV on the shared posters for every backbone x feature set x head tried.

Usage:
    python benchmarks/quality.py --home ~/.local/share/postergenre [--backbone efficientnet-lite0 ...]
        [--seed-cnn-json out/seed_cnn.json | --seed-cnn-limit 1000] [--json benchmarks/results/quality.json]

Every row is an honest estimate: a head with a grid of settings is scored by nested CV (each outer fold
chooses its settings on an inner split of its own training part: 3-fold, or a 25% hold-out with
--inner-folds 1), so no reported number was used to choose the settings that produced it. Thresholds for
the F1 columns are chosen on the row's out-of-fold predictions (the rule the shipped model uses); the
"cross-fitted" F1 columns tune each fold's thresholds on the other folds only, to show that effect.
The prior baseline gives every poster the genre frequencies. Metrics cover genres with >= 100 examples.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from postergenre.config import get_paths
from postergenre.catalog.store import Catalog
from postergenre.labelled.metrics import evaluate_predictions
from postergenre.features.registry import get_backbone
from postergenre.training.search import candidates_for, nested_cv
from postergenre.labelled.split import kfold
from postergenre.model.thresholds import choose_thresholds
from postergenre.labelled.metrics import cross_fitted_f1
from postergenre.labelled.datasets import assemble_dataset
from results_file import write_result  # benchmarks/ sibling (run as a script)

TARGETS = {"macro_auc": 0.76, "micro_f1": 0.43, "macro_f1": 0.31}

# What each head row searches (nested). Kept small: every setting costs a fit per outer fold.
GRIDS: dict[str, dict[str, list]] = {
    "logreg": {"l2": [3e-3, 1e-2]},
    "mlp": {"loss": ["bce", "asl"]},
    "ensemble": {"logreg.l2": [1e-3, 1e-2]},
}


def _row(name: str, Y: np.ndarray, oof: np.ndarray, genres: list[str], folds, bootstrap: int, extra: dict) -> dict:
    thresholds = choose_thresholds(Y, oof)
    res = evaluate_predictions(Y, oof, thresholds, genres, bootstrap=bootstrap, seed=0)
    h = res["headline"]
    return {
        "name": name,
        "macro_auc": h["macro_auc"], "micro_f1": h["micro_f1"], "macro_f1": h["macro_f1"],
        "micro_auc": h["micro_auc"], "samples_f1": h["samples_f1"], "hit_at_1": h["hit_at_1"], "hit_at_3": h["hit_at_3"],
        "cross_fitted": cross_fitted_f1(Y, oof, folds, "f1"),
        "per_genre_auc": {r["genre"]: r["roc_auc"] for r in res["per_genre"]},
        **extra,
    }


def _print_table(rows: list[dict]) -> None:
    head = f"{'option':<58} {'macro AUC':>17} {'micro F1':>17} {'macro F1':>17} {'cf micro/macro F1':>17} {'s':>6}"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        def cell(e: dict) -> str:
            if e.get("value") is None:
                return f"{'-':>17}"
            ci = f"[{e['ci_low']:.3f},{e['ci_high']:.3f}]" if e.get("ci_low") is not None else ""
            return f"{e['value']:.3f}{ci:>12}"
        cf = r.get("cross_fitted") or {}
        cfs = f"{cf['micro_f1']:.3f}/{cf['macro_f1']:.3f}" if cf else "-"
        print(f"{r['name']:<58} {cell(r['macro_auc'])} {cell(r['micro_f1'])} {cell(r['macro_f1'])} {cfs:>17} {r.get('seconds', ''):>6}")
    print("targets: " + ", ".join(f"{k} >= {v}" for k, v in TARGETS.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="data folder with the embedded catalog (default: $POSTERGENRE_HOME)")
    ap.add_argument("--backbone", action="append", help="backbone(s) to test (default: efficientnet-lite0)")
    ap.add_argument("--feature-set", action="append", help="feature set(s) (default: pooled, pooled+stats)")
    ap.add_argument("--head", action="append",
                    help="heads (default: logreg, mlp, mean = average of the nested logreg and mlp predictions, ensemble)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inner-folds", type=int, default=1, help="inner folds of the nested search (1 = a 25%% hold-out)")
    ap.add_argument("--min-examples", type=int, default=100)
    ap.add_argument("--bootstrap", type=int, default=500)
    ap.add_argument("--seed-cnn-json", type=Path, help="results of benchmarks/seed_cnn_baseline.py (or train --head seed-cnn)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "quality.json")
    ap.add_argument("--preview", action="store_true", help="use only the posters embedded so far (not for reporting)")
    ap.add_argument("--append", action="store_true", help="keep the rows already in --json (same options are replaced)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (1 is fastest on a busy machine)")
    args = ap.parse_args()
    args.home = args.home or get_paths().home

    if args.threads:
        torch.set_num_threads(args.threads)
    backbones = args.backbone or ["efficientnet-lite0"]
    feature_sets = args.feature_set or ["pooled", "pooled+stats"]
    heads = args.head or ["logreg", "mlp", "mean", "ensemble"]
    rows: list[dict] = []
    previous: list[dict] = json.loads(args.json.read_text())["rows"] if args.append and args.json.is_file() else []
    t_all = time.perf_counter()
    across: dict[tuple[str, str], dict[str, np.ndarray]] = {}  # (feature set, head) -> backbone -> out-of-fold probs
    ids_of_first: list[str] | None = None
    with Catalog(args.home / "catalog.sqlite") as catalog:
        for backbone in backbones:
            full = assemble_dataset(catalog, backbone=backbone, feature_set="pooled+stats", min_examples=args.min_examples,
                                    skip_unembedded=args.preview)
            for msg in full.messages:
                print(f"note: {msg}")
            Y, groups, genres = full.Y, full.groups, full.genres
            ids_of_first = ids_of_first or full.ids
            if full.ids != ids_of_first:  # the across-backbone mean needs the same movies in the same folds
                raise SystemExit(f"{backbone}: embedded movies differ from {backbones[0]}'s; embed both fully first")
            outer = kfold(Y, groups, args.folds, seed=0)
            print(f"{backbone}: {len(Y):,} movies, {len(genres)} genres, {full.X.shape[1]} cached dims", flush=True)
            data_notes = full.messages
            if args.seed_cnn_json and backbone == backbones[0]:
                seed = json.loads(args.seed_cnn_json.read_text())
                m = seed.get("metrics") or seed.get("cv")
                n = seed.get("n_movies") or seed.get("subset", {}).get("movies")
                h = m["headline"]
                rows.append({"name": f"seed-cnn (pixels, from scratch; {n}-poster stratified subset, {seed.get('args', {}).get('device', 'cpu')})",
                             "macro_auc": h["macro_auc"], "micro_f1": h["micro_f1"], "macro_f1": h["macro_f1"],
                             "micro_auc": h["micro_auc"], "samples_f1": h["samples_f1"], "hit_at_1": h["hit_at_1"],
                             "hit_at_3": h["hit_at_3"], "source": str(args.seed_cnn_json), "subset_movies": n})
            if backbone == backbones[0] and not any(r["name"].startswith("prior") for r in previous):
                prior = np.broadcast_to(Y.mean(axis=0), Y.shape).astype(np.float32)
                # Honest prior: each fold's frequencies come from its training part.
                for tr, te in outer:
                    prior[te] = Y[tr].mean(axis=0)
                rows.insert(0, _row("prior (training-fold genre frequencies)", Y, prior, genres, outer, args.bootstrap, {}))
                _print_table(rows)
            for fs in feature_sets:
                sl = get_backbone(backbone).feature_slice(fs)
                X = np.ascontiguousarray(full.X[:, sl])
                oofs = {}
                for head in heads:
                    if head == "mean":
                        if {"logreg", "mlp"} <= oofs.keys():
                            oof = (oofs["logreg"][0] + oofs["mlp"][0]) / 2
                            rows.append(_row(f"{backbone} {fs} mean of the nested logreg and mlp probabilities", Y, oof, genres, outer,
                                             args.bootstrap, {"backbone": backbone, "feature_set": fs, "head": "mean",
                                                              "seconds": round(oofs["logreg"][1] + oofs["mlp"][1])}))
                            _print_table(rows[-1:])
                        continue
                    cands = candidates_for(head, GRIDS.get(head, {}))
                    t0 = time.perf_counter()
                    print(f"\n{backbone} {fs} {head}: nested {args.folds}-fold CV over {[c.label for c in cands]}", flush=True)
                    nested = nested_cv(cands, X, Y, groups, outer, inner_folds=args.inner_folds, seed=0,
                                       log=lambda s: print("  " + s, flush=True))
                    secs = time.perf_counter() - t0
                    oofs[head] = (nested.oof, secs)
                    across.setdefault((fs, head), {})[backbone] = nested.oof
                    label = f"{backbone} {fs} {head}" + (f" nested over {GRIDS.get(head)}" if len(cands) > 1 else "")
                    rows.append(_row(label, Y, nested.oof, genres, outer, args.bootstrap,
                                     {"backbone": backbone, "feature_set": fs, "head": head, "grid": GRIDS.get(head, {}),
                                      "chosen_per_fold": nested.chosen, "inner_tables": nested.inner_tables,
                                      "seconds": round(secs)}))
                    _print_table(rows[-1:])
        # Averaging the nested out-of-fold probabilities of several backbones is itself honest: no setting
        # is chosen on the outer folds.
        for (fs, head), by_backbone in across.items():
            if len(by_backbone) > 1:
                oof = np.mean(list(by_backbone.values()), axis=0)
                rows.append(_row(f"mean over {'+'.join(b.removeprefix('efficientnet-') for b in by_backbone)} {fs} {head}",
                                 Y, oof, genres, outer, args.bootstrap,
                                 {"backbone": sorted(by_backbone), "feature_set": fs, "head": head}))
                _print_table(rows[-1:])
    names = {r["name"] for r in rows}
    rows = [r for r in previous if r["name"] not in names] + rows
    _print_table(rows)
    out = {
        "benchmark": "quality",
        "home": str(args.home), "preview_on_partial_embeddings": args.preview, "data_notes": data_notes,
        "folds": args.folds, "inner_folds": args.inner_folds, "min_examples": args.min_examples,
        "targets": TARGETS, "rows": rows, "seconds": round(time.perf_counter() - t_all),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
                     "torch_threads": torch.get_num_threads()},
        "method": __doc__.split("Every row")[1].strip(),
    }
    write_result(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
