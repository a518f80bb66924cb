"""The shipped recipe (two views of every general poster) against the bundled recipe it replaces (one view of the
18,000 original general posters), on the same folds, with paired-bootstrap intervals of the gain.

    nice python benchmarks/quality_views.py --home DATA [--work SCRATCH]

DATA holds the general catalog and the studio export with both posters folders attached and embedded with both views
(`postergenre embed --views poster,mirror`). SCRATCH (outside the repository; default DATA/scratch) keeps each recipe's per-film
out-of-fold arrays, so a rerun reprints without refitting: they are derived poster by poster and never committed.

Both recipes run through the product's own training (`training.train.train`):
- shipped: `TrainOptions()` (views poster,mirror) on every general film + the studio films;
- bundled before: `TrainOptions(views="poster")` on the 18,000 original general films + the studio films.
The shared data does not record which 5,000 of its 23,000 general films were added in December 2026 (its README only
says the 18,000 are still there; the files carry one timestamp and sorted inode order), so the original 18,000 are
drawn at random (numpy seed 0) from movies.csv: the additions look like a random sample (their genre shares are
within 1.5 points of the old model's fingerprint, about two standard errors of 5,000 films), and the draw's genre
counts are recorded beside each recipe's data fingerprint in the result.

General 5-fold CV: the shipped recipe's folds (`train`'s iterative-stratified folds over every general film, seed 0);
the bundled recipe's head is scored on the same test films, fitted on each fold's training films among the 18,000 (the
product's `FoldRunner`, 5 more fits). Studio 5-fold CV: both trainings' own out-of-fold arrays on the studio's films,
folds `studio_folds(Y, groups, 5, 0)` as in benchmarks/quality_studio.py: the poster signal (domain-aware), the
synopsis alone and poster + synopsis (the fusion cross-fitted). Gains: `labelled.metrics.paired_auc_gain`, 1,000
paired resamples of films, seed 0, macro and Family. Writes benchmarks/results/quality_views.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from postergenre.catalog.store import Catalog  # noqa: E402
from postergenre.labelled.datasets import subset  # noqa: E402
from postergenre.labelled.metrics import evaluate_predictions, paired_auc_gain, roc_auc_weighted  # noqa: E402
from postergenre.labelled.split import kfold  # noqa: E402
from postergenre.model.artifact import ModelArtifact  # noqa: E402
from postergenre.model.thresholds import choose_thresholds  # noqa: E402
from postergenre.training.options import TrainOptions  # noqa: E402
from postergenre.training.search import FoldRunner  # noqa: E402
from postergenre.training.studio import in_studio  # noqa: E402
from postergenre.training.train import train  # noqa: E402
from results_file import write_result  # noqa: E402

SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared" / "data"))
RESULT = ROOT / "benchmarks" / "results" / "quality_views.json"
OLD_COUNT, OLD_SEED, RESAMPLES = 18_000, 0, 1000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def original_ids() -> set[str]:
    """The 18,000 general films taken for the original set (see the module docstring)."""
    with open(SHARED / "movies.csv", newline="", encoding="utf-8") as f:
        ids = sorted(row["imdb_id"] for row in csv.DictReader(f))
    chosen = np.random.default_rng(OLD_SEED).choice(len(ids), size=OLD_COUNT, replace=False)
    return {ids[i] for i in chosen}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_recipe(name: str, opts: TrainOptions, home: Path, keep: set[str] | None) -> tuple[dict, object]:
    """One training as `postergenre train` runs it (on the films `keep` when given, studio films always) -> (its
    out-of-fold arrays and times, its result)."""
    with Catalog(home / "catalog.sqlite") as catalog:
        ds = opts.dataset(catalog)
        movies = catalog.movies()
    studio = in_studio(ds)
    if keep is not None:
        ds = subset(ds, np.flatnonzero(studio | np.array([i in keep for i in ds.ids])))
    log(f"{name}: {len(ds.ids):,} films ({int(in_studio(ds).sum())} studio), views {','.join(ds.views)}")
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = train(ds, opts, log, movies=movies)
    times = {"train_wall_seconds": round(time.perf_counter() - wall, 1),
             "train_cpu_seconds": round(cpu_seconds() - cpu, 1)}
    ext = result.studio.extensions
    arrays = {"general_ids": np.array(ds.ids)[~in_studio(ds)], "general_oof": result.nested.oof.astype(np.float64),
              "general_Y": result.labels, **{f"studio_{k}": v for k, v in ext.oof.items()}}
    return {"arrays": arrays, "times": times, "genres": ds.genres, "artifact": result.artifact}, result


def old_head_on_shipped_folds(opts: TrainOptions, home: Path, keep: set[str]) -> tuple[np.ndarray, np.ndarray, list]:
    """The bundled recipe's head (one view) scored on the shipped recipe's general folds: each fold's head fitted on
    its training films among the original 18,000 -> (out-of-fold probabilities, labels, ids) of every general film."""
    with Catalog(home / "catalog.sqlite") as catalog:
        ds = TrainOptions(views="poster").dataset(catalog)
    general = subset(ds, np.flatnonzero(~in_studio(ds)))
    folds = kfold(general.Y, general.groups, opts.folds, opts.seed)
    original = np.array([i in keep for i in general.ids])
    runner = FoldRunner(general.features, general.Y)
    oof = np.full(general.Y.shape, np.nan)
    cand = opts.candidates()[0]
    for k, (tr, te) in enumerate(folds):
        oof[te] = runner.fold(cand, tr[original[tr]], te, f"fold {k + 1}/{len(folds)} (original films only)")
        log(f"bundled recipe's head on the shipped folds: fold {k + 1}/{len(folds)}")
    return oof, general.Y, general.ids


def line(Y: np.ndarray, P: np.ndarray, genres: list[str]) -> dict:
    """Macro ROC AUC with its 95% bootstrap interval, and Family's ROC AUC."""
    ev = evaluate_predictions(Y, P, choose_thresholds(Y, P), genres, bootstrap=200, seed=0, auc_bootstrap=RESAMPLES)
    h = ev["headline"]["macro_auc"]
    return {"n": int(len(Y)), "macro_auc": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "family_auc": float(roc_auc_weighted(Y[:, genres.index("Family")], P[:, genres.index("Family")]))}


