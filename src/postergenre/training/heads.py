"""Classification heads on cached poster embeddings (fitting; `model/head_module.py` replays a saved head).

The heads are scikit-learn estimators (`BaseEstimator`): the constructor only stores its keyword parameters,
`fit(X, Y, sample_weight=None)` validates them and the data and returns self, and everything learned ends in
`_` and exists only after `fit`; so `get_params`/`set_params`/`clone` and `sklearn.model_selection` work on
them. They are written in torch because full-batch L-BFGS and small MLPs run several times faster than
sklearn's one-vs-rest solvers on 2 cores. Each head standardises its inputs with statistics of the data it was
fitted on and exports the same tensor layout (`mean`, `scale`, `w0`, `b0`[, `w1`, `b1`][, `proj`]), so one
module, `HeadModule`, rebuilds any saved head as a differentiable features -> logits map (prediction and
Grad-CAM both go through it); `head_forward.logits` is the same map in numpy.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..errors import ModelError, PosterGenreError
from ..labelled.metrics import macro_auc
from ..model.head_module import build_module
from ..model.head_types import ENSEMBLE_MEMBERS, HEAD_TYPES, TENSOR_PREFIX

__all__ = ["HEADS", "LOSSES", "EnsembleHead", "LogRegHead", "MLPHead", "make_head"]

LOSSES = ("bce", "bce-pos", "asl")


# ------------------------------------------------------------------------------------ validation
def _validate(X: np.ndarray, Y: np.ndarray | None = None,
              sample_weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise PosterGenreError(f"features must be a non-empty 2-D array [N, D], got shape {X.shape}")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise PosterGenreError("features contain NaN or infinite values")
    if Y is None:
        return X, None, None
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
        raise PosterGenreError(f"labels must be [N, G] with N = {X.shape[0]} rows, got shape {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise PosterGenreError("labels must be multi-hot (only 0 and 1)")
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (X.shape[0],):
            raise PosterGenreError(f"sample_weight must have one weight per row ({X.shape[0]}), got shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise PosterGenreError("sample_weight must be finite, >= 0 and not all 0")
        w = (w / w.mean()).astype(np.float32)  # mean 1: the regularisation strength keeps its meaning
    return X, Y.astype(np.float32), w


class _Range:
    """Allowed values of one head parameter, with the sentence an error message uses."""

    def __init__(self, kind: str, low: float | None = None, high: float | None = None, *, low_open: bool = False,
                 high_open: bool = False, choices: tuple[str, ...] = ()):
        self.kind, self.low, self.high, self.low_open, self.high_open, self.choices = kind, low, high, low_open, high_open, choices

    def ok(self, v: Any) -> bool:
        if self.kind == "choice":
            return v in self.choices
        if isinstance(v, bool) or not isinstance(v, Integral if self.kind == "int" else Real):
            return False
        if not math.isfinite(float(v)):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        what = "an integer" if self.kind == "int" else "a number"
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            bounds.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return what + (" " + " and ".join(bounds) if bounds else "")


def _check_params(head: "_Head") -> None:
    """sklearn-style parameter validation at the start of `fit`: name, value and the allowed range."""
    for name, allowed in head._ranges.items():
        value = getattr(head, name)
        if not allowed.ok(value):
            raise PosterGenreError(f"{head.head_type} setting {name}={value!r} is invalid: must be {allowed.describe()}")


# ------------------------------------------------------------------------------------ torch modules
def _pca_projection(Z: np.ndarray, k: int) -> np.ndarray:
    """Whitening projection [k, D] onto the top-k principal components of standardised features `Z`.

    Fitting the heads in k << D dimensions makes each epoch several times cheaper on 2 cores; whitening puts
    every kept direction on the same scale so one weight decay suits all of them.
    """
    zt = torch.from_numpy(Z)
    cov = (zt.T @ zt) / max(len(Z) - 1, 1)
    evals, evecs = torch.linalg.eigh(cov)  # float32: 4x faster than float64 on 2 cores, ample for a projection
    top = torch.argsort(evals, descending=True)[:k]
    proj = evecs[:, top] / torch.sqrt(evals[top].clamp(min=1e-6))[None, :]
    return proj.T.contiguous().float().numpy()


def _standardise_stats(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = X.mean(axis=0, dtype=np.float64)
    std = X.std(axis=0, dtype=np.float64)
    # Constant features (std 0) would blow up; scale 1 leaves them centred at 0.
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


# ------------------------------------------------------------------------------------ estimators
class _Head(BaseEstimator):
    """Shared plumbing: parameters are constructor keywords; fitted weights live in `tensors_`."""

    head_type: str = ""
    _ranges: dict[str, _Range] = {}

    def export(self) -> dict[str, np.ndarray]:
        """Fitted weights under the `head.` prefix, ready for safetensors."""
        self._check_fitted()
        return {TENSOR_PREFIX + k: v for k, v in self.tensors_.items()}

    def _check_fitted(self) -> None:
        try:
            check_is_fitted(self, "tensors_")
        except NotFittedError as exc:
            raise ModelError(f"{self.head_type} head is not fitted: call fit first") from exc

    def module(self) -> nn.Module:
        return build_module(self.head_type, self.export(), (0, self.n_features_in_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        self._check_fitted()
        X, _, _ = _validate(X)
        if X.shape[1] != self.n_features_in_:
            raise PosterGenreError(f"{self.head_type} head was fitted on {self.n_features_in_} features, got {X.shape[1]}")
        with torch.no_grad():
            return torch.sigmoid(self.module()(torch.from_numpy(X))).numpy()


def _bce(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean binary cross-entropy over cells; with per-row weights `w` (mean 1) each row's cells count w times."""
    weight = None if w is None else w[:, None]
    return nn.functional.binary_cross_entropy_with_logits(logits, y, weight=weight, pos_weight=pos_weight)


