"""Look-alike votes, prototyped in numpy for benchmarks/quality_levers.py (and shaped to become a model part).

A poster's look-alike vote is the genre frequencies of its k nearest catalog posters: cosine similarity in a
compact space (standardised cached vectors -> top-`dims` principal directions -> unit length), the index stored as
int8 (one scale per dimension) or float16. The vote is smoothed towards the catalog's genre frequencies and blended
with the head's probabilities in logit space:

    vote_g = (sum of the k neighbours' 0/1 labels for g + smoothing * prior_g) / (k + smoothing)
    p'_g   = sigmoid((1 - weight) * logit(p_g) + weight * logit(vote_g))

Leave-one-out by construction: a neighbour whose similarity to the query is >= `identical` (the same pixels: the
query is quantised exactly like the index, so a catalog poster finds its own row at cosine 1) never votes, so a
film never votes for itself when the model reads a catalog poster, and `fit`'s own out-of-fold use needs no
special case.

`LookalikeVote` follows the project's part contract: parameters in `__init__`, `fit(X, Y)` returns self, learned
state ends in `_`, `predict_proba(head_probs, X)`, `to_tensors()` / `config()` / `from_saved(tensors, config)`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

TENSOR_PREFIX = "lookalike."
FORMAT_VERSION = 1
IDENTICAL = 0.99999  # cosine at which two posters are the same pixels (predict.similar.IDENTICAL_SCORE)
PROBABILITY_EPS = 1e-6


@lru_cache(maxsize=1)
def _blas():
    """threadpoolctl's controller, found once (looking the BLAS libraries up costs more than a search)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    return np.log(p / (1 - p))