def gain(Y: np.ndarray, before: np.ndarray, after: np.ndarray, genres: list[str]) -> dict:
    g = paired_auc_gain(Y, before, after, genres, resamples=RESAMPLES, seed=0)
    fam = next(p for p in g["per_genre"] if p["genre"] == "Family")
    return {"macro_gain": g["macro_gain"], "ci_low": g["ci_low"], "ci_high": g["ci_high"],
            "family_gain": fam["gain"], "family_ci": [fam["ci_low"], fam["ci_high"]], "wins": bool(g["ci_low"] > 0)}


def compare(shipped: dict, old: dict, old_general: tuple, Ys: np.ndarray, genres: list[str]) -> tuple[dict, dict]:
    """(AUC lines of each recipe, paired gains) on general CV and each studio signal."""
    a, b = shipped["arrays"], old["arrays"]
    oof_old, Y_old, ids_old = old_general
    assert list(ids_old) == list(a["general_ids"]) and np.array_equal(Y_old, a["general_Y"])
    rows, gains = {}, {}
    rows["general_cv"] = {"shipped": line(a["general_Y"], a["general_oof"], genres),
                          "bundled_before": line(Y_old, oof_old, genres)}
    gains["general_cv"] = gain(a["general_Y"], oof_old, a["general_oof"], genres)
    for signal in ("poster", "synopsis", "fused"):
        before, after = b[f"studio_{signal}"], a[f"studio_{signal}"]
        films = np.isfinite(after).all(1) & np.isfinite(before).all(1)
        rows[f"studio_{signal}"] = {"shipped": line(Ys[films], after[films], genres),
                                    "bundled_before": line(Ys[films], before[films], genres)}
        gains[f"studio_{signal}"] = gain(Ys[films], before[films], after[films], genres)
    return rows, gains


def studio_labels(home: Path, genres: list[str]) -> np.ndarray:
    """The studio films' labels, in the order the studio stage reads them (`training.studio.studio_films`)."""
    from postergenre.labelled.labels import label_matrix
    from postergenre.training.studio import studio_films

    with Catalog(home / "catalog.sqlite") as catalog:
        films = studio_films(list(catalog.movies()), genres)
    return label_matrix((m.genres for m in films), genres)


