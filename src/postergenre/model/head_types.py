"""Names shared by heads, saved artifacts and the torch-free forward pass (no torch import here).

`artifact.py` validates a saved `head_type` against `HEAD_TYPES` without importing torch; `heads.py` maps each
name to its estimator class; `head_forward.py` replays saved tensors with numpy.
"""

from __future__ import annotations

HEAD_TYPES: tuple[str, ...] = ("logreg", "mlp", "ensemble")
"""Head types a model artifact may carry."""

ENSEMBLE_MEMBERS: tuple[str, ...] = ("logreg", "mlp")
"""Members of the ensemble head, in the order of their saved tensors (`head.m0.*`, `head.m1.*`)."""

TENSOR_PREFIX = "head."
"""Prefix of a head's tensors in the safetensors file (`head.mean`, `head.scale`, `head.w0`, `head.b0`, ...)."""

DEFAULT_HEAD = "logreg"
DEFAULT_SETTINGS: dict[str, dict[str, object]] = {"logreg": {"l2": 3e-3}}
"""What `postergenre train` fits without a search: the winner of benchmarks/quality.py (nested 5-fold CV on the
18,000 shared posters: pooled+allstats logistic regression, l2 = 3e-3; see benchmarks/results/quality.json)."""
DEFAULT_FEATURE_SET = "pooled+allstats"
