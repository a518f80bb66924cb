"""Issue 28's levers, each measured against today's recipe on the same folds, with paired-bootstrap intervals.

    S=SCRATCH; nice python benchmarks/quality_levers.py --home DATA --work $S STAGE
    baseline     today's recipe retrained on every general poster + the studio films (cached in SCRATCH)
    vote         look-alike votes: 7 index spaces on general CV, then studio CV (before/after the correction,
                 with/without studio posters in the index)
    vote-studio  a studio-minded vote (studio posters count more), chosen and scored on studio folds
    mirror       the mirrored view: test-time mean of both views, head trained on both, or both
    combined     the two views and the vote together
    synopsis     plots read whole (today) against their first sentence; what the WordLlama wheel ships
    cost         the vote fitted on every training poster: artifact bytes, warm single-poster ms, train seconds

DATA holds the general catalog and the studio export with their posters embedded (the default int8 runtime; see
benchmarks/quality_studio.py); `mirror`, `combined` and `cost` also need benchmarks/mirror_embed.py run on it.
SHARED (environment) points at the shared data when it is not ../shared/data. SCRATCH (outside the
repository) keeps the per-film arrays between stages: they are derived image by image and never committed.

Today's recipe (training/train.py + training/studio.py): the poster head (logreg, l2 3e-3, pooled+allstats) on
the general films only; general 5-fold CV = iterative-stratified folds over poster groups, seed 0 (the folds
`train` uses); studio 5-fold CV = `fit_studio_extensions` on the general head's probabilities (the head never
saw a studio film), folds `studio_folds(Y, groups, 5, 0)`, the same folds as benchmarks/quality_studio.py.
Every lever is scored on those folds; its gain over the baseline is `labelled.metrics.paired_auc_gain`
(500 paired resamples of films, seed 0). Each stage prints its numbers and writes
benchmarks/results/levers_<stage>.json with the data fingerprint.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from postergenre.catalog.store import Catalog  # noqa: E402
from postergenre.features.cache import EmbeddingCache  # noqa: E402
from postergenre.labelled.datasets import assemble_dataset, subset  # noqa: E402
from postergenre.labelled.labels import label_matrix  # noqa: E402
from postergenre.labelled.metrics import (evaluate_predictions, macro_auc, paired_auc_gain,  # noqa: E402
                                          roc_auc_weighted)
from postergenre.labelled.split import kfold, poster_groups  # noqa: E402
from postergenre.model.head_forward import probabilities as head_probabilities  # noqa: E402
from postergenre.model.thresholds import choose_thresholds  # noqa: E402
from postergenre.training.studio import (_folds_of, cross_fitted_fusion, fit_studio_extensions, in_studio,  # noqa: E402
                                         studio_films, studio_folds)
from results_file import write_result  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
HEAD_SETTINGS = {"l2": 3e-3}  # model.head_types.DEFAULT_SETTINGS["logreg"]: today's recipe
FOLDS, SEED, RESAMPLES = 5, 0, 500
SHARED = Path(os.environ.get("SHARED", ROOT.parent / "shared" / "data"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------- data
@dataclass
class Data:
    genres: list[str]
    Xg: np.ndarray  # general films' head features [Ng, 2848]
    Yg: np.ndarray
    shas_g: list[str]
    gfold: np.ndarray  # general CV fold of each general film
    Xs: np.ndarray  # studio films' head features, rows of films with a poster only [Np, 2848]
    Ys: np.ndarray  # every studio film [Ns, G]
    has_poster: np.ndarray
    plots: list[str | None]
    groups: np.ndarray
    sfold: np.ndarray  # studio CV fold of each studio film
    shas_s: list[str | None]
    fingerprint: dict
    feature_slice: tuple[int, int]
    vectors: tuple[str, str]


def load_data(home: Path) -> Data:
    with Catalog(home / "catalog.sqlite") as catalog:
        ds = assemble_dataset(catalog)
        movies = catalog.movies()
    studio_rows = in_studio(ds)
    general = subset(ds, np.flatnonzero(~studio_rows))
    films = studio_films(list(movies), ds.genres)
    vectors = {sha: ds.features[i] for i, sha in enumerate(ds.shas) if studio_rows[i]}
    has_poster = np.array([m.poster_sha256 in vectors for m in films], dtype=bool)
    Ys = label_matrix((m.genres for m in films), ds.genres)
    groups = poster_groups([m.poster_sha256 if has_poster[i] else f"id:{m.imdb_id}" for i, m in enumerate(films)])
    gfold = np.full(len(general.ids), -1)
    for k, (_, te) in enumerate(kfold(general.Y, general.groups, FOLDS, SEED)):
        gfold[te] = k
    csv_sha = hashlib.sha256((SHARED / "studio-catalog" / "imdb_api_export.csv").read_bytes()).hexdigest()
    fp = ds.fingerprint()
    return Data(
        genres=ds.genres, Xg=np.ascontiguousarray(general.features), Yg=general.Y, shas_g=general.shas, gfold=gfold,
        Xs=np.stack([vectors[films[i].poster_sha256] for i in np.flatnonzero(has_poster)]), Ys=Ys,
        has_poster=has_poster, plots=[m.plot for m in films], groups=groups,
        sfold=studio_folds(Ys, groups, FOLDS, SEED),
        shas_s=[m.poster_sha256 if has_poster[i] else None for i, m in enumerate(films)],
        fingerprint={"sha256": fp["sha256"], "movies_with_poster": fp["movies"], "posters": fp["posters"],
                     "vectors": fp["vectors"], "general_films": len(general.ids), "studio_films": len(films),
                     "studio_with_poster": int(has_poster.sum()), "studio_csv_sha256": csv_sha},
        feature_slice=ds.feature_slice, vectors=ds.vectors)


# ------------------------------------------------------------------------------------------- baseline
def fit_head(X: np.ndarray, Y: np.ndarray) -> dict[str, np.ndarray]:
    from postergenre.training.heads import make_head

    return make_head("logreg", dict(HEAD_SETTINGS)).fit(X, Y).export()


def head_probs(tensors: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    return head_probabilities(tensors, (0, X.shape[1]), X).astype(np.float64)


def baseline_heads(d: Data, work: Path) -> dict[str, np.ndarray]:
    """General OOF probabilities, each fold's head and the final head (cached in `work`: 6 head fits)."""
    path = work / f"baseline-{d.fingerprint['sha256'][:12]}.npz"
    if path.is_file():
        return dict(np.load(path))
    out: dict[str, np.ndarray] = {}
    oof = np.zeros(d.Yg.shape)
    t0 = time.perf_counter()
    for k in range(FOLDS):
        tr, te = np.flatnonzero(d.gfold != k), np.flatnonzero(d.gfold == k)
        tensors = fit_head(d.Xg[tr], d.Yg[tr])
        oof[te] = head_probs(tensors, d.Xg[te])
        out |= {f"fold{k}/{name}": v for name, v in tensors.items()}
        log(f"baseline general CV fold {k + 1}/{FOLDS}: {time.perf_counter() - t0:.0f} s")
    final = fit_head(d.Xg, d.Yg)
    out |= {f"final/{name}": v for name, v in final.items()}
    out["general_oof"] = oof
    out["head_seconds"] = np.array(time.perf_counter() - t0)
    np.savez(path, **out)
    return out


