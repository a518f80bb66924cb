"""Choosing a head and its settings by cross-validation, and estimating how well that choice generalises.

Candidates come from `sklearn.model_selection.ParameterGrid` over each head's settings, and every fit goes
through the heads' sklearn estimator interface. The fold loop is ours rather than `GridSearchCV`'s for two
reasons a data scientist waiting for it notices: each fold fit reports progress (so the CLI can show a bar with
an ETA), and each fold's out-of-fold probabilities are kept on disk (`FoldCache`), keyed by data, candidate and
rows, so a search interrupted with Ctrl+C resumes where it stopped.

The score reported for a search is nested: every outer fold runs its own inner search on its training part
only, the winner of that inner search is refitted on the outer training part and scored on the outer test part.
The settings of the final model come from a plain k-fold search on all the data, whose table is shown as
"selection scores" and never reported as the model's quality. Candidates are ranked by macro ROC AUC of
out-of-fold probabilities (threshold-free, so no threshold is tuned on the folds that rank the candidates).
All fold indices here are row indices of the full X / Y. X holds each movie's views ([N, V, F]: the poster and its
mirror image for the default recipe) or one view ([N, F]): a head is fitted on every view of its training movies as
rows of their own (`stack_views`: a movie's views are always on the same side of a fold) and reads a movie as the
mean of its logits over the views (`model.views.read_views`), as the saved model will.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import ParameterGrid

from ..errors import PosterGenreError
from ..files import write_atomic
from ..labelled.metrics import macro_auc
from ..labelled.split import Split, holdout, kfold
from ..model.head_types import DEFAULT_SETTINGS
from ..model.heads import check_head_params, head_names, make_head, param_names
from ..model.parts import PosterHead
from ..model.views import read_views
from ..progress import Log, Progress, ProgressFn, no_progress

DEFAULT_GRID: dict[str, dict[str, list[Any]]] = {
    "logreg": {"l2": [3e-3, 1e-2, 3e-2]},
    "mlp": {"hidden": [512], "dropout": [0.5], "loss": ["bce", "asl"]},
}
"""What a search (`--head auto` or `--search`) tries. Kept small: every candidate costs k fits per level of nesting."""


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

    def make(self) -> PosterHead:
        return make_head(self.head_type, self.settings)


def parse_params(items: Sequence[str]) -> dict[str, list[Any]]:
    """`--param KEY=V1[,V2...]` strings -> {key: [values]}; numbers become int/float, the rest stay strings."""
    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise PosterGenreError(f"--param {item!r}: expected KEY=VALUE or KEY=V1,V2 (e.g. --param l2=1e-3,1e-2)")
        parsed = []
        for raw in values.split(","):
            v = raw.strip()
            try:
                parsed.append(json.loads(v))
            except json.JSONDecodeError:
                parsed.append(v)
        out[key.strip()] = parsed
    return out


def candidates_for(head: str, params: dict[str, list[Any]] | None = None, *, search: bool = False) -> list[Candidate]:
    """The candidates to cross-validate.

    - `head` = "auto": search every head type in DEFAULT_GRID (`params` override the settings each type has).
    - a head type with `search`: its DEFAULT_GRID, `params` overriding or extending it.
    - a head type without `search`: its measured default settings (DEFAULT_SETTINGS), overridden by `params`;
      several values in `params` still make a (small) search.
    Every candidate's setting names and values are checked here, before any data is loaded.
    """
    params = dict(params or {})
    if head == "auto":
        types, search = list(DEFAULT_GRID), True
    elif head in head_names():
        types = [head]
    else:
        raise PosterGenreError(f"unknown head {head!r}; use auto, {', '.join(head_names())} or seed-cnn")
    known_by_type = {t: set(param_names(t)) for t in types}
    for k in params:
        canonical = k.replace(".", "__")
        if not any(canonical in known for known in known_by_type.values()):
            allowed = sorted(set().union(*known_by_type.values()))
            raise PosterGenreError(f"--param {k}: not a {' or '.join(types)} setting; known: {', '.join(allowed)}")
    out: list[Candidate] = []
    for t in types:
        base = DEFAULT_GRID.get(t, {}) if search else {k: [v] for k, v in DEFAULT_SETTINGS.get(t, {}).items()}
        grid = dict(base) | {k: list(v) for k, v in params.items() if k.replace(".", "__") in known_by_type[t]}
        for combo in ParameterGrid(grid):  # keys sorted, values in the order given
            check_head_params(t, combo)
            out.append(Candidate(t, tuple(combo.items())))
    return out


class FoldCache:
    """Out-of-fold probabilities of finished fold fits, one .npy file each, so an interrupted run resumes.

    A key hashes the data (`data_key`: fingerprint, genres, feature slice), the candidate (head type and every
    setting) and the exact train and test rows, so a changed catalog, filter, seed or fold count never reuses
    a stale result. `folder` None keeps nothing.
    """

    def __init__(self, folder: Path | None, data_key: str):
        self.folder = None if folder is None else Path(folder) / data_key[:16]
        self.data_key = data_key
        self.hits = 0
        self.stored = 0

    def clear(self) -> None:
        """Delete this data's fold results (after a successful run they only take space)."""
        if self.folder is not None and self.folder.is_dir():
            for f in self.folder.glob("*.npy"):
                f.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # another run's files appeared meanwhile: leave them
                self.folder.rmdir()

    def key(self, cand: Candidate, train: np.ndarray, test: np.ndarray) -> str:
        h = hashlib.sha256()
        h.update(self.data_key.encode())
        h.update(
            json.dumps(
                [cand.head_type, make_head(cand.head_type, cand.settings).get_params(deep=False)],
                sort_keys=True,
                default=repr,
            ).encode()
        )
        for rows in (train, test):
            h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
            h.update(b"|")
        return h.hexdigest()

    def load(self, key: str) -> np.ndarray | None:
        if self.folder is None:
            return None
        path = self.folder / f"{key}.npy"
        try:
            probs = np.load(path, allow_pickle=False)
        except (OSError, ValueError):  # absent, or cut short by a crash: recompute
            return None
        self.hits += 1
        return probs

    def save(self, key: str, probs: np.ndarray) -> None:
        if self.folder is None:
            return
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(probs, dtype=np.float32), allow_pickle=False)
        write_atomic(self.folder / f"{key}.npy", buf.getvalue())
        self.stored += 1