class LogRegHead(_Head):
    """Multi-output L2-regularised logistic regression (one independent classifier per genre).

    Trained full-batch with L-BFGS on standardised features; `l2` multiplies the sum of squared weights
    added to the mean binary cross-entropy. `pca` > 0 fits in that many whitened principal directions.
    """

    head_type = "logreg"
    _ranges = {"l2": _Range("float", 0.0), "max_iter": _Range("int", 1), "pca": _Range("int", 0),
               "seed": _Range("int", 0)}

    def __init__(self, *, l2: float = 1e-2, max_iter: int = 50, pca: int = 0, seed: int = 0):
        self.l2 = l2
        self.max_iter = max_iter
        self.pca = pca
        self.seed = seed

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "LogRegHead":
        _check_params(self)
        X, Y, sw = _validate(X, Y, sample_weight)
        torch.manual_seed(self.seed)
        mean, scale = _standardise_stats(X)
        Z = (X - mean) / scale
        proj = _pca_projection(Z, self.pca) if 0 < self.pca < Z.shape[1] else None
        xt = torch.from_numpy(Z if proj is None else Z @ proj.T)
        yt = torch.from_numpy(Y)
        wt = None if sw is None else torch.from_numpy(sw)
        w = torch.zeros(xt.shape[1], Y.shape[1], requires_grad=True)
        prior = Y.mean(axis=0).clip(1e-4, 1 - 1e-4)
        b = torch.tensor(np.log(prior / (1 - prior)), dtype=torch.float32, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=self.max_iter, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)
        l2 = float(self.l2)

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = _bce(xt @ w + b, yt, wt) + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        tensors = {"mean": mean, "scale": scale, "w0": w.detach().T.contiguous().numpy(), "b0": b.detach().numpy()}
        if proj is not None:
            tensors["proj"] = proj
        self.n_features_in_ = X.shape[1]
        self.tensors_ = tensors
        return self


