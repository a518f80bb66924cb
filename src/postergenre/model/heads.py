"""Classification heads on cached poster embeddings, and the torch module that replays a saved head.

Both heads are sklearn-estimator-like (`fit(X, Y)` then `predict_proba(X)`), hold no state beyond their
settings and fitted weights, and are written in torch because full-batch L-BFGS and small MLPs run several
times faster than sklearn's one-vs-rest solvers on 2 cores. Each head standardises its inputs with statistics
of the data it was fitted on and exports the same tensor layout (`mean`, `scale`, `w0`, `b0`[, `w1`, `b1`]),
so one module, `HeadModule`, rebuilds any saved head as a differentiable features -> logits map (prediction
and Grad-CAM both go through it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..errors import ModelError, PosterGenreError

if TYPE_CHECKING:
    from .artifact import ModelArtifact

LOSSES = ("bce", "bce-pos", "asl")
TENSOR_PREFIX = "head."


def _validate(X: np.ndarray, Y: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise PosterGenreError(f"features must be a non-empty 2-D array [N, D], got shape {X.shape}")
    X = X.astype(np.float32, copy=False)
    if not np.isfinite(X).all():
        raise PosterGenreError("features contain NaN or infinite values")
    if Y is None:
        return X, None
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[0] != X.shape[0]:
        raise PosterGenreError(f"labels must be [N, G] with N = {X.shape[0]} rows, got shape {Y.shape}")
    if not np.isin(Y, (0, 1)).all():
        raise PosterGenreError("labels must be multi-hot (only 0 and 1)")
    return X, Y.astype(np.float32)


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


class HeadModule(nn.Module):
    """features [N, D_full] -> logits [N, G]: slice the feature set, standardise, then linear (+ReLU) layers."""

    def __init__(self, tensors: dict[str, np.ndarray], feature_slice: tuple[int, int], prefix: str = TENSOR_PREFIX):
        super().__init__()
        self.start, self.stop = int(feature_slice[0]), int(feature_slice[1])
        t = {k.removeprefix(prefix): torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in tensors.items()
             if k.startswith(prefix) and "." not in k.removeprefix(prefix)}
        if "mean" not in t or "scale" not in t or "w0" not in t:
            raise ModelError(f"head tensors incomplete: have {sorted(t)}, need mean, scale, w0, b0")
        self.register_buffer("mean", t["mean"])
        self.register_buffer("scale", t["scale"])
        # Optional PCA-whitening projection [k, D] applied (without activation) before the layers.
        self.register_buffer("proj", t.get("proj"))
        layers: list[nn.Module] = []
        i = 0
        while f"w{i}" in t:
            w, b = t[f"w{i}"], t[f"b{i}"]
            lin = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            if layers:
                layers.append(nn.ReLU())
            layers.append(lin)
            i += 1
        self.net = nn.Sequential(*layers)
        if self.stop - self.start != self.mean.shape[0]:
            raise ModelError(f"feature slice {self.start}:{self.stop} does not match the head input size {self.mean.shape[0]}")
        self.eval()

    @property
    def n_outputs(self) -> int:
        return self.net[-1].out_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features[:, self.start:self.stop] - self.mean) / self.scale
        if self.proj is not None:
            z = z @ self.proj.T
        return self.net(z)


class EnsembleModule(nn.Module):
    """Mean of the members' probabilities, returned as logits so every head module outputs logits."""

    def __init__(self, members: list[HeadModule]):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.eval()

    @property
    def n_outputs(self) -> int:
        return self.members[0].n_outputs

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        p = torch.stack([torch.sigmoid(m(features)) for m in self.members]).mean(dim=0)
        return torch.logit(p, eps=1e-7)


class _Head:
    """Shared plumbing: settings live in `config`, fitted weights in `tensors_`."""

    type: str = ""

    def __init__(self, **config: Any):
        self.config = self._defaults() | config
        unknown = set(self.config) - set(self._defaults())
        if unknown:
            raise PosterGenreError(f"unknown {self.type} setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(self._defaults()))}")
        self.tensors_: dict[str, np.ndarray] | None = None
        self.n_features_ = 0

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        raise NotImplementedError

    def export(self) -> dict[str, np.ndarray]:
        """Fitted weights under the `head.` prefix, ready for safetensors."""
        if self.tensors_ is None:
            raise ModelError(f"{self.type} head is not fitted")
        return {TENSOR_PREFIX + k: v for k, v in self.tensors_.items()}

    def module(self) -> nn.Module:
        tensors = self.export()
        return build_module(self.type, tensors, (0, self.n_features_))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X, _ = _validate(X)
        mod = self.module()
        if X.shape[1] != self.n_features_:
            raise PosterGenreError(f"{self.type} head was fitted on {self.n_features_} features, got {X.shape[1]}")
        with torch.no_grad():
            return torch.sigmoid(mod(torch.from_numpy(X))).numpy()


