"""Does fine-tuning the backbone earn its place in the bundled model? Issue 21's decision, measured.

Protocol (5-fold CV of a fine-tune is too slow on 2 cores): one fixed, stratified 80/20 split of the general
films over poster groups (training.split.holdout, seed 0). The backbone is fine-tuned on the 80% only
(benchmarks/finetune.py, the measured recipe, capped by --budget-minutes); then, for each poster vector source —
frozen int8 (what ships today, read from the embedding cache), frozen fp32 and fine-tuned fp32 (both through an
exported ONNX graph at the prediction size 224x320) — the project's default head (logreg, l2=0.003, full
feature vector) is fitted on the same 80% and read on the 20%, and the studio extensions are fitted and measured
by 5-fold CV on the studio films exactly as `train` does (domain correction on the head's out-of-fold
predictions on the 80%, synopsis head, fusion). Studio films are never in the fine-tuning set, so their CV is
as honest for the fine-tuned backbone as for the frozen one.

Decision: ship when fine-tuned beats frozen fp32 by >= 0.005 macro ROC AUC on the general 20% AND on studio
posters (studio CV, domain-aware), with the fused reading not worse. Prints a table; writes
benchmarks/results/finetune_gain.json.

    nice python benchmarks/finetune_gain.py [--home DIR] [--budget-minutes 25] [--epochs 1] [--work DIR]
        [--backbone-lr 1e-4] [--train-size-too]
Results kept: finetune_gain.json (the recipe, with --train-size-too), finetune_gain_lr3e-5.json (--backbone-lr 3e-5).
Needs a home with both catalogs imported, posters attached and embedded (`make catalog`, `postergenre embed`).
The fine-tuned weights and the vectors go to --work (default <home>/finetune-bench), never into the repository.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from finetune import FineTuneOptions, FineTuner, load_fine_tuned  # noqa: E402
from results_file import write_result  # noqa: E402

from postergenre.catalog.store import Catalog  # noqa: E402
from postergenre.config import get_paths  # noqa: E402
from postergenre.features.onnx_export import export_onnx  # noqa: E402
from postergenre.features.registry import get_backbone  # noqa: E402
from postergenre.features.runtime import OPSET, OnnxRuntime  # noqa: E402
from postergenre.labelled.datasets import subset  # noqa: E402
from postergenre.labelled.metrics import macro_auc, paired_auc_gain  # noqa: E402
from postergenre.labelled.split import holdout, kfold  # noqa: E402
from postergenre.model.layout import ModelParts  # noqa: E402
from postergenre.model.logistic import logit  # noqa: E402
from postergenre.model.thresholds import choose_thresholds  # noqa: E402
from postergenre.posters.images import decode_image  # noqa: E402
from postergenre.posters.store import PosterStore  # noqa: E402
from postergenre.training.options import TrainOptions  # noqa: E402
from postergenre.training.studio import fit_extensions, in_studio  # noqa: E402
from postergenre.training.train import poster_model  # noqa: E402

GAIN_TO_SHIP = 0.005
WATCHED = ("Family", "Adventure", "Comedy", "Animation")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def embed_all(graphs: dict[str, bytes], spec, paths: list[Path], batch: int = 32) -> dict[str, np.ndarray]:
    """fp32 vectors of every poster through each exported graph (decoded once)."""
    runtimes = {name: OnnxRuntime(spec, data, threads=2) for name, data in graphs.items()}
    box = spec.preprocessing
    out = {name: np.empty((len(paths), spec.feature_dim), dtype=np.float32) for name in graphs}
    t0 = time.perf_counter()
    for i in range(0, len(paths), batch):
        pixels = np.stack([box.prepare_pixels(decode_image(p, max_side=box.decode_max_side)) for p in paths[i:i + batch]])
        x = box.normalize(pixels)
        for name, rt in runtimes.items():
            out[name][i:i + len(pixels)] = rt.embed_pixels(x)
        if (i // batch) % 50 == 0:
            log(f"  embedded {i + len(pixels):,}/{len(paths):,} ({time.perf_counter() - t0:.0f} s)")
    return out


def evaluate_source(name: str, ds, X: np.ndarray, general_rows: np.ndarray, tr: np.ndarray, te: np.ndarray,
                    movies, opts: TrainOptions) -> dict:
    """The default head on the 80% read on the 20%, and the studio extensions' CV, on vectors `X` (all rows of ds)."""
    t0 = time.perf_counter()
    cand = opts.candidates()[0]
    sl = ds.feature_slice if X.shape[1] == ds.X.shape[1] else (0, X.shape[1])  # two backbones side by side: all
    Xf = X[:, sl[0]:sl[1]]
    Yg = ds.Y[general_rows]
    head = cand.make().fit(Xf[general_rows[tr]], Yg[tr])
    p_test = head.predict_proba(Xf[general_rows[te]])
    # Out-of-fold predictions on the 80% (the domain correction and the thresholds train on them, as in `train`).
    oof = np.zeros((len(tr), Yg.shape[1]))
    for ftr, fte in kfold(Yg[tr], ds.groups[general_rows[tr]], opts.folds, opts.seed):
        oof[fte] = cand.make().fit(Xf[general_rows[tr][ftr]], Yg[tr][ftr]).predict_proba(Xf[general_rows[tr][fte]])
    keep = np.concatenate([general_rows[tr], np.flatnonzero(in_studio(ds))])
    ds_src = subset(replace(ds, X=X, feature_slice=sl), keep)
    thresholds = choose_thresholds(Yg[tr], oof)
    general = poster_model(ds_src, ModelParts(head, (int(sl[0]), int(sl[1]))), thresholds, compact=False)
    fit = fit_extensions(ds_src, movies, general, labels=Yg[tr], oof=oof, poster_thresholds=thresholds, opts=opts)
    m = fit.metrics
    genres = ds.genres
    per = {g: a for g, a in zip(genres, [macro_auc(Yg[te][:, [j]], logit(p_test[:, [j]])) for j in range(len(genres))])}
    out = {
        "general_holdout_macro_auc": macro_auc(Yg[te], logit(p_test)),
        "general_holdout_per_genre": per,
        "general_oof_80_macro_auc": macro_auc(Yg[tr], logit(oof)),
        "studio_poster_general_head": m["studio_poster_general"]["headline"]["macro_auc"]["value"],
        "studio_poster": m["studio_poster"]["headline"]["macro_auc"]["value"],
        "studio_poster_family": m["studio_poster"]["family_auc"],
        "studio_fused": m["studio_fused"]["headline"]["macro_auc"]["value"],
        "studio_fused_family": m["studio_fused"]["family_auc"],
        "studio_poster_per_genre": {p["genre"]: p["roc_auc"] for p in m["studio_poster"]["per_genre"]},
        "seconds": round(time.perf_counter() - t0, 1),
        "_p_test": p_test, "_studio_oof": fit.extensions.oof["poster"],
    }
    log(f"{name}: general 20% {out['general_holdout_macro_auc']:.4f}, studio poster {out['studio_poster']:.4f} "
        f"(Family {out['studio_poster_family']:.4f}), fused {out['studio_fused']:.4f} ({out['seconds']} s)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--home", type=Path, default=None)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--budget-minutes", type=float, default=25.0)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--backbone-lr", type=float, default=FineTuneOptions.backbone_lr)
    ap.add_argument("--train-size-too", action="store_true",
                    help="also read the fine-tuned network at its training size, alone and beside today's vectors")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "finetune_gain.json")
    args = ap.parse_args()
    paths = get_paths(args.home)
    work = args.work or paths.home / "finetune-bench"
    opts = TrainOptions()
    catalog = Catalog(paths.db)
    movies = catalog.movies()
    ds = opts.dataset(catalog)
    store = PosterStore(paths.posters)
    general_rows = np.flatnonzero(~in_studio(ds))
    Yg = ds.Y[general_rows]
    tr, te = holdout(Yg, ds.groups[general_rows], args.holdout, opts.seed)
    log(f"{len(general_rows):,} general films: {len(tr):,} fine-tune/train, {len(te):,} held out; "
        f"{int(in_studio(ds).sum()):,} studio films with a poster")

    # 0. Today's vectors first (a broken evaluation shows before the long fine-tune).
    results = {"frozen_int8": evaluate_source("frozen_int8", ds, ds.X, general_rows, tr, te, movies, opts)}

    # 1. Fine-tune on the 80% (resumes from a checkpoint in `work`; reuses a finished run).
    ft_dir = work / "backbone"
    fingerprint = subset(ds, general_rows[tr]).fingerprint()["sha256"]
    if not (ft_dir / "finetune.json").is_file():
        cand = opts.candidates()[0]
        init = cand.make().fit(ds.X[general_rows[tr]], Yg[tr]).to_tensors()
        FineTuner(get_backbone(ds.backbone),
                  FineTuneOptions(epochs=args.epochs, budget_minutes=args.budget_minutes, backbone_lr=args.backbone_lr)).fit(
            [store.path(ds.shas[i]) for i in general_rows[tr]], Yg[tr], init, ft_dir, data_fingerprint=fingerprint,
            log=log, progress=lambda p: log(f"  {p.task} {p.done}/{p.total} {p.detail}") if p.done % 25 == 0 else None)
    spec, ft_net, ft_report = load_fine_tuned(ft_dir)
    if ft_report["data_fingerprint"] != fingerprint:  # tuned on another split (or catalog): it may have seen the 20%
        sys.exit(f"{ft_dir} was tuned on other films than this split's {len(tr):,}: delete it or pass another --work")
    if (ft_report["options"]["epochs"], ft_report["options"]["budget_minutes"]) != (args.epochs, args.budget_minutes):
        log(f"note: reusing {ft_dir}, tuned with --epochs {ft_report['options']['epochs']} "
            f"--budget-minutes {ft_report['options']['budget_minutes']}, not this run's")

    # 2. fp32 vectors of every poster in ds: frozen and fine-tuned (cached in `work`).
    vec_file = work / f"vectors-{ft_report['weights_sha256'][:12]}.npz"
    if vec_file.is_file():
        saved = np.load(vec_file)
        vectors = {k: saved[k] for k in saved.files}
    else:
        graphs = {"frozen_fp32": export_onnx(spec, None, OPSET), "fine_tuned_fp32": export_onnx(spec, ft_net, OPSET)}
        t0 = time.perf_counter()
        vectors = embed_all(graphs, spec, [store.path(s) for s in ds.shas])
        log(f"embedded {len(ds.shas):,} posters twice in {time.perf_counter() - t0:.0f} s")
        np.savez(vec_file, **vectors)

    # 2b. The fine-tuned network at the size it was trained at, and beside today's vectors (two backbones per
    # poster: one head over both vectors), the "rank-averaged with the bundled model" lever.
    if args.train_size_too:
        small = replace(spec, preprocessing=replace(spec.preprocessing, width=ft_report["options"]["width"],
                                                    height=ft_report["options"]["height"]))
        small_file = work / f"vectors-small-{ft_report['weights_sha256'][:12]}.npy"
        if small_file.is_file():
            small_vectors = np.load(small_file)
        else:
            small_vectors = embed_all({"ft": export_onnx(small, ft_net, OPSET)}, small, [store.path(s) for s in ds.shas])["ft"]
            np.save(small_file, small_vectors)
        vectors["fine_tuned_fp32_train_size"] = small_vectors
        vectors["frozen_int8_plus_fine_tuned_train_size"] = np.concatenate([ds.X, small_vectors], axis=1)

    # 3. The same head and studio extensions on each source.
    results |= {name: evaluate_source(name, ds, X, general_rows, tr, te, movies, opts) for name, X in vectors.items()}
    base, new = results["frozen_fp32"], results["fine_tuned_fp32"]
    gain_general = paired_auc_gain(Yg[te], base["_p_test"], new["_p_test"], ds.genres, seed=opts.seed)
    studio_rows = np.flatnonzero(in_studio(ds))
    gains = {k: new[k] - base[k] for k in ("general_holdout_macro_auc", "studio_poster", "studio_fused",
                                           "studio_poster_family", "studio_fused_family")}
    ship = (gains["general_holdout_macro_auc"] >= GAIN_TO_SHIP and gains["studio_poster"] >= GAIN_TO_SHIP
            and gains["studio_fused"] >= 0)
    print(f"{'vectors':<40}{'general 20%':>13}{'studio poster':>15}{'(Family)':>10}{'studio fused':>14}{'(Family)':>10}")
    for name, r in results.items():
        print(f"{name:<40}{r['general_holdout_macro_auc']:>13.4f}{r['studio_poster']:>15.4f}"
              f"{r['studio_poster_family']:>10.4f}{r['studio_fused']:>14.4f}{r['studio_fused_family']:>10.4f}")
    print(f"{'gain (ft - fp32)':<40}{gains['general_holdout_macro_auc']:>+13.4f}{gains['studio_poster']:>+15.4f}"
          f"{gains['studio_poster_family']:>+10.4f}{gains['studio_fused']:>+14.4f}{gains['studio_fused_family']:>+10.4f}")
    print(f"general gain {gain_general['macro_gain']:+.4f}, 95% paired-bootstrap CI "
          f"{gain_general['ci_low']:+.4f} to {gain_general['ci_high']:+.4f}")
    print(f"decision: {'SHIP' if ship else 'do not ship'} (needs >= {GAIN_TO_SHIP} on general 20% and studio poster, "
          "fused not worse)")
    write_result(args.out, {
        "protocol": __doc__.split("\n\n")[1].replace("\n", " "),
        "split": {"general_train": int(len(tr)), "general_holdout": int(len(te)), "studio_films_with_poster": int(len(studio_rows)),
                  "seed": opts.seed, "fraction": args.holdout},
        "fine_tune": ft_report,
        "results": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in results.items()},
        "gains_fine_tuned_over_frozen_fp32": gains, "general_gain_bootstrap": gain_general,
        "watched_genres_general_holdout": {g: {k: results[k]["general_holdout_per_genre"].get(g) for k in results} for g in WATCHED},
        "ship": ship, "gain_to_ship": GAIN_TO_SHIP,
    })


if __name__ == "__main__":
    main()
