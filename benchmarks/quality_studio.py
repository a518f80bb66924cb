"""Studio section of the quality benchmark: 5-fold CV on the studio's G/PG films only.

Compares, on the same folds: the general poster head alone, the domain-aware poster head (studio head stacked
on the general one), the synopsis head alone and poster + synopsis fused; per genre, with bootstrap intervals,
and checks what the domain correction costs general posters (5-fold CV on general films). The head reads the views
the bundled model reads (its head_config["views"]: the poster and its mirror image), trained on every view and read
as the mean of its logits over them, as `train` does (`--views poster` measures the poster alone). Writes
benchmarks/results/quality_studio.json.

Needs a data folder whose catalog holds the general catalog AND the studio export, both with embedded posters:
    POSTERGENRE_HOME=/tmp/studio postergenre catalog import ../shared/data/movies.csv <studio csv>
    POSTERGENRE_HOME=/tmp/studio postergenre posters attach ../shared/data/posters <studio posters>
    POSTERGENRE_HOME=/tmp/studio postergenre embed --views poster,mirror   # the views the bundled model reads
    nice python benchmarks/quality_studio.py --home /tmp/studio [--no-general-cv]
Studio films are the rows of the studio CSV (read here with `csv`; plots contain line breaks).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from postergenre.catalog.genres import normalise_genres  # noqa: E402
from postergenre.catalog.store import Catalog  # noqa: E402
from postergenre.features.cache import ViewCaches  # noqa: E402
from postergenre.features.registry import get_backbone  # noqa: E402
from postergenre.features.runtime import vector_key  # noqa: E402
from postergenre.features.views import parse_views  # noqa: E402
from postergenre.training.search import stack_views  # noqa: E402
from postergenre.training.studio import fit_studio_extensions  # noqa: E402
from postergenre.model.heads import make_head  # noqa: E402
from postergenre.model.views import read_views  # noqa: E402
from postergenre.labelled.split import kfold, poster_groups  # noqa: E402
from results_file import write_result  # noqa: E402
from synopsis_encoders import before_rows, compare_text_heads, print_table  # noqa: E402

SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared" / "data"))
TARGETS = {"poster_macro": 0.79, "poster_family": 0.68, "fused_macro": 0.86, "fused_family": 0.78,
           "fused_micro_f1": 0.60, "general_loss": 0.005, "seconds": 180}


def studio_rows(path: Path, genres: list[str]) -> list[tuple[str, str, np.ndarray]]:
    index = {g: j for j, g in enumerate(genres)}
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            y = np.zeros(len(genres), dtype=np.int8)
            for g in normalise_genres([x for x in (row.get("genres") or "").split(",") if x.strip()]):
                if g in index:
                    y[index[g]] = 1
            if y.any():
                out.append((row["id"].strip(), (row.get("plot") or "").strip(), y))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", default=os.environ.get("POSTERGENRE_HOME"), required=os.environ.get("POSTERGENRE_HOME") is None)
    ap.add_argument("--studio-csv", default=str(SHARED / "studio-catalog" / "imdb_api_export.csv"))
    ap.add_argument("--no-general-cv", action="store_true", help="skip the 5-fold CV on general films (5 more head fits)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "quality_studio.json"))
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--cache", help="npz file for the general head's probabilities (reused when it exists)")
    ap.add_argument("--runtime", default="auto", help="whose cached vectors to evaluate (default: the default runtime's)")
    ap.add_argument("--views", help="views the head reads (default: the bundled model's, e.g. poster,mirror)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    model = json.loads((ROOT / "src/postergenre/models/default/model.json").read_text())
    genres, head_settings = model["genres"], model["head_config"]["settings"]
    start, stop = model["head_config"]["feature_slice"]
    db = Path(args.home) / "catalog.sqlite"

    studio = studio_rows(Path(args.studio_csv), genres)
    studio_ids = {s[0] for s in studio}
    index = {g: j for j, g in enumerate(genres)}
    with Catalog(db) as cat:
        movies = {m.imdb_id: m for m in cat.movies()}
    general = [m for m in movies.values() if m.imdb_id not in studio_ids and m.poster_sha256
               and any(g in index for g in m.genres)]
    sha_of = {i: movies[i].poster_sha256 if i in movies else None for i in studio_ids}
    vectors = vector_key(get_backbone(model["backbone"]), args.runtime)  # what `train` reads by default
    views = parse_views(args.views or model["head_config"].get("views"))
    print(f"vectors: {'/'.join(vectors)}, views {', '.join(views)}", flush=True)
    with ViewCaches(db, vectors, views) as cache:  # [N, views, features]
        Xg = cache.get([m.poster_sha256 for m in general])[:, :, start:stop]
        posters = [s for s in studio if sha_of[s[0]]]
        Xs_p = cache.get([sha_of[s[0]] for s in posters])[:, :, start:stop]
    Yg = np.zeros((len(general), len(genres)), dtype=np.int8)
    for i, m in enumerate(general):
        for g in m.genres:
            if g in index:
                Yg[i, index[g]] = 1
    print(f"{len(general):,} general films with posters; {len(studio):,} studio films, {len(posters)} with a poster, "
          f"{sum(bool(s[1]) for s in studio):,} with a plot", flush=True)

    # General head: fitted once on general films only (what training ships as the poster head).
    has_poster = np.array([bool(sha_of[s[0]]) for s in studio])
    P = np.full((len(studio), len(genres)), 0.5)
    cached = np.load(args.cache) if args.cache and Path(args.cache).is_file() else None
    t0 = time.perf_counter()
    if cached is not None and cached["studio"].shape == (len(Xs_p), len(genres)):
        P[has_poster], t_head = cached["studio"], float(cached["seconds"])
        print(f"general head probabilities from {args.cache} (fit took {t_head:.1f} s)")
    else:
        head = make_head("logreg", dict(head_settings)).fit(*stack_views(Xg, Yg)[:2])
        t_head = time.perf_counter() - t0
        P[has_poster] = read_views(head, Xs_p)
        print(f"general head fit: {t_head:.1f} s", flush=True)
    Ys = np.stack([s[2] for s in studio])
    groups = poster_groups([sha_of[s[0]] or s[0] for s in studio])

    general_oof = None
    if cached is not None and "general_oof" in cached.files and not args.no_general_cv:
        general_oof = (Yg, cached["general_oof"])
    elif not args.no_general_cv:
        t1 = time.perf_counter()
        oof = np.zeros(Yg.shape, dtype=np.float64)
        for k, (tr, te) in enumerate(kfold(Yg, poster_groups([m.poster_sha256 for m in general]), 5, 0)):
            head = make_head("logreg", dict(head_settings)).fit(*stack_views(Xg[tr], Yg[tr])[:2])
            oof[te] = read_views(head, Xg[te])
            print(f"general CV fold {k + 1}/5: {time.perf_counter() - t1:.0f} s", flush=True)
        general_oof = (Yg, oof)
    if args.cache and cached is None:
        extra = {} if general_oof is None else {"general_oof": general_oof[1]}
        np.savez(args.cache, studio=P[has_poster], seconds=t_head, **extra)

    ext = fit_studio_extensions(P, Ys, genres, has_poster=has_poster, plots=[s[1] for s in studio], groups=groups,
                                general_oof=general_oof, poster_thresholds=np.array(model["thresholds"]),
                                bootstrap=args.bootstrap, log=lambda m: print(m, flush=True))
    m = ext.metrics
    seconds = t_head + m["seconds"]

    def h(seg: str, key: str) -> str:
        e = m[seg]["headline"][key]
        return f"{e['value']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"

    print("\n== Studio films (G/PG), 5-fold CV on studio films only ==")
    rows = [("poster, general head only", "studio_poster_general"), ("poster, domain-aware", "studio_poster"),
            ("synopsis alone (all plots)", "studio_synopsis"), ("synopsis alone (poster films)", "studio_synopsis_poster_films"),
            ("poster domain-aware (films with both)", "studio_poster_both_films"), ("poster + synopsis fused", "studio_fused")]
    print(f"{'signal':40s} {'n':>5s} {'macro ROC AUC':>24s} {'Family AUC':>10s} {'micro-F1 (OOF thr.)':>26s}")
    for label, seg in rows:
        fam = m[seg]["family_auc"]
        print(f"{label:40s} {m[seg]['n_movies']:5d} {h(seg, 'macro_auc'):>24s} {fam:10.3f} {h(seg, 'micro_f1'):>26s}")
    print(f"fused micro-F1 with cross-fitted thresholds and fusion: {m['studio_fused']['micro_f1_cross_fitted']:.3f}")
    g = m["domain_gain"]
    print(f"\ndomain-aware minus general-only (same folds, paired bootstrap): macro {g['macro_gain']:+.3f} "
          f"[{g['ci_low']:+.3f}, {g['ci_high']:+.3f}]")
    fg = m["fusion_gain_over_poster"]
    per_f = {p["genre"]: p for p in fg["per_genre"]}
    syn = {p["genre"]: p["roc_auc"] for p in m["studio_synopsis_poster_films"]["per_genre"]}
    print(f"{'genre':12s} {'n':>4s} {'general':>8s} {'domain':>8s} {'gain [95% CI]':>24s} {'synopsis':>9s} {'fused':>7s}")
    for p in g["per_genre"]:
        f = per_f.get(p["genre"])
        print(f"{p['genre']:12s} {p['support']:4d} {p['base_auc']:8.3f} {p['new_auc']:8.3f} "
              f"{p['gain']:+.3f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] {syn.get(p['genre']) or float('nan'):9.3f} "
              f"{(f['new_auc'] if f else float('nan')):7.3f}")
    if "general" in m:
        gm = m["general"]
        print(f"\ngeneral films (5-fold CV): macro AUC {gm['macro_auc_general_head']:.4f} -> "
              f"{gm['macro_auc_with_domain_correction']:.4f} with the studio correction ({gm['change']:+.4f})")
    print(f"\ntime: general head {t_head:.0f} s + studio extensions incl. CV {m['seconds']:.0f} s = {seconds:.0f} s "
          f"(2 threads, shared machine)")

    checks = {
        "poster_macro": (m["studio_poster"]["headline"]["macro_auc"]["value"], ">=", TARGETS["poster_macro"]),
        "poster_family": (m["studio_poster"]["family_auc"], ">=", TARGETS["poster_family"]),
        "fused_macro": (m["studio_fused"]["headline"]["macro_auc"]["value"], ">=", TARGETS["fused_macro"]),
        "fused_family": (m["studio_fused"]["family_auc"], ">=", TARGETS["fused_family"]),
        "fused_micro_f1": (m["studio_fused"]["headline"]["micro_f1"]["value"], ">=", TARGETS["fused_micro_f1"]),
        "seconds": (seconds, "<=", TARGETS["seconds"]),
    }
    if "general" in m:
        checks["general_loss"] = (-m["general"]["change"], "<=", TARGETS["general_loss"])
    print("\ntargets:")
    for name, (value, op, target) in checks.items():
        ok = value >= target if op == ">=" else value <= target
        print(f"  {name:16s} {value:8.3f} {op} {target:<6} {'met' if ok else 'NOT met'}")
    previous = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else None
    print("\n== Each signal on the studio CV's folds: macro and key-genre ROC AUC, expected calibration error ==")
    heads = compare_text_heads(ext, [s[1] or None for s in studio], Ys, genres, np.array(model["thresholds"]),
                               log=lambda msg: print(msg, flush=True))
    before = before_rows(previous)
    print_table(heads, before)
    for name, cal in m["calibration"].items():
        print(f"calibration {name}: ECE {cal['ece']:.4f} over {cal['films']:,} films; predicted/observed by bin: "
              + ", ".join(f"{b['predicted']:.2f}/{b['observed']:.2f}" for b in cal["bins"]))
    result = {"vectors": "/".join(vectors), "views": list(views), "metrics": m, "signals": heads, "before": before,
              "seconds_total": seconds, "seconds_general_head": t_head,
              "targets": {k: {"value": v, "op": op, "target": t, "met": bool(v >= t if op == ">=" else v <= t)}
                          for k, (v, op, t) in checks.items()},
              "fusion": ext.fusion.config(), "domain": ext.domain.config(),
              "synopsis": {k: v for k, v in ext.synopsis.config().items() if k != "analysers"}}
    write_result(Path(args.out), result)


if __name__ == "__main__":
    main()