def head_of(cache: dict[str, np.ndarray], which: str) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in cache.items() if k.startswith(which + "/")}


def studio_general_probs(d: Data, P_posters: np.ndarray) -> np.ndarray:
    P = np.full(d.Ys.shape, 0.5)
    P[d.has_poster] = P_posters
    return P


def run_studio(d: Data, P_posters: np.ndarray, general_oof: np.ndarray, bootstrap: int = 200):
    """Today's studio stage on the given general-head probabilities: (extensions, fused OOF on films with both)."""
    ext = fit_studio_extensions(studio_general_probs(d, P_posters), d.Ys, d.genres, has_poster=d.has_poster,
                                plots=d.plots, groups=d.groups, general_oof=(d.Yg, general_oof),
                                poster_thresholds=choose_thresholds(d.Yg, general_oof), n_splits=FOLDS, seed=SEED,
                                bootstrap=bootstrap, progress=log)
    return ext, fused_oof(d, ext.oof["poster"], ext.oof["synopsis"], general_oof)


def fused_oof(d: Data, poster: np.ndarray, synopsis: np.ndarray, general_oof: np.ndarray) -> np.ndarray:
    both = np.flatnonzero(d.has_poster & np.isfinite(synopsis).all(1))
    fused, _ = cross_fitted_fusion(poster[both], synopsis[both], d.Ys[both], d.genres, _folds_of(d.sfold, both),
                                   fallback_thresholds=choose_thresholds(d.Yg, general_oof))
    out = np.full(d.Ys.shape, np.nan)
    out[both] = fused
    return out


def auc_line(Y: np.ndarray, P: np.ndarray, genres: list[str]) -> dict:
    """Macro ROC AUC with its 95% bootstrap interval, and Family's AUC."""
    ev = evaluate_predictions(Y, P, choose_thresholds(Y, P), genres, bootstrap=200, seed=SEED, auc_bootstrap=200)
    h = ev["headline"]["macro_auc"]
    fam = genres.index("Family")
    return {"n": int(len(Y)), "macro_auc": h["value"], "ci_low": h["ci_low"], "ci_high": h["ci_high"],
            "family_auc": float(roc_auc_weighted(Y[:, fam], P[:, fam]))}


def gain(Y: np.ndarray, base: np.ndarray, new: np.ndarray, genres: list[str]) -> dict:
    g = paired_auc_gain(Y, base, new, genres, resamples=RESAMPLES, seed=SEED)
    fam = next((p for p in g["per_genre"] if p["genre"] == "Family"), None)
    return {"macro_gain": g["macro_gain"], "ci_low": g["ci_low"], "ci_high": g["ci_high"],
            "family_gain": None if fam is None else fam["gain"],
            "family_ci": None if fam is None else [fam["ci_low"], fam["ci_high"]],
            "wins": bool(g["ci_low"] > 0)}


def signal_rows(d: Data, poster: np.ndarray, fused: np.ndarray, synopsis: np.ndarray) -> dict:
    rows = np.flatnonzero(d.has_poster)
    both = np.flatnonzero(np.isfinite(fused).all(1))
    text = np.flatnonzero(np.isfinite(synopsis).all(1))
    return {"studio_poster": auc_line(d.Ys[rows], poster[rows], d.genres),
            "studio_fused": auc_line(d.Ys[both], fused[both], d.genres),
            "studio_synopsis": auc_line(d.Ys[text], synopsis[text], d.genres)}


def studio_gains(d: Data, base: dict, poster: np.ndarray, fused: np.ndarray) -> dict:
    rows = np.flatnonzero(d.has_poster)
    both = np.flatnonzero(np.isfinite(fused).all(1))
    return {"studio_poster": gain(d.Ys[rows], base["poster"][rows], poster[rows], d.genres),
            "studio_fused": gain(d.Ys[both], base["fused"][both], fused[both], d.genres)}


def baseline_state(d: Data, work: Path) -> dict[str, np.ndarray]:
    """The baseline's per-film arrays (general OOF; studio general-head, domain-aware, synopsis and fused OOF)."""
    path = work / f"baseline-studio-{d.fingerprint['sha256'][:12]}.npz"
    if path.is_file():
        return dict(np.load(path))
    heads = baseline_heads(d, work)
    P = head_probs(head_of(heads, "final"), d.Xs)
    t0 = time.perf_counter()
    ext, fused = run_studio(d, P, heads["general_oof"])
    state = {"general_oof": heads["general_oof"], "studio_general": P, "poster": ext.oof["poster"],
             "synopsis": ext.oof["synopsis"], "fused": fused, "studio_seconds": np.array(time.perf_counter() - t0),
             "head_seconds": heads["head_seconds"],
             "domain_general_change": np.array(ext.metrics.get("general", {}).get("change", np.nan))}
    np.savez(path, **state)
    return state


