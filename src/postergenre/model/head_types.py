"""What `postergenre train` fits without a search: the measured default head, its settings and feature set.

The winner of benchmarks/quality.py (nested 5-fold CV on the shared posters: pooled+allstats logistic regression,
l2 = 3e-3; see benchmarks/results/quality.json). The heads themselves are parts named in the registry (`heads.py`).
"""

from __future__ import annotations

DEFAULT_HEAD = "logreg"
DEFAULT_SETTINGS: dict[str, dict[str, object]] = {"logreg": {"l2": 3e-3}}
DEFAULT_FEATURE_SET = "pooled+allstats"
