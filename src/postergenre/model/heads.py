"""Poster heads: genre logits from cached poster embeddings (parts named "logreg", "mlp" and "ensemble").

Each head follows the parts' contract (`parts.py`): scikit-learn's estimator conventions, `fit(X, Y, sample_weight)`
returning self, `decision_function`/`predict_proba`, `to_tensors`/`from_saved`, and a torch view for Grad-CAM.
Logistic regression and the MLP save one tensor layout, a stack of linear layers on standardised features (`mean`,
`scale`[, `proj`], `w0`, `b0`[, `w1`, `b1`]) that `StackHead` replays in numpy (float32, no torch) and as a torch
module; the ensemble is a part made of those two parts (tensors `m0.*`, `m1.*`). Fitting runs in torch
(`head_fitting.py`), imported only by `fit`.

Settings are checked at the start of `fit` (and by `check_head_params` before any data is loaded), each against its
allowed range, so an error names the setting, its value and what it may be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np

from ..errors import ModelError, PosterGenreError
from .logistic import PROBABILITY_EPS, logit, sigmoid
from .parts import PosterHead, Tensors, get_part, part_names, register_part, under

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "LOSSES",
    "EnsembleHead",
    "LogRegHead",
    "MLPHead",
    "StackHead",
    "check_head_params",
    "head_names",
    "make_head",
    "param_names",
]

LOSSES = ("bce", "bce-pos", "asl")
COMPACT = ("w0", "proj")
"""The large matrices a compact model stores as float16 (halves the bundled file; probabilities move < 1e-3)."""


# ------------------------------------------------------------------------------------ validation
def _validate(
    X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    X = _features(X)
    if X.shape[0] == 0:
        raise PosterGenreError(f"features must be a non-empty 2-D array [N, D], got shape {X.shape}")
    if not np.isfinite(X).all():
        raise PosterGenreError("features contain NaN or infinite values")
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


def _features(X: np.ndarray) -> np.ndarray:
    """Features [N, D] as float32 (N may be 0 when predicting)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] == 0:
        raise PosterGenreError(f"features must be a 2-D array [N, D], got shape {X.shape}")
    return X.astype(np.float32, copy=False)


class _Range:
    """Allowed values of one head parameter, with the sentence an error message uses."""

    def __init__(
        self,
        kind: str,
        low: float | None = None,
        high: float | None = None,
        *,
        low_open: bool = False,
        high_open: bool = False,
        choices: tuple[str, ...] = (),
    ):
        self.kind, self.low, self.high, self.choices = kind, low, high, choices
        self.low_open, self.high_open = low_open, high_open

    def ok(self, v: Any) -> bool:
        if self.kind == "choice":
            return v in self.choices
        if isinstance(v, bool) or not isinstance(v, Integral if self.kind == "int" else Real):
            return False
        x = float(v)
        if not math.isfinite(x):
            return False
        if self.low is not None and (x <= self.low if self.low_open else x < self.low):
            return False
        return not (self.high is not None and (x >= self.high if self.high_open else x > self.high))

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