def _asymmetric_loss(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None, gamma_neg: float = 4.0,
                     gamma_pos: float = 0.0, clip: float = 0.05) -> torch.Tensor:
    """Asymmetric loss (Ben-Baruch et al. 2020): down-weights easy negatives, which dominate multi-label data."""
    p = torch.sigmoid(logits)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = y * torch.log(p.clamp(min=1e-8)) * (1 - p) ** gamma_pos
    loss_neg = (1 - y) * torch.log((1 - p_neg).clamp(min=1e-8)) * p_neg ** gamma_neg
    per_row = -(loss_pos + loss_neg).sum(dim=1)
    return (per_row if w is None else per_row * w).mean()


class MLPHead(_Head):
    """One hidden layer (ReLU, dropout) trained jointly on all genres with AdamW.

    Class imbalance: `loss` = "bce" (plain), "bce-pos" (pos_weight = sqrt(negatives/positives) per genre) or
    "asl" (asymmetric loss). Early stopping on a fixed-seed inner validation split (`val_fraction`) by macro
    ROC AUC; the weights of the best epoch are kept.
    """

    head_type = "mlp"
    _ranges = {
        "hidden": _Range("int", 1), "dropout": _Range("float", 0.0, 1.0, high_open=True),
        "input_dropout": _Range("float", 0.0, 1.0, high_open=True), "weight_decay": _Range("float", 0.0),
        "lr": _Range("float", 0.0, low_open=True), "loss": _Range("choice", choices=LOSSES),
        "label_smoothing": _Range("float", 0.0, 1.0, high_open=True), "batch_size": _Range("int", 1),
        "max_epochs": _Range("int", 1), "patience": _Range("int", 1),
        "val_fraction": _Range("float", 0.0, 0.5, low_open=True), "pca": _Range("int", 0), "seed": _Range("int", 0),
    }

    def __init__(self, *, hidden: int = 512, dropout: float = 0.5, input_dropout: float = 0.1,
                 weight_decay: float = 1e-2, lr: float = 1e-3, loss: str = "bce", label_smoothing: float = 0.0,
                 batch_size: int = 512, max_epochs: int = 60, patience: int = 6, val_fraction: float = 0.1,
                 pca: int = 256, seed: int = 0):
        self.hidden = hidden
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.weight_decay = weight_decay
        self.lr = lr
        self.loss = loss
        self.label_smoothing = label_smoothing
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.val_fraction = val_fraction
        self.pca = pca
        self.seed = seed

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "MLPHead":
        _check_params(self)
        X, Y, sw = _validate(X, Y, sample_weight)
        rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        n = len(X)
        perm = rng.permutation(n)
        n_val = max(1, int(round(float(self.val_fraction) * n))) if n >= 20 else 0
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        mean, scale = _standardise_stats(X[tr_idx])
        Zn = (X - mean) / scale
        proj = _pca_projection(Zn[tr_idx], self.pca) if 0 < self.pca < Zn.shape[1] else None
        Z = torch.from_numpy(Zn if proj is None else Zn @ proj.T)
        Yt = torch.from_numpy(Y)
        Wt = None if sw is None else torch.from_numpy(sw)
        d, g = Z.shape[1], Y.shape[1]
        net = nn.Sequential(nn.Dropout(float(self.input_dropout)), nn.Linear(d, self.hidden), nn.ReLU(),
                            nn.Dropout(float(self.dropout)), nn.Linear(self.hidden, g))
        prior = Y[tr_idx].mean(axis=0).clip(1e-4, 1 - 1e-4)
        with torch.no_grad():
            net[4].bias.copy_(torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)))
        opt = torch.optim.AdamW(net.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
        pos_weight = torch.from_numpy(np.sqrt((1 - prior) / prior).astype(np.float32)) if self.loss == "bce-pos" else None
        smooth = float(self.label_smoothing)
        best_score, best_state, bad, epochs = -math.inf, None, 0, 0
        for _ in range(self.max_epochs):
            epochs += 1
            net.train()
            order = torch.from_numpy(tr_idx[rng.permutation(len(tr_idx))])
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                y = Yt[idx]
                if smooth:
                    y = y * (1 - smooth) + 0.5 * smooth
                w = None if Wt is None else Wt[idx]
                logits = net(Z[idx])
                loss = _asymmetric_loss(logits, y, w) if self.loss == "asl" else _bce(logits, y, w, pos_weight)
                opt.zero_grad()
                loss.backward()
                opt.step()
            if n_val == 0:
                continue
            net.eval()
            with torch.no_grad():
                score = macro_auc(Y[val_idx], net(Z[val_idx]).numpy())
            if score > best_score + 1e-4:
                best_score, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        tensors = {
            "mean": mean, "scale": scale,
            "w0": net[1].weight.detach().numpy().copy(), "b0": net[1].bias.detach().numpy().copy(),
            "w1": net[4].weight.detach().numpy().copy(), "b1": net[4].bias.detach().numpy().copy(),
        }
        if proj is not None:
            tensors["proj"] = proj
        self.n_features_in_ = X.shape[1]
        self.epochs_ = epochs
        self.tensors_ = tensors
        return self


class EnsembleHead(_Head):
    """A logistic regression and an MLP fitted on the same data; probabilities averaged.

    The two heads err differently (linear vs non-linear decision surfaces), so the mean ranks posters better
    than either. The members are parameters (sklearn's composite-estimator convention): their settings are
    `logreg__l2`, `mlp__hidden`, ... (the CLI also accepts `--param logreg.l2=...`).
    """

    head_type = "ensemble"

    def __init__(self, *, logreg: LogRegHead | None = None, mlp: MLPHead | None = None):
        self.logreg = logreg
        self.mlp = mlp

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> "EnsembleHead":
        given = {"logreg": self.logreg, "mlp": self.mlp}
        for name, member in given.items():
            if member is not None and not isinstance(member, HEADS[name]):
                raise PosterGenreError(f"ensemble member {name} must be a {HEADS[name].__name__}, got {type(member).__name__}")
        X, _, _ = _validate(X, Y, sample_weight)
        tensors: dict[str, np.ndarray] = {}
        fitted = []
        for i, name in enumerate(ENSEMBLE_MEMBERS):
            member = clone(given[name]) if given[name] is not None else HEADS[name]()
            member.fit(X, Y, sample_weight=sample_weight)
            fitted.append(member)
            tensors |= {f"m{i}.{k}": v for k, v in member.tensors_.items()}
        self.n_features_in_ = X.shape[1]
        self.members_ = fitted
        self.tensors_ = tensors
        return self


HEADS: dict[str, type[_Head]] = {"logreg": LogRegHead, "mlp": MLPHead, "ensemble": EnsembleHead}
assert tuple(HEADS) == HEAD_TYPES  # head_types.HEAD_TYPES is the torch-free copy of these names


def param_names(head_type: str) -> list[str]:
    """Settable parameter names of a head type (ensemble: its members' settings as `member__name`)."""
    return sorted(make_head(head_type).get_params(deep=True).keys() - set(ENSEMBLE_MEMBERS))


def make_head(head_type: str, params: dict[str, Any] | None = None) -> _Head:
    """A fresh, unfitted head of `head_type` with `params` set (names checked here, values in `fit`).

    Member settings of the ensemble may be written `logreg.l2` or `logreg__l2`.
    """
    if head_type not in HEADS:
        raise PosterGenreError(f"unknown head {head_type!r}; use one of {', '.join(HEADS)}")
    head = (EnsembleHead(logreg=LogRegHead(), mlp=MLPHead()) if head_type == "ensemble" else HEADS[head_type]())
    params = {k.replace(".", "__"): v for k, v in (params or {}).items()}
    known = set(head.get_params(deep=True)) - set(ENSEMBLE_MEMBERS)
    unknown = sorted(set(params) - known)
    if unknown:
        raise PosterGenreError(f"unknown {head_type} setting(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return head.set_params(**params)


def check_head_params(head_type: str, params: dict[str, Any]) -> None:
    """Raise PosterGenreError naming the first bad setting (name or value), before any data is loaded."""
    head = make_head(head_type, params)
    for est in ([head.logreg, head.mlp] if isinstance(head, EnsembleHead) else [head]):
        _check_params(est)