def print_table(rows: dict, gains: dict) -> None:
    print(f"\n{'':22s} {'bundled before (18,000, one view)':>36s} {'shipped (23,000, two views)':>36s}  "
          f"{'gain [95% paired CI]':>26s}  {'Family gain [95% CI]':>26s}")
    for name, r in rows.items():
        b, s, g = r["bundled_before"], r["shipped"], gains[name]
        cell = lambda x: (f"{x['macro_auc']:.4f} [{x['ci_low']:.3f}, {x['ci_high']:.3f}]"  # noqa: E731
                          f" F {x['family_auc']:.3f}")
        print(f"{name:22s} {cell(b):>36s} {cell(s):>36s}  {g['macro_gain']:+.4f} [{g['ci_low']:+.4f}, "
              f"{g['ci_high']:+.4f}]  {g['family_gain']:+.4f} [{g['family_ci'][0]:+.4f}, {g['family_ci'][1]:+.4f}]")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=os.environ.get("POSTERGENRE_HOME"))
    ap.add_argument("--work", type=Path, help="scratch folder for the per-film arrays (default HOME/scratch)")
    args = ap.parse_args()
    work = args.work or args.home / "scratch"
    work.mkdir(parents=True, exist_ok=True)
    load_before = list(os.getloadavg())
    keep = original_ids()
    recipes = {}
    for name, opts, chosen in (("shipped", TrainOptions(), None),
                               ("bundled_before", TrainOptions(views="poster"), keep)):
        cached = work / f"quality_views-{name}.npz"
        if not cached.is_file():
            recipe, _ = run_recipe(name, opts, args.home, chosen)
            fingerprint = recipe.pop("artifact").data_fingerprint
            np.savez(cached, **recipe["arrays"], _wall=recipe["times"]["train_wall_seconds"],
                     _cpu=recipe["times"]["train_cpu_seconds"], _genres=np.array(recipe["genres"]),
                     _fingerprint=np.array(json.dumps(fingerprint)))
        saved = dict(np.load(cached, allow_pickle=False))
        recipes[name] = {"arrays": {k: v for k, v in saved.items() if not k.startswith("_")},
                         "times": {"train_wall_seconds": float(saved["_wall"]),
                                   "train_cpu_seconds": float(saved["_cpu"])},
                         "genres": [str(g) for g in saved["_genres"]],
                         "fingerprint": json.loads(str(saved["_fingerprint"]))}
    genres = recipes["shipped"]["genres"]
    assert recipes["bundled_before"]["genres"] == genres, "the two recipes keep other genres"
    cached = work / "quality_views-old-head-on-shipped-folds.npz"
    if not cached.is_file():
        oof, Y, ids = old_head_on_shipped_folds(TrainOptions(views="poster"), args.home, keep)
        np.savez(cached, oof=oof, Y=Y, ids=np.array(ids))
    saved = dict(np.load(cached, allow_pickle=False))
    old_general = (saved["oof"], saved["Y"], [str(i) for i in saved["ids"]])
    rows, gains = compare(recipes["shipped"], recipes["bundled_before"], old_general,
                          studio_labels(args.home, genres), genres)
    print_table(rows, gains)
    times = {name: r["times"] for name, r in recipes.items()}
    print(f"\ntrain (the product's `train`, studio stage included): " + ", ".join(
        f"{n} {t['train_wall_seconds']:.0f} s wall, {t['train_cpu_seconds']:.0f} s CPU" for n, t in times.items())
        + f"; load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}")
    bundled = ModelArtifact.load(ROOT / "src/postergenre/models/default").metadata()
    write_result(RESULT, {
        "command": "benchmarks/quality_views.py " + " ".join(sys.argv[1:]), "rows": rows, "gains": gains,
        "times": times, "load_average_before": load_before, "load_average_after": list(os.getloadavg()),
        "original_films": {"how": f"numpy default_rng({OLD_SEED}).choice of {OLD_COUNT:,} of movies.csv's sorted ids "
                                  "(which 5,000 were added is not recorded)"},
        "data": {name: {k: r["fingerprint"].get(k) for k in ("sha256", "movies", "posters", "genre_counts", "vectors",
                                                             "views")} for name, r in recipes.items()},
        "resamples": RESAMPLES, "bundled_model_views": bundled["head_config"].get("views"),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
                     "cpus": os.cpu_count()},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
