"""Does an input look like a movie poster? A distance from the training posters in embedding space.

A genre head answers confidently for any image, so a holiday photo or a flat colour block would get genres.
The check models the training embeddings as a Gaussian in their top principal directions plus an isotropic
residual: the score adds the Mahalanobis distance inside the subspace and the energy left outside it, each
divided by its mean over held-out training posters, so a typical poster scores about 2. The threshold is a
high percentile of those held-out posters' scores. Only aggregate statistics are stored (mean, scale, components,
variances, threshold), never a row per poster. The check is a part (`parts.py`, "poster_check"): `PosterCheck`.

An input is flagged above the threshold plus `REENCODE_MARGIN`: re-encoding a poster moves its score (a 64-colour
palette by about ±0.4 near the bar, std over 270 shared posters; the 95th percentile of the shift is 0.64), so without
the margin a poster just under the bar is called "not a movie poster" after an agency's GIF/PNG export. What is no
poster at all scores far above it (flat colours 8-9, noise 12-14, most photographs and screenshots 5-6).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .parts import Part, Tensors, register_part

STATISTICS = ("mean", "scale", "components", "variances")
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
        "mean": mean.astype(np.float32),
        "scale": scale.astype(np.float32),
        "components": vecs.T.contiguous().numpy().astype(np.float32),
        "variances": evals[top].clamp(min=1e-9).numpy().astype(np.float32),
    }


def _raw(X: np.ndarray, stats: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    t = {k: np.asarray(v, dtype=np.float64) for k, v in stats.items()}
    Z = (X - t["mean"]) / t["scale"]
    return _parts(Z, t["components"], t["variances"])


@register_part("poster_check")
class PosterCheck(Part):
    """Scores how far embeddings lie from the training posters (higher: less like a poster), as an sklearn-style
    estimator: `fit(X)` returns self; learned `stats_` (mean, scale, components, variances) and `settings_` (score
    normalisers, threshold and margin, counts); `check(X)` → (scores [N], looks like a poster bool [N]).

    `calibration_fraction` of the posters set the normalisers and the threshold, the rest the statistics: a poster's
    distance to statistics fitted on itself is smaller than a new poster's, so a threshold taken from in-sample
    scores would flag too many genuine new posters."""

    stats_: dict[str, np.ndarray]
    settings_: dict[str, Any]

    def __init__(
        self,
        components: int = DEFAULT_COMPONENTS,
        percentile: float = DEFAULT_PERCENTILE,
        calibration_fraction: float = 0.2,
        seed: int = 0,
    ):
        self.components = components
        self.percentile = percentile
        self.calibration_fraction = calibration_fraction
        self.seed = seed

    def fit(self, X: np.ndarray) -> PosterCheck:
        """Statistics of training embeddings `X` [N, D] (the full cached vectors) and the settings to score new ones."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or len(X) < 20:
            raise PosterGenreError(f"poster check needs at least 20 training embeddings [N, D], got shape {X.shape}")
        order = np.random.default_rng(self.seed).permutation(len(X))
        n_cal = max(10, round(self.calibration_fraction * len(X)))
        fit_rows, cal_rows = order[n_cal:], order[:n_cal]
        stats = _stats(X[fit_rows], self.components)
        inside, outside = _raw(X[cal_rows], stats)
        inside_mean, outside_mean = float(max(inside.mean(), 1e-9)), float(max(outside.mean(), 1e-9))
        scores = inside / inside_mean + outside / outside_mean
        self.stats_ = stats
        self.settings_ = {
            "components": int(stats["components"].shape[0]),
            "inside_mean": inside_mean,
            "outside_mean": outside_mean,
            "percentile": float(self.percentile),
            "threshold": float(np.percentile(scores, self.percentile)),
            "reencode_margin": REENCODE_MARGIN,
            "feature_dim": int(X.shape[1]),
            "fitted_on": len(fit_rows),
            "calibrated_on": len(cal_rows),
        }
        return self

    @property
    def flag_above(self) -> float:
        """The score above which an input is flagged (`flag_above`)."""
        self._require_fitted("settings_")
        return flag_above(self.settings_)

    @property
    def feature_dim(self) -> int | None:
        """The length of the embeddings it was fitted on (None when a model did not record it)."""
        self._require_fitted("settings_")
        dim = self.settings_.get("feature_dim")
        return None if dim is None else int(dim)

    def check(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores [N], is_poster [N]) for full cached embeddings `X` [N, D]; higher scores look less like posters."""
        self._require_fitted("stats_", "settings_")
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        dim = self.stats_["mean"].shape[0]
        if X.shape[1] != dim:
            raise ModelError(f"poster check expects {dim}-dim embeddings, got {X.shape[1]}")
        inside, outside = _raw(X, self.stats_)
        scores = inside / self.settings_["inside_mean"] + outside / self.settings_["outside_mean"]
        return scores, scores <= self.flag_above

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        """The statistics; `compact`: the components [k, D] as float16 (the others are vectors)."""
        self._require_fitted("stats_")
        return {k: (v.astype(np.float16) if compact and k == "components" else v) for k, v in self.stats_.items()}

    def config(self) -> dict[str, Any]:
        self._require_fitted("settings_")
        return dict(self.settings_)

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> PosterCheck:
        missing = [n for n in STATISTICS if n not in tensors]
        if missing:
            raise ModelError(f"model has no poster-check statistics ({', '.join(missing)} missing)")
        for name in ("threshold", "inside_mean", "outside_mean"):
            if not isinstance(config.get(name), (int, float)):
                raise ModelError(f"poster-check setting {name!r} is missing or not a number")
        out = cls(percentile=float(config.get("percentile", DEFAULT_PERCENTILE)))
        out.stats_ = {n: tensors[n] for n in STATISTICS}
        out.settings_ = dict(config)
        return out


def flag_above(config: Mapping[str, Any]) -> float:
    """The score above which an input is flagged: the threshold plus the re-encoding margin (a saved check's config;
    the model card states it too)."""
    return float(config["threshold"]) + float(config.get("reencode_margin", REENCODE_MARGIN))