def unit_rows(Z: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(Z, axis=1, keepdims=True)
    return (Z / np.where(n > 0, n, 1.0)).astype(np.float32)


def pca_components(Z: np.ndarray, dims: int, whiten: bool = False) -> np.ndarray:
    """[dims, D] top principal directions of already-standardised rows `Z` (float32 covariance, float64 eigh)."""
    Z = np.asarray(Z, dtype=np.float32)
    Zc = Z - Z.mean(0)
    cov = (Zc.T @ Zc).astype(np.float64) / max(len(Z) - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    top = np.argsort(evals)[::-1][:dims]
    comps = evecs[:, top].T
    if whiten:
        comps = comps / np.sqrt(np.maximum(evals[top], 1e-6))[:, None]
    return comps.astype(np.float32)


def quantise(codes: np.ndarray, dtype: str, scale: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit rows -> stored index (int8 with a per-dimension scale, float16, or float32) and that scale."""
    if dtype == "float32":
        return codes.astype(np.float32), None
    if dtype == "float16":
        return codes.astype(np.float16), None
    if dtype != "int8":
        raise ValueError(f"index dtype {dtype!r}: int8, float16 or float32")
    if scale is None:
        scale = (np.abs(codes).max(0) / 127.0).astype(np.float32)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return np.clip(np.rint(codes / scale), -127, 127).astype(np.int8), scale


def dequantise(stored: np.ndarray, scale: np.ndarray | None) -> np.ndarray:
    """The stored index as unit float32 rows (what the search multiplies)."""
    M = stored.astype(np.float32) * (scale if scale is not None else 1.0)
    return unit_rows(M)


def top_neighbours(Q: np.ndarray, M: np.ndarray, k: int, *, allowed: np.ndarray | None = None,
                   identical: float = IDENTICAL, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Indices [n, k] into M's rows and cosines [n, k], best first, of each unit query row of Q.

    `allowed`: optional callable (start, stop) -> bool [stop - start, len(M)], the index rows that may vote for
    those queries (a fold's training rows). Rows at cosine >= `identical` never vote (the same pixels).
    """
    n = len(Q)
    idx = np.empty((n, k), dtype=np.int32)
    sims = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, chunk):
        S = Q[s:s + chunk] @ M.T
        S[S >= identical] = -np.inf
        if allowed is not None:
            S[~allowed(s, min(n, s + chunk))] = -np.inf
        part = np.argpartition(-S, k - 1, axis=1)[:, :k]
        ps = np.take_along_axis(S, part, 1)
        order = np.argsort(-ps, axis=1, kind="stable")
        idx[s:s + chunk] = np.take_along_axis(part, order, 1)
        sims[s:s + chunk] = np.take_along_axis(ps, order, 1)
    return idx, sims


def votes_from(neighbour_labels_sum: np.ndarray, k: int, prior: np.ndarray, smoothing: float) -> np.ndarray:
    """Smoothed vote [n, G] from the sum of the k neighbours' labels."""
    return (neighbour_labels_sum + smoothing * prior) / (k + smoothing)


def vote_table(idx: np.ndarray, Y: np.ndarray, ks: list[int], prior: np.ndarray, smoothing: float = 1.0,
               sims: np.ndarray | None = None, temperature: float | None = None) -> dict[int, np.ndarray]:
    """Votes for several k at once from one neighbour list [n, kmax] (labels Y of the index rows).

    With `temperature`, neighbours are weighted by exp(cosine / temperature) (relative to the best one) and k is the
    number of neighbours considered; the weights' sum plays k's part in the smoothing."""
    out: dict[int, np.ndarray] = {}
    Yf = Y.astype(np.float32)
    for k in ks:
        nb = Yf[idx[:, :k]]  # [n, k, G]
        if temperature is None:
            out[k] = votes_from(nb.sum(1), k, prior, smoothing)
        else:
            w = np.exp((sims[:, :k] - sims[:, :1]) / temperature)
            w = np.where(np.isfinite(w), w, 0.0)
            out[k] = (np.einsum("nk,nkg->ng", w, nb) + smoothing * prior) / (w.sum(1, keepdims=True) + smoothing)
    return out


def _half(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.float16).astype(np.float32)


def blend(head_probs: np.ndarray, vote: np.ndarray, weight: float) -> np.ndarray:
    """Logit blend of the head's probabilities and the vote."""
    return sigmoid((1 - weight) * logit(head_probs) + weight * logit(vote))


class LookalikeVote:
    """The k nearest training posters' genres, blended with the head's probabilities (see the module docstring)."""

    def __init__(self, k: int = 200, weight: float = 0.35, dims: int = 256, index_dtype: str = "int8",
                 whiten: bool = False, smoothing: float = 1.0, identical: float = IDENTICAL):
        self.k = k
        self.weight = weight
        self.dims = dims
        self.index_dtype = index_dtype
        self.whiten = whiten
        self.smoothing = smoothing
        self.identical = identical

    def fit(self, X: np.ndarray, Y: np.ndarray) -> "LookalikeVote":
        """X [N, D]: the head's feature slice of the training posters; Y [N, G] their 0/1 labels."""
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y)
        if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y) or len(X) <= self.k:
            raise ValueError(f"look-alike vote: X {X.shape} and Y {Y.shape} must be [N, D] and [N, G] with N > k")
        # Rounded to float16 now, as stored: a saved vote reads queries exactly as the fitted one.
        self.mean_ = _half(X.mean(0))
        sd = X.std(0)
        self.scale_ = _half(np.where(sd > 1e-6, sd, 1.0))
        Z = (X - self.mean_) / self.scale_
        self.components_ = _half(pca_components(Z, self.dims, self.whiten))
        self.index_, self.index_scale_ = quantise(unit_rows(Z @ self.components_.T), self.index_dtype)
        self.labels_ = np.packbits(Y.astype(bool), axis=1)
        self.n_genres_ = Y.shape[1]
        self.prior_ = Y.mean(0).astype(np.float32)
        self._matrix = None
        return self

    def _search_matrix(self) -> np.ndarray:
        """The index as unit float32 rows, and the labels unpacked, built once (the stored forms are compact)."""
        if getattr(self, "_matrix", None) is None:
            self._labels = np.unpackbits(self.labels_, axis=1, count=self.n_genres_).astype(np.float32)
            self._matrix = dequantise(self.index_, self.index_scale_)
        return self._matrix

    def codes(self, X: np.ndarray) -> np.ndarray:
        """Query rows in the index's space, quantised like the index (so a catalog poster meets itself at cosine 1)."""
        Z = (np.atleast_2d(np.asarray(X, dtype=np.float32)) - self.mean_) / self.scale_
        stored, _ = quantise(unit_rows(Z @ self.components_.T), self.index_dtype, self.index_scale_)
        return dequantise(stored, self.index_scale_)

    def votes(self, X: np.ndarray) -> np.ndarray:
        # One BLAS thread: a query against the index is one matrix-vector product that reads the whole index
        # (memory-bound); OpenBLAS's second thread spin-waits on a busy 2-core machine (1.2 ms became 25 ms).
        with _blas().limit(limits=1, user_api="blas"):
            idx, _ = top_neighbours(self.codes(X), self._search_matrix(), self.k, identical=self.identical)
        return votes_from(self._labels[idx].sum(1, dtype=np.float64), self.k, self.prior_, self.smoothing)

    def predict_proba(self, head_probs: np.ndarray, X: np.ndarray) -> np.ndarray:
        return blend(np.atleast_2d(head_probs), self.votes(X), self.weight)

    def to_tensors(self) -> dict[str, np.ndarray]:
        out = {"mean": self.mean_.astype(np.float16), "scale": self.scale_.astype(np.float16),
               "components": self.components_.astype(np.float16), "index": self.index_, "labels": self.labels_,
               "prior": self.prior_}
        if self.index_scale_ is not None:
            out["index_scale"] = self.index_scale_
        return {TENSOR_PREFIX + k: v for k, v in out.items()}

    def config(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "k": int(self.k), "weight": float(self.weight),
                "dims": int(self.dims),
                "index_dtype": self.index_dtype, "whiten": bool(self.whiten), "smoothing": float(self.smoothing),
                "identical": float(self.identical), "n_genres": int(self.n_genres_), "n_index": int(len(self.index_))}

    @classmethod
    def from_saved(cls, tensors: dict[str, np.ndarray], config: dict[str, Any]) -> "LookalikeVote":
        if config.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"look-alike vote format {config.get('format_version')!r} is not supported")
        out = cls(k=config["k"], weight=config["weight"], dims=config["dims"], index_dtype=config["index_dtype"],
                  whiten=config["whiten"], smoothing=config["smoothing"], identical=config["identical"])
        t = {k.removeprefix(TENSOR_PREFIX): v for k, v in tensors.items() if k.startswith(TENSOR_PREFIX)}
        out.mean_, out.scale_ = t["mean"].astype(np.float32), t["scale"].astype(np.float32)
        out.components_ = t["components"].astype(np.float32)
        out.index_, out.index_scale_ = t["index"], t.get("index_scale")
        out.labels_, out.prior_ = t["labels"], t["prior"].astype(np.float32)
        out.n_genres_ = int(config["n_genres"])
        out._matrix = None
        return out

    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.to_tensors().values())
