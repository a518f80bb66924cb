"""Does an input look like a movie poster? A distance from the training posters in embedding space.

A genre head answers confidently for any image, so a holiday photo or a flat colour block would get genres.
The check models the training embeddings as a Gaussian in their top principal directions plus an isotropic
residual: the score adds the Mahalanobis distance inside the subspace and the energy left outside it, each
divided by its mean over held-out training posters, so a typical poster scores about 2. The threshold is a
high percentile of those held-out posters' scores. Only aggregate statistics are stored (mean, scale, components, variances,
threshold), never a row per poster.

An input is flagged above the threshold plus `REENCODE_MARGIN`: re-encoding a poster moves its score (a 64-colour
palette by about ±0.4 near the bar, std over 270 shared posters; the 95th percentile of the shift is 0.64), so without
the margin a poster just under the bar is called "not a movie poster" after an agency's GIF/PNG export. What is no
poster at all scores far above it (flat colours 8-9, noise 12-14, most photographs and screenshots 5-6).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError

PREFIX = "poster_check."
DEFAULT_COMPONENTS = 32
DEFAULT_PERCENTILE = 99.5
REENCODE_MARGIN = 0.6
"""Score units added to the threshold before an input is flagged (see the module docstring); models fitted before it
existed get it too."""


def _parts(Z: np.ndarray, components: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proj = Z @ components.T  # [N, k]
    inside = (proj**2 / variances[None, :]).sum(axis=1)
    outside = np.maximum((Z**2).sum(axis=1) - (proj**2).sum(axis=1), 0.0)
    return inside, outside


def _stats(X: np.ndarray, components: int) -> dict[str, np.ndarray]:
    import torch  # fitting only: scoring (the predict path) stays torch-free

    mean = X.mean(axis=0)
    std = X.std(axis=0)
    scale = np.where(std > 1e-6, std, 1.0)
    Zt = torch.from_numpy(((X - mean) / scale).astype(np.float32))
    n, d = Zt.shape
    k = int(min(components, d - 1, n - 1))
    if n < d:
        # Fewer posters than features: the top eigenvectors of the [D, D] covariance are Z^T u / |Z^T u| for
        # the eigenvectors u of the [N, N] Gram matrix, with the same eigenvalues; far cheaper to decompose.
        evals, u = torch.linalg.eigh((Zt @ Zt.T) / (n - 1))
        top = torch.argsort(evals, descending=True)[:k]
        vecs = Zt.T @ u[:, top]
        vecs = vecs / vecs.norm(dim=0, keepdim=True).clamp(min=1e-12)
    else:
        evals, evecs = torch.linalg.eigh((Zt.T @ Zt) / (n - 1))
        top = torch.argsort(evals, descending=True)[:k]
        vecs = evecs[:, top]
    return {
        PREFIX + "mean": mean.astype(np.float32),
        PREFIX + "scale": scale.astype(np.float32),
        PREFIX + "components": vecs.T.contiguous().numpy().astype(np.float32),
        PREFIX + "variances": evals[top].clamp(min=1e-9).numpy().astype(np.float32),
    }


def _raw(X: np.ndarray, tensors: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t = {k: v.astype(np.float64) for k, v in tensors.items()}
    Z = (X - t[PREFIX + "mean"]) / t[PREFIX + "scale"]
    return _parts(Z, t[PREFIX + "components"], t[PREFIX + "variances"])


def fit_poster_check(X: np.ndarray, *, components: int = DEFAULT_COMPONENTS, percentile: float = DEFAULT_PERCENTILE,
                     calibration_fraction: float = 0.2, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Statistics of training embeddings `X` [N, D] (the full cached vectors) and the config to score new ones.

    The statistics come from one part of the posters and the score normalisers and threshold from the rest
    (`calibration_fraction`): a poster's distance to statistics fitted on itself is smaller than a new
    poster's, so a threshold taken from in-sample scores would flag too many genuine new posters.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 20:
        raise PosterGenreError(f"poster check needs at least 20 training embeddings [N, D], got shape {X.shape}")
    order = np.random.default_rng(seed).permutation(len(X))
    n_cal = max(10, int(round(calibration_fraction * len(X))))
    fit_rows, cal_rows = order[n_cal:], order[:n_cal]
    tensors = _stats(X[fit_rows], components)
    inside, outside = _raw(X[cal_rows], tensors)
    inside_mean, outside_mean = float(max(inside.mean(), 1e-9)), float(max(outside.mean(), 1e-9))
    scores = inside / inside_mean + outside / outside_mean
    config = {
        "components": int(tensors[PREFIX + "components"].shape[0]),
        "inside_mean": inside_mean,
        "outside_mean": outside_mean,
        "percentile": float(percentile),
        "threshold": float(np.percentile(scores, percentile)),
        "reencode_margin": REENCODE_MARGIN,
        "feature_dim": int(X.shape[1]),
        "fitted_on": int(len(fit_rows)),
        "calibrated_on": int(len(cal_rows)),
    }
    return tensors, config


def poster_check_scores(X: np.ndarray, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(scores [N], is_poster [N]) for full cached embeddings `X` [N, D]; higher scores look less like posters."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    names = ("mean", "scale", "components", "variances")
    missing = [n for n in names if PREFIX + n not in tensors]
    if missing:
        raise ModelError(f"model has no poster-check statistics ({', '.join(missing)} missing)")
    dim = tensors[PREFIX + "mean"].shape[0]
    if X.shape[1] != dim:
        raise ModelError(f"poster check expects {dim}-dim embeddings, got {X.shape[1]}")
    inside, outside = _raw(X, {PREFIX + n: tensors[PREFIX + n] for n in names})
    scores = inside / config["inside_mean"] + outside / config["outside_mean"]
    return scores, scores <= flag_above(config)


def flag_above(config: dict[str, Any]) -> float:
    """The score above which an input is flagged: the threshold plus the re-encoding margin."""
    return float(config["threshold"]) + float(config.get("reencode_margin", REENCODE_MARGIN))