# ------------------------------------------------------------------------------------ the stack layout
class StackHead(PosterHead):
    """A head saved as linear layers on standardised features: z = (x - mean) / scale [@ proj.T], then
    w0, b0 [, ReLU, w1, b1 ...]. Fitted state: `tensors_` (the layout), `n_features_in_`, `n_outputs_`."""

    _ranges: ClassVar[dict[str, _Range]] = {}
    tensors_: dict[str, np.ndarray]

    def _check_params(self) -> None:
        """scikit-learn-style parameter validation at the start of `fit`: name, value and the allowed range."""
        for name, allowed in self._ranges.items():
            value = getattr(self, name)
            if not allowed.ok(value):
                raise PosterGenreError(
                    f"{self.part_name} setting {name}={value!r} is invalid: must be {allowed.describe()}"
                )

    def _fitted(self, tensors: Mapping[str, np.ndarray]) -> None:
        """Take a layout (fitted here or loaded), checked, with its float32 copy for the forward pass."""
        self._forward = _check_layout(tensors)
        self.tensors_ = dict(tensors)
        self.n_features_in_ = int(self._forward["mean"].shape[0])
        self.n_outputs_ = int(self._forward[f"w{_depth(self._forward) - 1}"].shape[0])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        self._require_fitted("tensors_")
        x = _features(X)
        if x.shape[1] != self.n_features_in_:
            raise PosterGenreError(
                f"{self.part_name} head was fitted on {self.n_features_in_} features, got {x.shape[1]}"
            )
        t = self._forward
        z = (x - t["mean"]) / t["scale"]
        if "proj" in t:
            z = z @ t["proj"].T
        for i in range(_depth(t)):
            if i:
                z = np.maximum(z, 0.0)
            z = z @ t[f"w{i}"].T + t[f"b{i}"]
        return np.asarray(z, dtype=np.float32)

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        self._require_fitted("tensors_")
        return {k: (v.astype(np.float16) if compact and k in COMPACT else v) for k, v in self.tensors_.items()}

    def config(self) -> dict[str, Any]:
        return self.get_params(deep=False)

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> StackHead:
        head = cast(StackHead, make_head(cls.part_name, config, saved=True))
        head._fitted(tensors)
        return head

    def torch_view(self) -> nn.Module:
        from .torch_views import StackModule

        self._require_fitted("tensors_")
        return StackModule(self._forward)


def _depth(t: Mapping[str, np.ndarray]) -> int:
    i = 0
    while f"w{i}" in t:
        i += 1
    return i


