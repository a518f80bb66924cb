"""How a poster head reads a poster's views (`features/views.py`): the mean of its logits over the views.

For the linear heads (logreg, the default) the mean of the logits is the head read on the mean of the views' vectors,
the rule benchmarks/quality_levers.py measured (levers_mirror.json); for any head it is one number per genre that
weighs each view alike. One view gives the head's own probabilities. The model's assembly (what answers), training's
cross-validation and the benchmarks all read views through `read_views`, so they cannot drift apart.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from .logistic import sigmoid
from .parts import PosterHead


def view_logits(head: PosterHead, X: np.ndarray) -> np.ndarray:
    """Head features of each view [N, V, F] (or of one view, [N, F]) → the mean of the head's logits over the views,
    float64 [N, G]."""
    X = np.asarray(X)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3 or X.shape[1] < 1:
        raise ModelError(f"a head reads [N, views, features] (or [N, features]), got {list(X.shape)}")
    n, v, f = X.shape
    logits = head.decision_function(X.reshape(n * v, f)).astype(np.float64).reshape(n, v, -1)
    return logits[:, 0] if v == 1 else logits.mean(axis=1)


def read_views(head: PosterHead, X: np.ndarray) -> np.ndarray:
    """Head features of each view [N, V, F] (or of one view, [N, F]) → probabilities [N, G] (float64): the sigmoid
    of the views' mean logit (with one view, the head's `predict_proba`)."""
    return sigmoid(view_logits(head, X))