def stack_views(
    X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Movies' views [n, V, F] (or one view [n, F]) → training rows [V*n, F], view after view, with each movie's
    labels and weight repeated for each of its views."""
    if X.ndim == 2:
        return X, Y, sample_weight
    n, v, f = X.shape
    rows = np.ascontiguousarray(X.transpose(1, 0, 2)).reshape(v * n, f)
    weights = None if sample_weight is None else np.tile(sample_weight, v)
    return rows, np.tile(Y, (v, 1)), weights


class FoldRunner:
    """Fits candidates on fold rows and predicts the test rows, through the cache, counting progress. `X`: the
    movies' views [N, V, F] or one view [N, F] (see the module docstring)."""

    def __init__(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        *,
        cache: FoldCache | None = None,
        progress: ProgressFn = no_progress,
        total: int = 0,
        task: str = "cross-validation",
        sample_weight: np.ndarray | None = None,
        log: Log | None = None,
    ):
        self.X, self.Y, self.sample_weight = X, Y, sample_weight
        self.cache = cache or FoldCache(None, "")
        self.progress, self.total, self.task, self.log = progress, total, task, log
        self.done = 0

    def fit(self, cand: Candidate, rows: np.ndarray) -> PosterHead:
        """A fitted head on `rows` (not cached: a whole model, not a fold result)."""
        w = None if self.sample_weight is None else self.sample_weight[rows]
        X, Y, w = stack_views(self.X[rows], self.Y[rows], w)
        return cand.make().fit(X, Y, sample_weight=w)

    def fold(self, cand: Candidate, train: np.ndarray, test: np.ndarray, what: str) -> np.ndarray:
        """Probabilities [len(test), G] of `cand` fitted on `train` rows."""
        t0 = time.perf_counter()
        key = self.cache.key(cand, train, test)
        probs = self.cache.load(key)
        reused = probs is not None and probs.shape == (len(test), self.Y.shape[1])
        if probs is None or not reused:
            probs = read_views(self.fit(cand, train), self.X[test])
            self.cache.save(key, probs)
        self.step(f"{cand.label} {what}" + (" (reused)" if reused else ""))
        if self.log and not reused:  # reused fits are counted in the result, not listed one by one
            self.log(f"  {cand.label} {what}: {time.perf_counter() - t0:.1f}s")
        return probs

    def step(self, detail: str) -> None:
        self.done += 1
        self.progress(Progress(self.task, self.done, max(self.total, self.done), detail=detail))


def _runner(runner: FoldRunner | None, X: np.ndarray, Y: np.ndarray, log: Log | None) -> FoldRunner:
    return runner if runner is not None else FoldRunner(X, Y, log=log)


def cross_val_predict(
    candidate: Candidate,
    X: np.ndarray,
    Y: np.ndarray,
    folds: Sequence[Split],
    log: Log | None = None,
    *,
    runner: FoldRunner | None = None,
    where: str = "",
) -> np.ndarray:
    """Out-of-fold probabilities [N, G] of `candidate` (rows in no test fold stay NaN).

    `where` prefixes the fold names in progress reports (e.g. "outer 2/5, inner ")."""
    run = _runner(runner, X, Y, log)
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    for k, (tr, te) in enumerate(folds):
        oof[te] = run.fold(candidate, tr, te, f"{where}fold {k + 1}/{len(folds)}")
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
        return [
            {
                "head": r["candidate"].head_type,
                "settings": r["candidate"].settings,
                "label": r["candidate"].label,
                "macro_auc": r["macro_auc"],
                "seconds": r["seconds"],
            }
            for r in self.rows
        ]


def search(
    candidates: Sequence[Candidate],
    X: np.ndarray,
    Y: np.ndarray,
    folds: Sequence[Split],
    log: Log | None = None,
    *,
    runner: FoldRunner | None = None,
    where: str = "",
) -> SearchResult:
    """Score every candidate by macro ROC AUC of its out-of-fold probabilities on `folds` (ties: first listed)."""
    if not candidates:
        raise PosterGenreError("nothing to search: the grid is empty")
    run = _runner(runner, X, Y, log)
    rows: list[dict[str, Any]] = []
    oofs: dict[str, np.ndarray] = {}
    covered = np.zeros(len(Y), dtype=bool)
    for _, te in folds:
        covered[te] = True
    for cand in candidates:
        t0 = time.perf_counter()
        oof = cross_val_predict(cand, X, Y, folds, runner=run, where=where)
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


def nested_fits(n_candidates: int, outer_folds: int, inner_folds: int) -> int:
    """Fold fits `nested_cv` makes (for progress totals): per outer fold an inner search, then one refit."""
    inner = 1 if inner_folds == 1 else inner_folds
    return outer_folds * ((n_candidates * inner if n_candidates > 1 else 0) + 1)


def nested_cv(
    candidates: Sequence[Candidate],
    X: np.ndarray,
    Y: np.ndarray,
    groups: np.ndarray,
    outer: Sequence[Split],
    *,
    inner_folds: int = 3,
    seed: int = 0,
    log: Log | None = None,
    runner: FoldRunner | None = None,
) -> NestedResult:
    """Honest estimate of search-then-fit: with one candidate this is plain k-fold CV.

    `inner_folds` = 1 searches on a single stratified 25% hold-out of each outer training part (cheaper).
    """
    run = _runner(runner, X, Y, log)
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    chosen, tables = [], []
    for k, (tr, te) in enumerate(outer):
        if len(candidates) > 1:
            local = (
                [holdout(Y[tr], groups[tr], 0.25, seed + 1 + k)]
                if inner_folds == 1
                else kfold(Y[tr], groups[tr], inner_folds, seed + 1 + k)
            )
            inner = [(tr[a], tr[b]) for a, b in local]  # back to rows of the full X / Y
            if log:
                log(f"outer fold {k + 1}/{len(outer)}: inner search over {len(candidates)} candidates")
            res = search(candidates, X, Y, inner, runner=run, where=f"outer {k + 1}/{len(outer)}, inner ")
            best = res.best
            tables.append(res.table())
        else:
            best = candidates[0]
        oof[te] = run.fold(best, tr, te, f"outer fold {k + 1}/{len(outer)}")
        chosen.append(best.label)
    return NestedResult(oof, chosen, tables)