def _check_layout(tensors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The layout as float32, after checking it: mean, scale [width] -> optional proj [k, width] -> w0, b0, w1, b1,
    ... each layer taking the previous one's outputs. ModelError names the tensor at fault."""
    for name in ("mean", "scale", "w0", "b0"):
        if name not in tensors:
            raise ModelError(f"tensor {name} is missing")
    t = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
    width = t["mean"].shape[0] if t["mean"].ndim == 1 else -1
    if width <= 0 or t["scale"].shape != (width,):
        raise ModelError(
            f"tensors mean and scale have shapes {list(t['mean'].shape)} and {list(t['scale'].shape)}, "
            "expected one [width] each"
        )
    if not np.all(t["scale"] != 0):
        raise ModelError("tensor scale has zeros (features would be divided by zero)")
    inputs = width
    if "proj" in t:
        if t["proj"].ndim != 2 or t["proj"].shape[1] != width:
            raise ModelError(f"tensor proj has shape {list(t['proj'].shape)}, expected [k, {width}]")
        inputs = t["proj"].shape[0]
    for i in range(_depth(t)):
        w, b = t[f"w{i}"], t.get(f"b{i}")
        if w.ndim != 2 or w.shape[1] != inputs:
            raise ModelError(f"tensor w{i} has shape {list(w.shape)}, expected [*, {inputs}]")
        if b is None or b.shape != (w.shape[0],):
            found = "missing" if b is None else f"shape {list(b.shape)}"
            raise ModelError(f"tensor b{i} is {found}, expected [{w.shape[0]}]")
        inputs = w.shape[0]
    return t


@register_part("logreg")
class LogRegHead(StackHead):
    """Multi-output L2-regularised logistic regression (one independent classifier per genre).

    Trained full-batch with L-BFGS on standardised features; `l2` multiplies the sum of squared weights
    added to the mean binary cross-entropy. `pca` > 0 fits in that many whitened principal directions.
    """

    _ranges: ClassVar[dict[str, _Range]] = {
        "l2": _Range("float", 0.0),
        "max_iter": _Range("int", 1),
        "pca": _Range("int", 0),
        "seed": _Range("int", 0),
    }

    def __init__(self, *, l2: float = 1e-2, max_iter: int = 50, pca: int = 0, seed: int = 0):
        self.l2 = l2
        self.max_iter = max_iter
        self.pca = pca
        self.seed = seed

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> LogRegHead:
        from .head_fitting import fit_logreg

        self._check_params()
        X, Y, sw = _validate(X, Y, sample_weight)
        self._fitted(fit_logreg(X, Y, sw, l2=self.l2, max_iter=self.max_iter, pca=self.pca, seed=self.seed))
        return self


@register_part("mlp")
class MLPHead(StackHead):
    """One hidden layer (ReLU, dropout) trained jointly on all genres with AdamW.

    Class imbalance: `loss` = "bce" (plain), "bce-pos" (pos_weight = sqrt(negatives/positives) per genre) or
    "asl" (asymmetric loss). Early stopping on a fixed-seed inner validation split (`val_fraction`) by macro
    ROC AUC; the weights of the best epoch are kept (`epochs_`: how many ran).
    """

    _ranges: ClassVar[dict[str, _Range]] = {
        "hidden": _Range("int", 1),
        "dropout": _Range("float", 0.0, 1.0, high_open=True),
        "input_dropout": _Range("float", 0.0, 1.0, high_open=True),
        "weight_decay": _Range("float", 0.0),
        "lr": _Range("float", 0.0, low_open=True),
        "loss": _Range("choice", choices=LOSSES),
        "label_smoothing": _Range("float", 0.0, 1.0, high_open=True),
        "batch_size": _Range("int", 1),
        "max_epochs": _Range("int", 1),
        "patience": _Range("int", 1),
        "val_fraction": _Range("float", 0.0, 0.5, low_open=True),
        "pca": _Range("int", 0),
        "seed": _Range("int", 0),
    }

    def __init__(
        self,
        *,
        hidden: int = 512,
        dropout: float = 0.5,
        input_dropout: float = 0.1,
        weight_decay: float = 1e-2,
        lr: float = 1e-3,
        loss: str = "bce",
        label_smoothing: float = 0.0,
        batch_size: int = 512,
        max_epochs: int = 60,
        patience: int = 6,
        val_fraction: float = 0.1,
        pca: int = 256,
        seed: int = 0,
    ):
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

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> MLPHead:
        from .head_fitting import MLPSettings, fit_mlp

        self._check_params()
        X, Y, sw = _validate(X, Y, sample_weight)
        tensors, self.epochs_ = fit_mlp(X, Y, sw, MLPSettings(**self.get_params(deep=False)))
        self._fitted(tensors)
        return self


# ------------------------------------------------------------------------------------ the ensemble
@register_part("ensemble")
class EnsembleHead(PosterHead):
    """A logistic regression and an MLP fitted on the same data; probabilities averaged (logits: the logit of the
    mean, clipped at `logistic.PROBABILITY_EPS`).

    The two heads err differently (linear vs non-linear decision surfaces), so the mean ranks posters better
    than either. The members are parameters (scikit-learn's composite-estimator convention): their settings are
    `logreg__l2`, `mlp__hidden`, ... (the CLI also accepts `--param logreg.l2=...`); fitted: `members_`.
    """

    MEMBERS: ClassVar[tuple[str, ...]] = ("logreg", "mlp")
    """Member parts, in the order of their saved tensors (`m0.*`, `m1.*`)."""

    def __init__(self, *, logreg: LogRegHead | None = None, mlp: MLPHead | None = None):
        self.logreg = logreg
        self.mlp = mlp

    def _given(self) -> list[StackHead]:
        """The member estimators as set (a default one where none is)."""
        out: list[StackHead] = []
        for name in self.MEMBERS:
            member, cls = getattr(self, name), get_part(name, StackHead)
            if member is not None and not isinstance(member, cls):
                raise PosterGenreError(f"ensemble member {name} must be a {cls.__name__}, got {type(member).__name__}")
            out.append(cls() if member is None else member)
        return out

    def fit(self, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> EnsembleHead:
        from sklearn.base import clone

        given = self._given()
        X, _, _ = _validate(X, Y, sample_weight)
        self.members_ = [clone(member).fit(X, Y, sample_weight=sample_weight) for member in given]
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = self.members_[0].n_outputs_
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        self._require_fitted("members_")
        p = np.mean([sigmoid(m.decision_function(X)) for m in self.members_], axis=0)
        return logit(p, PROBABILITY_EPS).astype(np.float32)

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        self._require_fitted("members_")
        return {f"m{i}.{k}": v for i, m in enumerate(self.members_) for k, v in m.to_tensors(compact).items()}

    def config(self) -> dict[str, Any]:
        return {k: v for k, v in self.get_params(deep=True).items() if k not in self.MEMBERS}

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> EnsembleHead:
        head = cast(EnsembleHead, make_head(cls.part_name, config, saved=True))
        members = []
        for i, member in enumerate(head._given()):
            try:
                members.append(type(member).from_saved(under(tensors, f"m{i}."), member.get_params(deep=False)))
            except ModelError as exc:
                raise ModelError(f"member m{i} ({member.part_name}): {exc}") from None
        if len({m.n_features_in_ for m in members}) != 1 or len({m.n_outputs_ for m in members}) != 1:
            raise ModelError("ensemble members differ in their inputs or outputs")
        head.members_ = members
        head.n_features_in_, head.n_outputs_ = members[0].n_features_in_, members[0].n_outputs_
        return head

    def torch_view(self) -> nn.Module:
        from .torch_views import EnsembleModule

        self._require_fitted("members_")
        return EnsembleModule([m.torch_view() for m in self.members_], PROBABILITY_EPS)


# ------------------------------------------------------------------------------------ by name
def head_names() -> list[str]:
    """The registered poster heads, as `postergenre train --head` names them."""
    return part_names(PosterHead)


def make_head(head_type: str, params: Mapping[str, Any] | None = None, *, saved: bool = False) -> PosterHead:
    """A fresh, unfitted head of `head_type` with `params` set (names checked here, values in `fit`), built without
    scikit-learn (a saved head is rebuilt from its settings while answering).

    Member settings of the ensemble may be written `logreg.l2` or `logreg__l2`. `saved`: the settings come from a
    model file, so a bad one is a ModelError.
    """
    error = ModelError if saved else PosterGenreError
    try:
        cls = get_part(head_type, PosterHead)
    except ModelError:
        raise error(f"unknown head {head_type!r}; use one of {', '.join(head_names())}") from None
    members: dict[str, type[StackHead]] = {m: get_part(m, StackHead) for m in getattr(cls, "MEMBERS", ())}
    own: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {m: {} for m in members}
    for key, value in (params or {}).items():
        name, sep, sub = key.replace(".", "__").partition("__")
        if sep and name in nested:
            nested[name][sub] = value
        else:
            own[key.replace(".", "__")] = value
    known = _settings(cls, members)
    unknown = sorted((set(own) | {f"{m}__{k}" for m, sub in nested.items() for k in sub}) - set(known))
    if unknown:
        raise error(f"unknown {head_type} setting(s): {', '.join(unknown)}; known: {', '.join(known)}")
    return cls(**own, **{m: member(**nested[m]) for m, member in members.items()})


def _settings(cls: type[PosterHead], members: Mapping[str, type[StackHead]]) -> list[str]:
    """The settings of a head class, a member's as `member__name` (scikit-learn's nested names), sorted."""
    own = [n for n in cls._get_param_names() if n not in members]
    return sorted(own + [f"{m}__{n}" for m, member in members.items() for n in member._get_param_names()])


def param_names(head_type: str) -> list[str]:
    """Settable parameter names of a head type (ensemble: its members' settings as `member__name`)."""
    cls = get_part(head_type, PosterHead)
    return _settings(cls, {m: get_part(m, StackHead) for m in getattr(cls, "MEMBERS", ())})


def check_head_params(head_type: str, params: Mapping[str, Any]) -> None:
    """Raise PosterGenreError naming the first bad setting (name or value), before any data is loaded."""
    head = make_head(head_type, params)
    for est in head._given() if isinstance(head, EnsembleHead) else [cast(StackHead, head)]:
        est._check_params()