def cmd_baseline(d: Data, work: Path) -> dict:
    s = baseline_state(d, work)
    rows = signal_rows(d, s["poster"], s["fused"], s["synopsis"])
    rows["general_cv"] = auc_line(d.Yg, s["general_oof"], d.genres)
    rows["studio_poster_general_head"] = auc_line(d.Ys[d.has_poster], s["studio_general"], d.genres)
    print_rows("baseline: today's recipe on all general posters + the studio films", rows)
    return {"recipe": f"logreg {HEAD_SETTINGS} on pooled+allstats, general films only; studio extensions as train",
            "rows": rows, "head_fit_seconds_6_fits": float(s["head_seconds"]),
            "studio_stage_seconds": float(s["studio_seconds"]),
            "domain_correction_general_change": float(s["domain_general_change"])}


def print_rows(title: str, rows: dict) -> None:
    print(f"\n== {title} ==")
    for name, r in rows.items():
        if "macro_auc" in r:
            print(f"{name:34s} n={r['n']:6d}  macro AUC {r['macro_auc']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]"
                  f"  Family {r['family_auc']:.4f}")
        else:
            fam = "" if r.get("family_gain") is None else f"  Family {r['family_gain']:+.4f}"
            print(f"{name:34s} gain {r['macro_gain']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]{fam}"
                  f"  {'WINS' if r['wins'] else 'no significant gain'}")


# ------------------------------------------------------------------------------------- look-alike votes
SPACES: dict[str, dict] = {
    # name: PCA dims (None = every standardised dimension), index dtype, whitening
    "std2848-float32": {"dims": None, "dtype": "float32", "whiten": False},
    "pca256-float32": {"dims": 256, "dtype": "float32", "whiten": False},
    "pca256-float16": {"dims": 256, "dtype": "float16", "whiten": False},
    "pca256-int8": {"dims": 256, "dtype": "int8", "whiten": False},
    "pca128-int8": {"dims": 128, "dtype": "int8", "whiten": False},
    "pca64-int8": {"dims": 64, "dtype": "int8", "whiten": False},
    "pca256-whitened-int8": {"dims": 256, "dtype": "int8", "whiten": True},
}
KS = [25, 50, 100, 200, 300, 400]
WEIGHTS = [0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6]
KMAX = max(KS)


@dataclass
class Projection:
    """Standardisation and principal directions fitted on one fold's training rows (all dims, best first)."""

    mean: np.ndarray
    scale: np.ndarray
    evecs: np.ndarray  # [D, D] columns best first
    evals: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> "Projection":
        from lookalike import _half

        mean = _half(X.mean(0))
        sd = X.std(0)
        scale = _half(np.where(sd > 1e-6, sd, 1.0))
        Z = (X - mean) / scale
        Zc = Z - Z.mean(0)
        cov = (Zc.T @ Zc).astype(np.float64) / (len(Z) - 1)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        return cls(mean, scale, evecs[:, order].astype(np.float32), evals[order])

    def codes(self, X: np.ndarray, space: dict) -> np.ndarray:
        from lookalike import _half, unit_rows

        Z = (X - self.mean) / self.scale
        if space["dims"] is None:
            return unit_rows(Z)
        comps = self.evecs[:, :space["dims"]].T
        if space["whiten"]:
            comps = comps / np.sqrt(np.maximum(self.evals[:space["dims"]], 1e-6)).astype(np.float32)[:, None]
        return unit_rows(Z @ _half(comps).T)