class LogRegHead(_Head):
    """Multi-output L2-regularised logistic regression (one independent classifier per genre).

    Trained full-batch with L-BFGS on standardised features; `l2` multiplies the sum of squared weights
    added to the mean binary cross-entropy.
    """

    type = "logreg"

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {"l2": 1e-2, "max_iter": 50, "pca": 0, "seed": 0}

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "LogRegHead":
        X, Y = _validate(X, Y)
        self.n_features_ = X.shape[1]
        torch.manual_seed(int(self.config["seed"]))
        mean, scale = _standardise_stats(X)
        Z = (X - mean) / scale
        k = int(self.config["pca"])
        proj = _pca_projection(Z, k) if 0 < k < Z.shape[1] else None
        xt = torch.from_numpy(Z if proj is None else Z @ proj.T)
        yt = torch.from_numpy(Y)
        w = torch.zeros(xt.shape[1], Y.shape[1], requires_grad=True)
        prior = Y.mean(axis=0).clip(1e-4, 1 - 1e-4)
        b = torch.tensor(np.log(prior / (1 - prior)), dtype=torch.float32, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=int(self.config["max_iter"]), history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-6, tolerance_change=1e-9)
        l2 = float(self.config["l2"])

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self.tensors_ = {"mean": mean, "scale": scale, "w0": w.detach().T.contiguous().numpy(), "b0": b.detach().numpy()}
        if proj is not None:
            self.tensors_["proj"] = proj
        return self


def _asymmetric_loss(logits: torch.Tensor, y: torch.Tensor, gamma_neg: float = 4.0, gamma_pos: float = 0.0,
                     clip: float = 0.05) -> torch.Tensor:
    """Asymmetric loss (Ben-Baruch et al. 2020): down-weights easy negatives, which dominate multi-label data."""
    p = torch.sigmoid(logits)
    p_neg = (p - clip).clamp(min=0) if clip > 0 else p
    loss_pos = y * torch.log(p.clamp(min=1e-8)) * (1 - p) ** gamma_pos
    loss_neg = (1 - y) * torch.log((1 - p_neg).clamp(min=1e-8)) * p_neg ** gamma_neg
    return -(loss_pos + loss_neg).sum(dim=1).mean()


