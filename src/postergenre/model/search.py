"""Choosing a head and its settings by cross-validation, and estimating how well that choice generalises.

The predecessor tuned its grid on the same folds it reported, which flatters the winner. Here the score that
is reported for a search is nested: every outer fold runs its own inner search on its training part only, the
winner of that inner search is refitted on the outer training part and scored on the outer test part. The
settings of the final model come from a plain k-fold search on all the data, whose table is shown as
"selection scores" and never reported as the model's quality.

Candidates are ranked by macro ROC AUC of out-of-fold probabilities (threshold-free, so no threshold is tuned
on the folds that rank the candidates).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import PosterGenreError
from .heads import HEADS, macro_auc, make_head
from .split import Split, holdout, kfold

Log = Callable[[str], None]

DEFAULT_GRID: dict[str, dict[str, list[Any]]] = {
    "logreg": {"l2": [3e-3, 1e-2, 3e-2]},
    "mlp": {"hidden": [512], "dropout": [0.5], "loss": ["bce", "asl"]},
}
"""What `--head auto` tries. Kept small: every candidate costs k fits per level of nesting."""


@dataclass(frozen=True)
class Candidate:
    """One head type with fixed settings."""

    head_type: str
    config: tuple[tuple[str, Any], ...] = ()

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.config)

    @property
    def label(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.config)
        return f"{self.head_type}({inner})"

    def make(self):
        return make_head(self.head_type, self.settings)


def parse_params(items: Sequence[str]) -> dict[str, list[Any]]:
    """`--param KEY=V1[,V2...]` strings -> {key: [values]}; numbers become int/float, the rest stay strings."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise PosterGenreError(f"--param {item!r}: expected KEY=VALUE or KEY=V1,V2 (e.g. --param l2=1e-3,1e-2)")
        parsed = []
        for v in values.split(","):
            v = v.strip()
            try:
                parsed.append(json.loads(v))
            except json.JSONDecodeError:
                parsed.append(v)
        out[key.strip()] = parsed
    return out


def candidates_for(head: str, params: dict[str, list[Any]] | None = None) -> list[Candidate]:
    """The grid for `head` ("auto" = every head type in DEFAULT_GRID); `params` override/extend a head's grid."""
    params = params or {}
    if head == "auto":
        types = list(DEFAULT_GRID)
    elif head in HEADS:
        types = [head]
    else:
        raise PosterGenreError(f"unknown head {head!r}; use auto, {', '.join(HEADS)} or seed-cnn")
    out: list[Candidate] = []
    for t in types:
        known = set(HEADS[t]._defaults())
        grid = {k: v for k, v in DEFAULT_GRID.get(t, {}).items()} if head == "auto" or not params else {}
        for k, v in params.items():
            if k not in known:
                if head == "auto":
                    continue  # a setting of another head type
                raise PosterGenreError(f"--param {k}: not a {t} setting; known: {', '.join(sorted(known))}")
            grid[k] = v
        keys = sorted(grid)
        for combo in itertools.product(*(grid[k] for k in keys)):
            out.append(Candidate(t, tuple(zip(keys, combo))))
    return out


def cross_val_predict(candidate: Candidate, X: np.ndarray, Y: np.ndarray, folds: Sequence[Split],
                      log: Log | None = None) -> np.ndarray:
    """Out-of-fold probabilities [N, G] of `candidate` (rows in no test fold stay NaN)."""
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    for k, (tr, te) in enumerate(folds):
        t0 = time.perf_counter()
        oof[te] = candidate.make().fit(X[tr], Y[tr]).predict_proba(X[te])
        if log:
            log(f"  {candidate.label} fold {k + 1}/{len(folds)}: {time.perf_counter() - t0:.1f}s")
    return oof


@dataclass
class SearchResult:
    """Per-candidate out-of-fold scores on one set of folds, best first."""

    rows: list[dict[str, Any]]
    oof: dict[str, np.ndarray] = field(repr=False)

    @property
    def best(self) -> Candidate:
        return self.rows[0]["candidate"]

    def table(self) -> list[dict[str, Any]]:
        """JSON-safe rows (the candidate object replaced by its type, settings and label)."""
        return [{"head": r["candidate"].head_type, "settings": r["candidate"].settings, "label": r["candidate"].label,
                 "macro_auc": r["macro_auc"], "seconds": r["seconds"]} for r in self.rows]


def search(candidates: Sequence[Candidate], X: np.ndarray, Y: np.ndarray, folds: Sequence[Split],
           log: Log | None = None) -> SearchResult:
    """Score every candidate by macro ROC AUC of its out-of-fold probabilities on `folds`."""
    if not candidates:
        raise PosterGenreError("nothing to search: the grid is empty")
    rows, oofs = [], {}
    covered = np.zeros(len(Y), dtype=bool)
    for _, te in folds:
        covered[te] = True
    for cand in candidates:
        t0 = time.perf_counter()
        oof = cross_val_predict(cand, X, Y, folds, log)
        auc = macro_auc(Y[covered], oof[covered])
        rows.append({"candidate": cand, "macro_auc": round(auc, 5), "seconds": round(time.perf_counter() - t0, 1)})
        oofs[cand.label] = oof
        if log:
            log(f"{cand.label}: macro AUC {auc:.4f} ({rows[-1]['seconds']}s)")
    rows.sort(key=lambda r: -r["macro_auc"])
    return SearchResult(rows, oofs)


@dataclass
class NestedResult:
    """Out-of-fold probabilities of the whole procedure (inner search + refit) and what each fold chose."""

    oof: np.ndarray
    chosen: list[str]
    inner_tables: list[list[dict[str, Any]]]


def nested_cv(candidates: Sequence[Candidate], X: np.ndarray, Y: np.ndarray, groups: np.ndarray,
              outer: Sequence[Split], *, inner_folds: int = 3, seed: int = 0, log: Log | None = None) -> NestedResult:
    """Honest estimate of search-then-fit: with one candidate this is plain k-fold CV.

    `inner_folds` = 1 searches on a single stratified 25% hold-out of each outer training part (cheaper).
    """
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    chosen, tables = [], []
    for k, (tr, te) in enumerate(outer):
        if len(candidates) > 1:
            inner = ([holdout(Y[tr], groups[tr], 0.25, seed + 1 + k)] if inner_folds == 1
                     else kfold(Y[tr], groups[tr], inner_folds, seed + 1 + k))
            if log:
                log(f"outer fold {k + 1}/{len(outer)}: inner search over {len(candidates)} candidates")
            res = search(candidates, X[tr], Y[tr], inner, log=None)
            best = res.best
            tables.append(res.table())
        else:
            best = candidates[0]
        t0 = time.perf_counter()
        oof[te] = best.make().fit(X[tr], Y[tr]).predict_proba(X[te])
        chosen.append(best.label)
        if log:
            log(f"outer fold {k + 1}/{len(outer)}: {best.label} fitted in {time.perf_counter() - t0:.1f}s")
    return NestedResult(oof, chosen, tables)
