"""Calibration of a signal's probabilities: does "30%" happen 30% of the time?

A reliability table pools every (film, genre) cell of out-of-fold probabilities into equal-width probability
bins and compares each bin's mean predicted probability with the share of cells that carry the genre. The
expected calibration error (ECE) is the cell-weighted mean of |predicted - observed| over the bins. Most cells
are near 0 (a film has ~2 of 23 genres), so the table also says how many cells each bin holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BINS = 10


def reliability(Y: np.ndarray, probs: np.ndarray, bins: int = BINS) -> dict[str, Any]:
    """Reliability table and ECE of probabilities [N, G] against multi-hot labels [N, G] (NaN rows skipped)."""
    P = np.asarray(probs, dtype=np.float64)
    rows = np.isfinite(P).all(axis=1)
    p, y = P[rows].ravel(), np.asarray(Y)[rows].astype(np.float64).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        cells = index == b
        n = int(cells.sum())
        if not n:
            continue
        predicted, observed = float(p[cells].mean()), float(y[cells].mean())
        ece += n * abs(predicted - observed)
        table.append(
            {
                "bin": [round(float(edges[b]), 2), round(float(edges[b + 1]), 2)],
                "cells": n,
                "predicted": round(predicted, 4),
                "observed": round(observed, 4),
            }
        )
    return {"ece": float(ece / max(len(p), 1)), "cells": len(p), "films": int(rows.sum()), "bins": table}


def ece_line(name: str, result: dict[str, Any]) -> str:
    """One plain line: the ECE and the widest gap of a bin holding at least 1% of the cells."""
    big = [b for b in result["bins"] if b["cells"] >= 0.01 * result["cells"]]
    worst = max(big, key=lambda b: abs(b["predicted"] - b["observed"]), default=None)
    gap = (
        ""
        if worst is None
        else (
            f"; widest gap {abs(worst['predicted'] - worst['observed']):.3f} in "
            f"{worst['bin'][0]:.1f}-{worst['bin'][1]:.1f}"
        )
    )
    return f"{name}: ECE {result['ece']:.4f} over {result['films']:,} films{gap}"