def macro_auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mean ROC AUC over columns with both classes (rank formula; no sklearn overhead inside the epoch loop)."""
    aucs = []
    for j in range(y.shape[1]):
        pos = y[:, j] > 0.5
        n_pos, n_neg = int(pos.sum()), int((~pos).sum())
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = np.empty(len(s), dtype=np.float64)
        order = np.argsort(s[:, j], kind="stable")
        ranks[order] = np.arange(1, len(s) + 1)
        aucs.append((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return float(np.mean(aucs)) if aucs else 0.0


class MLPHead(_Head):
    """One hidden layer (ReLU, dropout) trained jointly on all genres with AdamW.

    Class imbalance: `loss` = "bce" (plain), "bce-pos" (pos_weight = sqrt(negatives/positives) per genre) or
    "asl" (asymmetric loss). Early stopping on a fixed-seed inner validation split (`val_fraction`) by macro
    ROC AUC; the weights of the best epoch are kept.
    """

    type = "mlp"

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {"hidden": 512, "dropout": 0.5, "input_dropout": 0.1, "weight_decay": 1e-2, "lr": 1e-3,
                "loss": "bce", "label_smoothing": 0.0, "batch_size": 512, "max_epochs": 60, "patience": 6,
                "val_fraction": 0.1, "pca": 256, "seed": 0}

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "MLPHead":
        X, Y = _validate(X, Y)
        self.n_features_ = X.shape[1]
        c = self.config
        if c["loss"] not in LOSSES:
            raise PosterGenreError(f"unknown loss {c['loss']!r}; use one of {', '.join(LOSSES)}")
        rng = np.random.default_rng(int(c["seed"]))
        torch.manual_seed(int(c["seed"]))
        n = len(X)
        perm = rng.permutation(n)
        n_val = max(1, int(round(float(c["val_fraction"]) * n))) if n >= 20 else 0
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        mean, scale = _standardise_stats(X[tr_idx])
        Zn = (X - mean) / scale
        k = int(c["pca"])
        proj = _pca_projection(Zn[tr_idx], k) if 0 < k < Zn.shape[1] else None
        Z = torch.from_numpy(Zn if proj is None else Zn @ proj.T)
        Yt = torch.from_numpy(Y)
        d, g, h = Z.shape[1], Y.shape[1], int(c["hidden"])
        net = nn.Sequential(nn.Dropout(float(c["input_dropout"])), nn.Linear(d, h), nn.ReLU(),
                            nn.Dropout(float(c["dropout"])), nn.Linear(h, g))
        prior = Y[tr_idx].mean(axis=0).clip(1e-4, 1 - 1e-4)
        with torch.no_grad():
            net[4].bias.copy_(torch.from_numpy(np.log(prior / (1 - prior)).astype(np.float32)))
        opt = torch.optim.AdamW(net.parameters(), lr=float(c["lr"]), weight_decay=float(c["weight_decay"]))
        pos_weight = torch.from_numpy(np.sqrt((1 - prior) / prior).astype(np.float32)) if c["loss"] == "bce-pos" else None
        smooth = float(c["label_smoothing"])
        bs = int(c["batch_size"])
        best_score, best_state, bad = -math.inf, None, 0
        for _epoch in range(int(c["max_epochs"])):
            net.train()
            order = torch.from_numpy(tr_idx[rng.permutation(len(tr_idx))])
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                y = Yt[idx]
                if smooth:
                    y = y * (1 - smooth) + 0.5 * smooth
                logits = net(Z[idx])
                if c["loss"] == "asl":
                    loss = _asymmetric_loss(logits, y)
                else:
                    loss = nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
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
                if bad >= int(c["patience"]):
                    break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.epochs_ = _epoch + 1
        self.tensors_ = {
            "mean": mean, "scale": scale,
            "w0": net[1].weight.detach().numpy().copy(), "b0": net[1].bias.detach().numpy().copy(),
            "w1": net[4].weight.detach().numpy().copy(), "b1": net[4].bias.detach().numpy().copy(),
        }
        if proj is not None:
            self.tensors_["proj"] = proj
        return self


class EnsembleHead(_Head):
    """A logistic regression and an MLP fitted on the same data; probabilities averaged.

    The two heads err differently (linear vs non-linear decision surfaces), so the mean ranks posters better
    than either. Settings are the members' settings prefixed `logreg.` and `mlp.` (e.g. --param mlp.hidden=256).
    """

    type = "ensemble"
    MEMBERS = ("logreg", "mlp")

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        return {f"{m}.{k}": v for m in cls.MEMBERS for k, v in HEADS[m]._defaults().items()}

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "EnsembleHead":
        X, Y = _validate(X, Y)
        self.n_features_ = X.shape[1]
        self.tensors_ = {}
        for i, m in enumerate(self.MEMBERS):
            cfg = {k.split(".", 1)[1]: v for k, v in self.config.items() if k.startswith(m + ".")}
            member = HEADS[m](**cfg).fit(X, Y)
            self.tensors_ |= {f"m{i}.{k}": v for k, v in member.tensors_.items()}
        return self


HEADS: dict[str, type[_Head]] = {"logreg": LogRegHead, "mlp": MLPHead, "ensemble": EnsembleHead}


def build_module(head_type: str, tensors: dict[str, np.ndarray], feature_slice: tuple[int, int]) -> nn.Module:
    """The torch module of a head type from its exported tensors (see HeadModule / EnsembleModule)."""
    if head_type == "ensemble":
        members = sorted({k.split(".")[1] for k in tensors if k.startswith(TENSOR_PREFIX + "m")})
        if not members:
            raise ModelError("ensemble head has no member tensors")
        return EnsembleModule([HeadModule(tensors, feature_slice, prefix=f"{TENSOR_PREFIX}{m}.") for m in members])
    return HeadModule(tensors, feature_slice)


def make_head(head_type: str, config: dict[str, Any] | None = None) -> _Head:
    """A fresh, unfitted head of `head_type` with `config` overriding its defaults."""
    if head_type not in HEADS:
        raise PosterGenreError(f"unknown head {head_type!r}; use one of {', '.join(HEADS)}")
    return HEADS[head_type](**(config or {}))


def head_module(artifact: "ModelArtifact") -> nn.Module:
    """The saved head as a torch module mapping the full cached feature vector [N, D_full] to logits [N, G]."""
    start, stop = artifact.head_config["feature_slice"]
    mod = build_module(artifact.head_type, artifact.tensors, (start, stop))
    if mod.n_outputs != len(artifact.genres):
        raise ModelError(f"head has {mod.n_outputs} outputs but the model lists {len(artifact.genres)} genres")
    return mod