def stored_pair(index_codes: np.ndarray, query_codes: np.ndarray, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Index and queries as the search sees them once the index is stored as `dtype` (queries quantised alike)."""
    from lookalike import dequantise, quantise

    stored, scale = quantise(index_codes, dtype)
    q, _ = quantise(query_codes, dtype, scale)
    return dequantise(stored, scale), dequantise(q, scale)


def general_neighbours(d: Data, work: Path, X: np.ndarray | None = None, tag: str = "",
                       spaces: dict[str, dict] = SPACES) -> dict[str, np.ndarray]:
    """For every space, each general film's KMAX nearest posters among the OTHER folds' general films (indices into
    the general rows, best first), the projection fitted on those training folds only. Cached in `work`.
    `X`: other vectors of the general films than their posters' (e.g. the mean of two views, `tag` names them)."""
    path = work / f"neighbours-general{tag}-{d.fingerprint['sha256'][:12]}.npz"
    if path.is_file():
        return dict(np.load(path))
    from lookalike import top_neighbours

    X = d.Xg if X is None else X
    out = {name: np.zeros((len(d.Yg), KMAX), dtype=np.int32) for name in spaces}
    t0 = time.perf_counter()
    for k in range(FOLDS):
        tr, te = np.flatnonzero(d.gfold != k), np.flatnonzero(d.gfold == k)
        proj = Projection.fit(X[tr])
        for name, space in spaces.items():
            M, Q = stored_pair(proj.codes(X[tr], space), proj.codes(X[te], space), space["dtype"])
            idx, _ = top_neighbours(Q, M, KMAX)
            out[name][te] = tr[idx]
            log(f"neighbours fold {k + 1}/{FOLDS} {name}: {time.perf_counter() - t0:.0f} s")
    np.savez(path, **out)
    return out


def cross_fitted_blend(Y: np.ndarray, base: np.ndarray, votes: dict[int, np.ndarray], fold: np.ndarray,
                       weights: list[float] = WEIGHTS) -> tuple[np.ndarray, list[dict]]:
    """Blend each fold with the (k, weight) that scores best on the OTHER folds' films (never on the scored fold)."""
    from lookalike import blend

    out = np.zeros(base.shape)
    chosen = []
    for f in range(int(fold.max()) + 1):
        rest, te = fold != f, fold == f
        scores = {(k, w): macro_auc(Y[rest], blend(base[rest], v[rest], w)) for k, v in votes.items() for w in weights}
        k, w = max(scores, key=scores.get)
        out[te] = blend(base[te], votes[k][te], w)
        chosen.append({"fold": f, "k": int(k), "weight": float(w), "other_folds_macro_auc": scores[(k, w)]})
    return out, chosen


def best_on_all(Y: np.ndarray, base: np.ndarray, votes: dict[int, np.ndarray],
                weights: list[float] = WEIGHTS) -> tuple[int, float, list[dict]]:
    """The (k, weight) that training would ship: best on every general film's out-of-fold blend."""
    from lookalike import blend

    table = [{"k": int(k), "weight": float(w), "macro_auc": macro_auc(Y, blend(base, v, w))}
             for k, v in votes.items() for w in weights]
    best = max(table, key=lambda r: r["macro_auc"])
    return best["k"], best["weight"], table


def general_votes(d: Data, nbrs: np.ndarray) -> dict[int, np.ndarray]:
    """Out-of-fold votes of every general film for each k (its neighbours come from the other folds only)."""
    from lookalike import vote_table

    votes = {k: np.zeros(d.Yg.shape) for k in KS}
    for f in range(FOLDS):  # the smoothing prior of a fold's votes: its training folds' frequencies
        te = d.gfold == f
        for k, v in vote_table(nbrs[te], d.Yg, KS, d.Yg[d.gfold != f].mean(0)).items():
            votes[k][te] = v
    return votes


def cmd_vote_general(d: Data, work: Path, base: dict[str, np.ndarray]) -> dict:
    nbrs = general_neighbours(d, work)
    oof = base["general_oof"]
    results = {}
    for name in SPACES:
        t0 = time.perf_counter()
        votes = general_votes(d, nbrs[name])
        blended, chosen = cross_fitted_blend(d.Yg, oof, votes, d.gfold)
        results[name] = {"space": SPACES[name],
                         "vote_alone_macro_auc": {str(k): macro_auc(d.Yg, v) for k, v in votes.items()},
                         "chosen_per_fold": chosen, "general_cv": auc_line(d.Yg, blended, d.genres),
                         "gain": gain(d.Yg, oof, blended, d.genres), "seconds": round(time.perf_counter() - t0, 1)}
        r = results[name]
        print(f"{name:22s} vote alone (k=200) {r['vote_alone_macro_auc']['200']:.4f}  blended general CV "
              f"{r['general_cv']['macro_auc']:.4f}  gain {r['gain']['macro_gain']:+.4f} "
              f"[{r['gain']['ci_low']:+.4f}, {r['gain']['ci_high']:+.4f}]  chosen (k, w) "
              + " ".join(f"({c['k']},{c['weight']})" for c in chosen), flush=True)
    return results


def studio_votes(d: Data, space: dict, k: int, studio_votes_too: bool, studio_weight: float = 1.0,
                 Xg: np.ndarray | None = None, Xs: np.ndarray | None = None) -> np.ndarray:
    """Votes [Np, G] of the studio films with a poster: neighbours among every general film and (with
    `studio_votes_too`) the studio posters of the OTHER studio folds; projection fitted on the general films.
    `Xg`, `Xs`: other vectors than the posters' (e.g. the mean of two views)."""
    from lookalike import top_neighbours

    Xg, Xs = (d.Xg if Xg is None else Xg), (d.Xs if Xs is None else Xs)
    proj = Projection.fit(Xg)
    M, Q = stored_pair(np.concatenate([proj.codes(Xg, space), proj.codes(Xs, space)]), proj.codes(Xs, space),
                       space["dtype"])
    ng = len(d.Xg)
    poster_fold = d.sfold[d.has_poster]

    def allowed(start: int, stop: int) -> np.ndarray:
        mask = np.ones((stop - start, len(M)), dtype=bool)
        mask[:, ng:] = studio_votes_too & (poster_fold[None, :] != poster_fold[start:stop, None])
        return mask

    idx, _ = top_neighbours(Q, M, k, allowed=allowed)
    labels = np.concatenate([d.Yg, d.Ys[d.has_poster]]).astype(np.float64)
    w = np.where(idx >= ng, studio_weight, 1.0)
    prior = d.Yg.mean(0)
    return (np.einsum("nk,nkg->ng", w, labels[idx]) + prior) / (w.sum(1)[:, None] + 1.0)


def cmd_vote(d: Data, work: Path, space_name: str) -> dict:
    from lookalike import blend

    base = baseline_state(d, work)
    print("\n== look-alike votes: general 5-fold CV, (k, weight) cross-fitted over the folds ==")
    general = cmd_vote_general(d, work, base)
    space = SPACES[space_name]
    votes = general_votes(d, general_neighbours(d, work)[space_name])
    k, w, table = best_on_all(d.Yg, base["general_oof"], votes)
    general_blend, _ = cross_fitted_blend(d.Yg, base["general_oof"], votes, d.gfold)
    print(f"\n== studio 5-fold CV, {space_name}, k={k}, weight={w} (chosen on general films' out-of-fold blend) ==")
    rows, gains = {}, {}
    for label, studio_too in (("general posters vote", False), ("general + other-fold studio posters vote", True)):
        V = studio_votes(d, space, k, studio_too)
        for placement in ("before the domain correction", "after the domain correction"):
            name = f"{label}, {placement}"
            t0 = time.perf_counter()
            if placement.startswith("before"):
                ext, fused = run_studio(d, blend(base["studio_general"], V, w), general_blend)
                poster = ext.oof["poster"]
            else:
                poster = base["poster"].copy()
                poster[d.has_poster] = blend(base["poster"][d.has_poster], V, w)
                fused = fused_oof(d, poster, base["synopsis"], base["general_oof"])
            rows[name] = signal_rows(d, poster, fused, base["synopsis"])
            gains[name] = studio_gains(d, base, poster, fused)
            print_rows(f"{name} ({time.perf_counter() - t0:.0f} s)", {**rows[name], **{
                f"gain {s}": g for s, g in gains[name].items()}})
    return {"spaces": general, "shipped_space": space_name, "shipped_k": k, "shipped_weight": w,
            "selection_table_general_oof": table, "studio_rows": rows, "studio_gains": gains,
            "general_cv_shipped_space": general[space_name]["general_cv"], "general_gain": general[space_name]["gain"]}


STUDIO_WEIGHTS = [1.0, 5.0, 20.0]
STUDIO_BETAS = [0.1, 0.2, 0.35, 0.5]


def weighted_votes(idx: np.ndarray, labels: np.ndarray, studio_from: int, studio_weight: float, k: int,
                   prior: np.ndarray) -> np.ndarray:
    """Votes from neighbour lists where index rows >= `studio_from` (studio posters) count `studio_weight` times."""
    w = np.where(idx[:, :k] >= studio_from, studio_weight, 1.0)
    return (np.einsum("nk,nkg->ng", w, labels[idx[:, :k]]) + prior) / (w.sum(1)[:, None] + 1.0)


def cmd_vote_studio(d: Data, work: Path, space_name: str) -> dict:
    """A studio-minded vote: studio posters count x`sw` among the neighbours; blended after the domain correction;
    (sw, k, weight) chosen on the OTHER studio folds' films (cross-fitted), then its cost on general films."""
    from lookalike import blend, top_neighbours

    base = baseline_state(d, work)
    space = SPACES[space_name]
    proj = Projection.fit(d.Xg)
    codes_s = proj.codes(d.Xs, space)
    codes_g = proj.codes(d.Xg, space)
    M, Q = stored_pair(np.concatenate([codes_g, codes_s]), np.concatenate([codes_s, codes_g]), space["dtype"])
    ng, ns = len(d.Xg), len(d.Xs)
    pf = d.sfold[d.has_poster]
    labels = np.concatenate([d.Yg, d.Ys[d.has_poster]]).astype(np.float64)
    # Studio queries: every general poster and the other folds' studio posters.
    idx_s, _ = top_neighbours(Q[:ns], M, KMAX, allowed=lambda a, b: np.concatenate(
        [np.ones((b - a, ng), bool), pf[None, :] != pf[a:b, None]], 1))
    prior = d.Yg.mean(0)
    P = base["poster"][d.has_poster]
    Yp = d.Ys[d.has_poster]
    V = {(sw, k): weighted_votes(idx_s, labels, ng, sw, k, prior) for sw in STUDIO_WEIGHTS for k in KS}
    out, chosen = np.zeros(P.shape), []
    for f in range(FOLDS):
        rest, te = pf != f, pf == f
        sc = {(key, b): macro_auc(Yp[rest], blend(P[rest], v[rest], b)) for key, v in V.items() for b in STUDIO_BETAS}
        (sw, k), b = max(sc, key=sc.get)
        out[te] = blend(P[te], V[(sw, k)][te], b)
        chosen.append({"fold": f, "studio_weight": sw, "k": k, "weight": b})
    poster = base["poster"].copy()
    poster[d.has_poster] = out
    fused = fused_oof(d, poster, base["synopsis"], base["general_oof"])
    rows = signal_rows(d, poster, fused, base["synopsis"])
    gains = studio_gains(d, base, poster, fused)
    # General films under the most chosen setting: every studio poster in their index (general CV never holds one
    # out), the general neighbours from the other general folds.
    sw, k, b = max(((c["studio_weight"], c["k"], c["weight"]) for c in chosen),
                   key=lambda t: sum((c["studio_weight"], c["k"], c["weight"]) == t for c in chosen))
    idx_g, _ = top_neighbours(Q[ns:], M, k, allowed=lambda a, b_: np.concatenate(
        [d.gfold[None, :] != d.gfold[a:b_, None], np.ones((b_ - a, ns), bool)], 1))
    general = blend(base["general_oof"], weighted_votes(idx_g, labels, ng, sw, k, prior), b)
    rows["general_cv"] = auc_line(d.Yg, general, d.genres)
    gains["general_cv"] = gain(d.Yg, base["general_oof"], general, d.genres)
    print_rows(f"studio-minded vote after the domain correction, (studio weight, k, weight) cross-fitted on studio "
               f"folds "
               f"{[(c['studio_weight'], c['k'], c['weight']) for c in chosen]}; general films at {(sw, k, b)}",
               {**rows, **{f"gain {s}": g for s, g in gains.items()}})
    return {"space": space_name, "chosen_per_studio_fold": chosen, "general_setting": [sw, k, b], "rows": rows,
            "gains": gains}


# ----------------------------------------------------------------------------------------- mirrored view
def mirrored(d: Data, home: Path, shas: list[str]) -> np.ndarray:
    from mirror_embed import mirror_key

    with EmbeddingCache(home / "catalog.sqlite", *mirror_key()) as cache:
        missing = cache.missing(sorted(set(shas)))
        if missing:
            raise SystemExit(f"{len(missing)} posters have no mirrored vector: run benchmarks/mirror_embed.py first")
        return cache.get(shas)[:, d.feature_slice[0]:d.feature_slice[1]]


def augmented_heads(d: Data, work: Path, Xg_m: np.ndarray) -> dict[str, np.ndarray]:
    """Heads trained on both views of every training poster (the rows doubled, a film's two views in one fold)."""
    path = work / f"mirror-heads-{d.fingerprint['sha256'][:12]}.npz"
    if path.is_file():
        return dict(np.load(path))
    out: dict[str, np.ndarray] = {}
    t0 = time.perf_counter()
    for k in [*range(FOLDS), None]:
        tr = np.flatnonzero(d.gfold != k)
        tensors = fit_head(np.concatenate([d.Xg[tr], Xg_m[tr]]), np.concatenate([d.Yg[tr], d.Yg[tr]]))
        out |= {f"{'final' if k is None else f'fold{k}'}/{name}": v for name, v in tensors.items()}
        which = "final" if k is None else f"fold {k + 1}/{FOLDS}"
        log(f"head on both views, {which}: {time.perf_counter() - t0:.0f} s")
    out["seconds"] = np.array(time.perf_counter() - t0)
    np.savez(path, **out)
    return out


def cmd_mirror(d: Data, work: Path, home: Path) -> dict:
    base = baseline_state(d, work)
    heads = baseline_heads(d, work)
    Xg_m = mirrored(d, home, d.shas_g)
    Xs_m = mirrored(d, home, [s for s in d.shas_s if s])
    cos = np.sum(unit(d.Xg) * unit(Xg_m), 1)
    aug = augmented_heads(d, work, Xg_m)
    # (heads, how a poster is read): a linear head on the mean of the two vectors = the mean of the two logits.
    variants = {"test-time mean of both views, head trained on posters": (heads, True),
                "head trained on both views, poster read as is": (aug, False),
                "head trained on both views, test-time mean of both views": (aug, True)}
    alone = np.zeros(d.Yg.shape)
    for k in range(FOLDS):
        alone[d.gfold == k] = head_probs(head_of(heads, f"fold{k}"), Xg_m[d.gfold == k])
    result = {"general_cv_mirrored_view_alone": auc_line(d.Yg, alone, d.genres), "variants": {},
              "cosine_median": float(np.median(cos)), "cosine_p5": float(np.percentile(cos, 5)),
              "head_on_both_views_seconds_6_fits": float(aug["seconds"]),
              "head_seconds_6_fits": float(heads["head_seconds"])}
    for name, (hs, mean_view) in variants.items():
        t0 = time.perf_counter()
        oof = np.zeros(d.Yg.shape)
        for k in range(FOLDS):
            te = d.gfold == k
            oof[te] = head_probs(head_of(hs, f"fold{k}"), (d.Xg[te] + Xg_m[te]) / 2 if mean_view else d.Xg[te])
        ext, fused = run_studio(d, head_probs(head_of(hs, "final"), (d.Xs + Xs_m) / 2 if mean_view else d.Xs), oof)
        rows = {"general_cv": auc_line(d.Yg, oof, d.genres),
                **signal_rows(d, ext.oof["poster"], fused, base["synopsis"])}
        gains = {"general_cv": gain(d.Yg, base["general_oof"], oof, d.genres),
                 **studio_gains(d, base, ext.oof["poster"], fused)}
        result["variants"][name] = {"rows": rows, "gains": gains, "extra_forward_pass": mean_view,
                                    "kept": bool(all(g["wins"] for g in gains.values()))}
        print_rows(f"{name} ({time.perf_counter() - t0:.0f} s)", {**rows, **{f"gain {s}": g for s, g in gains.items()}})
    print(f"cosine(poster, mirrored poster) over general posters: median {np.median(cos):.4f}, "
          f"5th percentile {np.percentile(cos, 5):.4f}; mirrored view alone, general CV "
          f"{result['general_cv_mirrored_view_alone']['macro_auc']:.4f}")
    return result


def cmd_combined(d: Data, work: Path, home: Path, space_name: str) -> dict:
    """Both kept candidates at once: the head trained on both views reading their mean, and the look-alike vote in
    that mean-view space (index: general + other-fold studio posters), blended before the domain correction."""
    from lookalike import blend

    base = baseline_state(d, work)
    Xg_m = mirrored(d, home, d.shas_g)
    Xs_m = mirrored(d, home, [s for s in d.shas_s if s])
    Xg_v, Xs_v = (d.Xg + Xg_m) / 2, (d.Xs + Xs_m) / 2
    aug = augmented_heads(d, work, Xg_m)
    views = np.zeros(d.Yg.shape)
    for k in range(FOLDS):
        views[d.gfold == k] = head_probs(head_of(aug, f"fold{k}"), Xg_v[d.gfold == k])
    space = {space_name: SPACES[space_name]}
    votes = general_votes(d, general_neighbours(d, work, Xg_v, "-views", space)[space_name])
    general, chosen = cross_fitted_blend(d.Yg, views, votes, d.gfold)
    k, w, _ = best_on_all(d.Yg, views, votes)
    V = studio_votes(d, SPACES[space_name], k, True, Xg=Xg_v, Xs=Xs_v)
    t0 = time.perf_counter()
    ext, fused = run_studio(d, blend(head_probs(head_of(aug, "final"), Xs_v), V, w), general)
    rows = {"general_cv": auc_line(d.Yg, general, d.genres),
            **signal_rows(d, ext.oof["poster"], fused, base["synopsis"])}
    gains = {"general_cv": gain(d.Yg, base["general_oof"], general, d.genres),
             **studio_gains(d, base, ext.oof["poster"], fused)}
    rows_views = {"general_cv_views_only": auc_line(d.Yg, views, d.genres)}
    gain_over_views = gain(d.Yg, views, general, d.genres)
    # What the vote adds to the two views alone on studio films: the same studio stage without the vote.
    ext_v, fused_v = run_studio(d, head_probs(head_of(aug, "final"), Xs_v), views)
    studio_over_views = studio_gains(d, {"poster": ext_v.oof["poster"], "fused": fused_v}, ext.oof["poster"], fused)
    print_rows(f"two views (head on both) + look-alike vote ({space_name}, k={k}, weight={w}) before the correction "
               f"({time.perf_counter() - t0:.0f} s)",
               {**rows, **rows_views, **{f"gain {s}": g for s, g in gains.items()},
                "gain general_cv over two views alone": gain_over_views,
                **{f"gain {s} over two views alone": g for s, g in studio_over_views.items()}})
    return {"space": space_name, "k": k, "weight": w, "chosen_per_fold": chosen, "rows": rows | rows_views,
            "gains": gains, "general_gain_over_two_views_alone": gain_over_views,
            "studio_gains_over_two_views_alone": studio_over_views}


def unit(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


# ---------------------------------------------------------------------------------------------- synopsis
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def first_sentence(text: str | None) -> str | None:
    return None if not text else SENTENCE_END.split(text.strip(), maxsplit=1)[0]


def sentences(text: str | None) -> int:
    return 0 if not text else len(SENTENCE_END.split(text.strip()))


def cmd_synopsis(d: Data, work: Path) -> dict:
    from postergenre.model.synopsis import SynopsisHead, has_text
    from postergenre.model.text_encoder import ENCODER, WEIGHTS, package_folder

    base = baseline_state(d, work)
    text_rows = np.flatnonzero(has_text(d.plots))
    short = [first_sentence(p) for p in d.plots]
    S = np.full(d.Ys.shape, np.nan)
    t0 = time.perf_counter()
    for tr, te in _folds_of(d.sfold, text_rows):
        head = SynopsisHead(genres=d.genres).fit([short[i] for i in text_rows[tr]], d.Ys[text_rows[tr]])
        S[text_rows[te]] = head.predict_proba([short[i] for i in text_rows[te]])
    log(f"first-sentence synopsis head, 5 folds: {time.perf_counter() - t0:.0f} s")
    fused_short = fused_oof(d, base["poster"], S, base["general_oof"])
    n_sent = np.array([sentences(p) for p in d.plots])
    multi = text_rows[n_sent[text_rows] >= 2]
    both = np.flatnonzero(np.isfinite(base["fused"]).all(1))
    rows = {"synopsis_whole_plot": auc_line(d.Ys[text_rows], base["synopsis"][text_rows], d.genres),
            "synopsis_first_sentence": auc_line(d.Ys[text_rows], S[text_rows], d.genres),
            "synopsis_whole_plot_multi_sentence_films": auc_line(d.Ys[multi], base["synopsis"][multi], d.genres),
            "synopsis_first_sentence_multi_sentence_films": auc_line(d.Ys[multi], S[multi], d.genres),
            "fused_whole_plot": auc_line(d.Ys[both], base["fused"][both], d.genres),
            "fused_first_sentence": auc_line(d.Ys[both], fused_short[both], d.genres)}
    whole = base["synopsis"]
    gains = {"whole_plot_over_first_sentence_synopsis": gain(d.Ys[text_rows], S[text_rows], whole[text_rows], d.genres),
             "whole_plot_over_first_sentence_multi_sentence_films": gain(d.Ys[multi], S[multi], whole[multi], d.genres),
             "whole_plot_over_first_sentence_fused": gain(d.Ys[both], fused_short[both], base["fused"][both], d.genres)}
    print_rows("the synopsis: the whole plot (what the head reads today) vs its first sentence, studio CV",
               {**rows, **{f"gain {s}": g for s, g in gains.items()}})
    lengths = np.array([len(p) for p in d.plots if p])
    table = package_folder() / WEIGHTS
    found = {
        "plots": int(len(text_rows)),
        "by_sentences": {str(n): int((n_sent[text_rows] == n).sum()) for n in range(1, 6)},
        "six_or_more_sentences": int((n_sent[text_rows] >= 6).sum()),
        "characters_median": float(np.median(lengths)), "characters_max": int(lengths.max()),
        "general_catalog_plots": "movies.csv has no plot column",
        "wordllama": {"encoder": ENCODER, "table": str(WEIGHTS),
                      "sha256": hashlib.sha256(table.read_bytes()).hexdigest(),
                      "tables_in_wheel": sorted(p.name for p in table.parent.glob("*.safetensors"))},
    }
    print(f"studio plots: {found['plots']} with text; sentences {found['by_sentences']}, 6+: "
          f"{found['six_or_more_sentences']}; median {found['characters_median']:.0f} characters, max "
          f"{found['characters_max']}; WordLlama tables in the wheel: {found['wordllama']['tables_in_wheel']}")
    return {"rows": rows, "gains": gains, "found": found}


# -------------------------------------------------------------------------------------------------- cost
def cmd_cost(d: Data, work: Path, space_name: str, k: int, weight: float, home: Path | None = None) -> dict:
    """The kept vote fitted on every training poster: artifact bytes, warm single-poster time, train-time work."""
    import tempfile

    from lookalike import LookalikeVote, top_neighbours, vote_table
    from safetensors.numpy import load_file, save_file

    space = SPACES[space_name]
    X = np.concatenate([d.Xg, d.Xs])
    Y = np.concatenate([d.Yg, d.Ys[d.has_poster]])
    t0 = time.perf_counter()
    vote = LookalikeVote(k=k, weight=weight, dims=space["dims"], index_dtype=space["dtype"]).fit(X, Y)
    fit_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vote.safetensors"
        save_file(vote.to_tensors(), str(path))
        file_bytes = path.stat().st_size
        loaded = LookalikeVote.from_saved(load_file(str(path)), vote.config())
    heads = baseline_heads(d, work)
    final = head_of(heads, "final")
    rows = np.linspace(0, len(X) - 1, 300).astype(int)
    P = head_probs(final, X[rows])
    same = float(np.abs(loaded.predict_proba(P, X[rows]) - vote.predict_proba(P, X[rows])).max())
    # A catalog poster meets its own row at cosine 1, so it never votes for itself.
    own = np.sum(vote.codes(X[rows]) * vote._search_matrix()[rows], 1)
    loaded.predict_proba(P[:1], X[:1])  # warm: the float32 search matrix is built once per process
    t_vote, t_head = [], []
    for i, r in enumerate(rows):
        t = time.perf_counter()
        head_probs(final, X[r:r + 1])
        t_head.append(time.perf_counter() - t)
        t = time.perf_counter()
        loaded.predict_proba(P[i:i + 1], X[r:r + 1])
        t_vote.append(time.perf_counter() - t)
    # What training adds: out-of-fold votes of the general films (one projection on them, neighbours from the other
    # folds), the (k, weight) choice on them, and the shipped vote's fit.
    t1 = time.perf_counter()
    proj = Projection.fit(d.Xg)
    M, Q = stored_pair(proj.codes(d.Xg, space), proj.codes(d.Xg, space), space["dtype"])
    idx, _ = top_neighbours(Q, M, KMAX, allowed=lambda a, b: d.gfold[None, :] != d.gfold[a:b, None])
    votes = {kk: v for kk, v in vote_table(idx, d.Yg, KS, d.Yg.mean(0)).items()}
    best_on_all(d.Yg, heads["general_oof"], votes)
    train_s = time.perf_counter() - t1 + fit_s
    # Same-run references: one head fit on every general poster, and one on both views of them (the two-view lever).
    t2 = time.perf_counter()
    fit_head(d.Xg, d.Yg)
    head_fit_s = time.perf_counter() - t2
    both_fit_s = None
    if home is not None:
        Xg_m = mirrored(d, home, d.shas_g)
        t3 = time.perf_counter()
        fit_head(np.concatenate([d.Xg, Xg_m]), np.concatenate([d.Yg, d.Yg]))
        both_fit_s = time.perf_counter() - t3
    out = {"space": space_name, "k": k, "weight": weight, "index_posters": int(len(X)),
           "tensor_bytes": {name: int(v.nbytes) for name, v in vote.to_tensors().items()},
           "safetensors_bytes": int(file_bytes), "fit_seconds": round(fit_s, 2),
           "saved_vs_fitted_max_abs_diff": same, "own_row_cosine_min": float(own.min()),
           "warm_single_poster_ms": {"vote_median": 1e3 * float(np.median(t_vote)),
                                     "vote_p90": 1e3 * float(np.percentile(t_vote, 90)),
                                     "head_forward_median": 1e3 * float(np.median(t_head))},
           "train_seconds_added": round(train_s, 1), "same_run_one_head_fit_seconds": round(head_fit_s, 1),
           "same_run_one_head_fit_on_both_views_seconds": None if both_fit_s is None else round(both_fit_s, 1)}
    ms = out["warm_single_poster_ms"]
    print(f"\n== cost of the vote ({space_name}, k={k}, weight={weight}, {len(X):,} posters in the index) ==")
    parts = ", ".join(f"{n} {b / 1e6:.2f} MB" for n, b in out["tensor_bytes"].items())
    print(f"artifact: +{file_bytes / 1e6:.2f} MB safetensors ({parts})")
    print(f"warm single poster: vote {ms['vote_median']:.2f} ms median ({ms['vote_p90']:.2f} p90); the head's forward "
          f"{ms['head_forward_median']:.2f} ms in the same loop")
    print(f"train: +{train_s:.1f} s (fit {fit_s:.1f} s + out-of-fold votes and the (k, weight) choice); in the same "
          f"run one head fit took {head_fit_s:.1f} s"
          + ("" if both_fit_s is None else f", one on both views {both_fit_s:.1f} s")
          + f"; saved == fitted within {same:.1e}; own row cosine >= {out['own_row_cosine_min']:.6f}")
    return out


# -------------------------------------------------------------------------------------------------- main
def meta(d: Data, stage: str) -> dict:
    import torch

    return {"benchmark": "quality_levers", "stage": stage, "data": d.fingerprint, "folds": FOLDS, "seed": SEED,
            "paired_resamples": RESAMPLES, "vectors": "/".join(d.vectors), "genres": d.genres,
            "load_average": list(os.getloadavg()), "command": " ".join(sys.argv),
            "versions": {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["baseline", "vote", "vote-studio", "mirror", "combined", "synopsis", "cost"])
    ap.add_argument("--home", type=Path, default=os.environ.get("POSTERGENRE_HOME"))
    ap.add_argument("--work", type=Path, required=True, help="scratch folder for per-film arrays (outside the repo)")
    ap.add_argument("--space", default="pca256-int8", choices=list(SPACES), help="the vote's index space (vote, cost)")
    ap.add_argument("--k", type=int, default=200, help="cost: neighbours")
    ap.add_argument("--weight", type=float, default=0.35, help="cost: blend weight")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    d = load_data(args.home)
    log(f"{len(d.Yg):,} general films, {len(d.Ys):,} studio films ({int(d.has_poster.sum())} with a poster), "
        f"{len(d.genres)} genres, data {d.fingerprint['sha256'][:12]}")
    if args.stage == "baseline":
        result = cmd_baseline(d, args.work)
    elif args.stage == "vote":
        result = cmd_vote(d, args.work, args.space)
    elif args.stage == "vote-studio":
        result = cmd_vote_studio(d, args.work, args.space)
    elif args.stage == "mirror":
        result = cmd_mirror(d, args.work, args.home)
    elif args.stage == "combined":
        result = cmd_combined(d, args.work, args.home, args.space)
    elif args.stage == "synopsis":
        result = cmd_synopsis(d, args.work)
    else:
        result = cmd_cost(d, args.work, args.space, args.k, args.weight, args.home)
    out = meta(d, args.stage) | result | {"seconds": round(time.perf_counter() - t0, 1)}
    write_result(RESULTS / f"levers_{args.stage.replace('-', '_')}.json", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
