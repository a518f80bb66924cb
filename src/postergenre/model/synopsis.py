"""Synopsis head: genre probabilities from a film's one-sentence plot.

Features are TF-IDF word unigrams+bigrams and character 2-5-grams (inside word boundaries), concatenated, and
(`encoder`, the default) a pretrained sentence vector of the plot: WordLlama's mean-pooled token embeddings
(model/text_encoder.py), standardised and weighted by `encoder_weight`. The model is ridge regression of the 0/1
genre labels on those features, solved in its dual form: with ~3,000 plots and ~60,000 features, one Cholesky
factorisation of the 3,000 x 3,000 kernel gives the weights of every genre at once, and its leave-one-out scores come
from the diagonal of the inverse. A per-genre sigmoid (Platt scaling) fitted on those leave-one-out scores turns ridge
scores into probabilities that are not over-confident on the training plots.

Why this: on studio films (5-fold CV, 3,024 plots; benchmarks/quality_studio.py) ridge on word+char TF-IDF
scored macro ROC AUC 0.804, per-genre logistic regression on the sentence vectors 0.815, the average of those
two heads' logits 0.828, and one ridge on both feature sets 0.829 (Family 0.777 against 0.767 and 0.747): the
words a plot uses and what it means carry different evidence, and one kernel fit weighs them jointly, keeps
the free leave-one-out calibration and fits in seconds.

Saved without pickle: `to_tensors()` gives numpy arrays (idf, weights, biases, calibration, the sentence vectors'
standardisation and weights), `config()` a JSON-safe dict (vocabularies as lists, analyser
settings, genres, the encoder's name and weights sha256); `SynopsisHead.from_saved` rebuilds the vectorisers
with exactly that vocabulary and idf, so probabilities are identical. Prediction needs numpy, scipy,
scikit-learn's vectoriser and the encoder's table (inside the wordllama wheel), not torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from .logistic import sigmoid as expit
from .parts import Part, Tensors, register_part
from .text_encoder import ENCODER

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)  # 1: TF-IDF only (no encoder)


def has_text(texts: Sequence[str | None]) -> np.ndarray:
    """bool [N]: which synopses carry any signal (not None, not blank)."""
    return np.array([bool(t and str(t).strip()) for t in texts], dtype=bool)


def _vectoriser(
    analyzer: str, ngram_range: Sequence[int], min_df: int, vocabulary: dict[str, int] | None = None
) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # sublinear tf: a word repeated in one sentence is not twice the evidence.
    return TfidfVectorizer(
        analyzer=analyzer,
        ngram_range=tuple(int(v) for v in ngram_range),
        min_df=min_df,
        sublinear_tf=True,
        lowercase=True,
        strip_accents="unicode",
        dtype=np.float64,
        vocabulary=vocabulary,
    )


def _gram(X: sparse.csr_matrix) -> np.ndarray:
    """X @ X.T as a dense array for a sparse X [n, F]. Columns in more than 1/12 of the rows (frequent character
    n-grams, the sentence vectors) go through a dense matrix product: the sparse one spends time on every pair of
    rows sharing a column, which for those columns was most of a synopsis fit."""
    Xc = X.tocsc()
    frequent = np.diff(Xc.indptr) >= max(1, X.shape[0] // 12)
    dense = Xc[:, np.flatnonzero(frequent)].toarray()
    rare = Xc[:, np.flatnonzero(~frequent)].tocsr()
    out: np.ndarray = dense @ dense.T + (rare @ rare.T).toarray()
    return out


def _dual_ridge(Ks: np.ndarray, R: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(A, leverages) of kernel ridge: A = (Ks + alpha I)^-1 R and diag(Ks (Ks + alpha I)^-1) = 1 - alpha
    diag((Ks + alpha I)^-1), from one Cholesky factorisation (a third of an eigen-decomposition's time and
    more). `Ks` (symmetric, positive semi-definite) is overwritten."""
    from scipy.linalg import cho_factor, cho_solve, lapack

    Ks[np.diag_indices(len(Ks))] += alpha
    factor = cho_factor(Ks, lower=True, overwrite_a=True)
    inverse, info = lapack.dpotri(factor[0], lower=True)
    if info != 0:
        raise PosterGenreError(f"synopsis ridge: inverting the kernel failed (LAPACK info {info})")
    return cho_solve(factor, R), 1.0 - alpha * np.diag(inverse)


def _platt(
    scores: np.ndarray, Y: np.ndarray, w: np.ndarray, iters: int = 100, l2: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Per-genre (scale, bias) of sigmoid(scale * score + bias): weighted logistic fit, all genres at once.

    Platt's smoothed targets keep a genre seen a handful of times from getting an infinite scale. The fit runs
    on standardised scores with a small ridge on the standardised slope (`l2`: worth about one film), and
    every Newton step is halved until the loss goes down. Why: ridge scores of a rare genre spread over ~0.01
    (Music 0.019, War 0.004 on the studio plots), so its slope is in the hundreds; plain Newton from slope 1
    overshot, oscillated with growing amplitude into saturation, and returned a slope of 8e6 and a bias of
    4e13 (Music read 100% on every plot; War 0% on every plot).
    """
    scores = np.asarray(scores, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n_pos = (w[:, None] * Y).sum(0)
    n_neg = w.sum() - n_pos
    t = np.where(Y > 0, ((n_pos + 1) / (n_pos + 2))[None, :], (1 / (n_neg + 2))[None, :])
    wn = w / w.sum()
    l2 = float(l2) / w.sum()  # the loss below is a weighted mean over films
    mu = wn @ scores
    sd = np.sqrt(wn @ (scores - mu) ** 2)
    sd = np.where(sd > 1e-12, sd, 1.0)  # a genre whose scores are all equal: slope stays ~0
    z = (scores - mu) / sd

    def loss(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        u = a * z + b
        out: np.ndarray = (wn[:, None] * (np.logaddexp(0, u) - t * u)).sum(0) + 0.5 * l2 * a * a
        return out

    g = Y.shape[1]
    a = np.zeros(g)
    b = np.log((n_pos + 1) / (n_neg + 1))
    current = loss(a, b)
    for _ in range(iters):
        p = expit(a * z + b)
        r = wn[:, None] * (p - t)
        h = wn[:, None] * p * (1 - p)
        ga, gb = (r * z).sum(0) + l2 * a, r.sum(0)
        haa, hab, hbb = (h * z * z).sum(0) + l2, (h * z).sum(0), h.sum(0) + 1e-12
        det = haa * hbb - hab * hab  # > 0: the ridge keeps the Hessian positive definite
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        step = np.ones(g)
        for _ in range(30):  # backtracking: halve each genre's step until its loss does not increase
            trial = loss(a - step * da, b - step * db)
            worse = trial > current + 1e-15
            if not worse.any():
                break
            step = np.where(worse, step / 2, step)
        a, b = a - step * da, b - step * db
        current = loss(a, b)
        if max(np.abs(step * da).max(), np.abs(step * db).max()) < 1e-10:
            break
    return a / sd, b - a * mu / sd


@register_part("synopsis_head")
class SynopsisHead(Part):
    """Multi-label genre probabilities from plot texts (sklearn-style estimator; see the module docstring).

    Parameters: `genres` (names, in output order; optional, recorded in the config), `word_ngrams` and
    `char_ngrams` (inclusive n-gram ranges; `None` drops that analyser), `min_df` (documents a term needs),
    `alpha` (ridge penalty; chosen by CV on studio films), `encoder` (text_encoder.ENCODER, or None for TF-IDF
    only) and `encoder_weight` (the sentence vectors' share of the kernel beside the TF-IDF blocks; CV: 0.5).
    """

    encoder_sha256_: str | None

    def __init__(
        self,
        genres: Sequence[str] | None = None,
        word_ngrams: tuple[int, int] | None = (1, 2),
        char_ngrams: tuple[int, int] | None = (2, 5),
        min_df: int = 2,
        alpha: float = 15.0,
        encoder: str | None = ENCODER,
        encoder_weight: float = 0.5,
    ):
        self.genres = genres
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.alpha = alpha
        self.encoder = encoder
        self.encoder_weight = encoder_weight

    # -- fitting ---------------------------------------------------------------------------------

    def _analysers(self) -> list[tuple[str, tuple[int, int]]]:
        out: list[tuple[str, tuple[int, int]]] = []
        if self.word_ngrams:
            out.append(("word", (int(self.word_ngrams[0]), int(self.word_ngrams[1]))))
        if self.char_ngrams:
            out.append(("char_wb", (int(self.char_ngrams[0]), int(self.char_ngrams[1]))))
        if not out:
            raise PosterGenreError("synopsis head needs word_ngrams or char_ngrams")
        return out

    def _sentence_block(self, texts: Sequence[str], vectors: np.ndarray | None = None) -> np.ndarray | None:
        """The sentence vectors (`vectors`: already encoded), standardised, weighted and scaled like one TF-IDF
        block (None without encoder)."""
        if not self.encoder:
            return None
        from .text_encoder import shared_encoder

        raw = shared_encoder().encode(texts) if vectors is None else vectors
        Z = (raw.astype(np.float64) - self.embed_mean_) / self.embed_scale_
        # A text of only characters the tokenizer drops has no vector: it sits at the mean (TF-IDF still reads it).
        Z = np.nan_to_num(Z, nan=0.0)
        block: np.ndarray = float(self.encoder_weight) * Z / np.sqrt(Z.shape[1])
        return block

    def _features(
        self, texts: Sequence[str], blocks: list[sparse.csr_matrix] | None = None, vectors: np.ndarray | None = None
    ) -> sparse.csr_matrix:
        """The feature matrix of `texts`; `blocks` (their TF-IDF matrices) and `vectors` (their sentence vectors)
        when fitting already computed them."""
        from scipy import sparse  # here: a prediction without a synopsis never loads scipy (~0.15 s of CLI start)

        blocks = [v.transform(texts) for v in self.vectorisers_] if blocks is None else list(blocks)
        dense = self._sentence_block(texts, vectors)
        if dense is not None:
            blocks.append(sparse.csr_matrix(dense))
        # Each TF-IDF block is L2-normalised; dividing by sqrt(#TF-IDF blocks) keeps them at unit norm together.
        features: sparse.csr_matrix = (sparse.hstack(blocks, format="csr") / np.sqrt(len(self.vectorisers_))).tocsr()
        return features

    def fit(self, texts: Sequence[str | None], Y: np.ndarray, sample_weight: np.ndarray | None = None) -> SynopsisHead:
        """Fit on the texts that are not blank (blank ones carry no signal and are skipped)."""
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[0] != len(texts):
            raise PosterGenreError(f"synopsis labels must be [N, G] with N = {len(texts)} texts, got shape {Y.shape}")
        if not np.isin(Y, (0, 1)).all():
            raise PosterGenreError("synopsis labels must be multi-hot (only 0 and 1)")
        if self.genres is not None and len(self.genres) != Y.shape[1]:
            raise PosterGenreError(f"{len(self.genres)} genre names for {Y.shape[1]} label columns")
        if float(self.alpha) <= 0:
            raise PosterGenreError(f"synopsis alpha must be > 0, got {self.alpha}")
        w = np.ones(len(texts)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (len(texts),) or not np.isfinite(w).all() or (w < 0).any():
            raise PosterGenreError(f"sample_weight must be {len(texts)} finite weights >= 0")
        keep = np.flatnonzero(has_text(texts) & (w > 0))
        if len(keep) < 10:
            raise PosterGenreError(f"synopsis head needs at least 10 non-empty plots, got {len(keep)}")
        docs = [str(texts[int(i)]) for i in keep]
        Yk, wk = Y[keep].astype(np.float64), w[keep] / w[keep].mean()
        self.vectorisers_ = [_vectoriser(a, r, int(self.min_df)) for a, r in self._analysers()]
        blocks = [v.fit_transform(docs) for v in self.vectorisers_]
        vectors = None
        if self.encoder:
            from .text_encoder import ENCODER, shared_encoder

            if self.encoder != ENCODER:
                raise PosterGenreError(f"unknown synopsis encoder {self.encoder!r}; this version has {ENCODER!r}")
            vectors = shared_encoder().encode(docs)
            Z = np.nan_to_num(vectors.astype(np.float64), nan=0.0)
            self.embed_mean_ = Z.mean(0)
            self.embed_scale_ = np.where(Z.std(0) > 1e-9, Z.std(0), 1.0)
            self.encoder_sha256_ = shared_encoder().weights_sha256
        X = self._features(docs, blocks, vectors)
        n = X.shape[0]
        # Weighted ridge with an unpenalised intercept, in dual form: centre on the weighted mean, scale rows
        # by sqrt(weight), then (Ks + alpha I) A = sqrt(w) (Y - y_mean).
        c = wk / wk.sum()
        K = _gram(X)
        Kc1 = K @ c
        Kc = K - Kc1[None, :] - Kc1[:, None] + c @ Kc1
        sw = np.sqrt(wk)
        Ks = sw[:, None] * Kc * sw[None, :]
        y_mean = c @ Yk
        R = sw[:, None] * (Yk - y_mean)
        A, lev = _dual_ridge(Ks, R, float(self.alpha))  # A [n, G]
        # Leave-one-out scores (ridge's closed form): residual / (1 - leverage), leverage of the penalised part
        # plus the intercept's share c_i.
        lev = lev + c
        fitted_scaled = R - float(self.alpha) * A  # = Ks A
        fitted = fitted_scaled / sw[:, None] + y_mean
        resid = Yk - fitted
        loo = Yk - resid / np.clip(1.0 - lev, 1e-6, None)[:, None]
        v = sw[:, None] * A
        W = np.asarray(X.T @ (v - c[:, None] * v.sum(0)[None, :]))  # primal weights [V (+ sentence dims), G]
        self.biases_ = (y_mean - np.asarray(X.T @ c) @ W).astype(np.float32)
        n_terms = sum(len(vec.vocabulary_) for vec in self.vectorisers_)
        self.weights_ = W[:n_terms].astype(np.float32)
        if self.encoder:
            self.embed_weights_ = W[n_terms:].astype(np.float32)
        self.calib_scale_, self.calib_bias_ = (v.astype(np.float32) for v in _platt(loo, Yk, wk))
        self.n_genres_ = Y.shape[1]
        self.n_texts_ = n
        self._scoring_cache: np.ndarray | None = None
        return self

    # -- prediction ------------------------------------------------------------------------------

    def decision_function(self, texts: Sequence[str | None]) -> np.ndarray:
        """Calibrated logits [N, G]; NaN rows for blank texts (no synopsis signal)."""
        self._require_fitted("weights_")
        present = has_text(texts)
        out = np.full((len(texts), self.n_genres_), np.nan, dtype=np.float64)
        if present.any():
            X = self._features([str(t) for t, p in zip(texts, present, strict=True) if p])
            scores = np.asarray(X @ self._scoring_weights()) + self.biases_.astype(np.float64)
            out[present] = scores * self.calib_scale_.astype(np.float64) + self.calib_bias_.astype(np.float64)
        return out

    def _scoring_weights(self) -> np.ndarray:
        """Every feature's weights [V (+ sentence dims), G] in float64, built once (copying ~11 MB per call was
        half of a synopsis's cost); `fit` drops it."""
        W: np.ndarray | None = getattr(self, "_scoring_cache", None)
        if W is None:
            W = self.weights_.astype(np.float64)
            if self.encoder:
                W = np.concatenate([W, self.embed_weights_.astype(np.float64)])
            self._scoring_cache = W
        return W

    def predict_proba(self, texts: Sequence[str | None]) -> np.ndarray:
        """Probabilities [N, G] in the genre order of the labels it was fitted on; NaN rows for blank texts."""
        z = self.decision_function(texts)
        return expit(z)

    # -- saving ----------------------------------------------------------------------------------

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        """numpy arrays: idf per analyser, weights [V, G], biases and calibration [G].

        `compact` (what a shipped model uses): weights as int8 with one scale per genre (`weights_scale`) and
        idf as float16, a quarter of the size; measured by 5-fold CV on the studio's 3,024 plots, the macro ROC
        AUC moves by 0.0002 (the weights are most of the bundled model file).
        """
        self._require_fitted("weights_")
        idf_type = np.float16 if compact else np.float64
        out = {f"idf{i}": v.idf_.astype(idf_type) for i, v in enumerate(self.vectorisers_)}
        if compact:
            scale = np.abs(self.weights_).max(axis=0) / 127.0
            scale = np.where(scale > 0, scale, 1.0).astype(np.float32)  # a genre with all-zero weights
            out["weights"] = np.round(self.weights_ / scale).clip(-127, 127).astype(np.int8)
            out["weights_scale"] = scale
        else:
            out["weights"] = self.weights_
        out["biases"] = self.biases_
        out["calib_scale"] = self.calib_scale_
        out["calib_bias"] = self.calib_bias_
        if self.encoder:  # compact: float16 weights and float32 statistics (keeps the shipped file under 2 MiB)
            stats_type, weights_type = (np.float32, np.float16) if compact else (np.float64, np.float32)
            out["embed_mean"] = self.embed_mean_.astype(stats_type)
            out["embed_scale"] = self.embed_scale_.astype(stats_type)
            out["embed_weights"] = self.embed_weights_.astype(weights_type)
        return out

    def config(self) -> dict[str, Any]:
        """JSON-safe settings and vocabularies (term lists in feature order)."""
        self._require_fitted("weights_")
        analysers = []
        for v in self.vectorisers_:
            vocab = [""] * len(v.vocabulary_)
            for term, j in v.vocabulary_.items():
                vocab[j] = term
            analysers.append({"analyzer": v.analyzer, "ngram_range": list(v.ngram_range), "vocabulary": vocab})
        return {
            "format_version": FORMAT_VERSION,
            "genres": None if self.genres is None else list(self.genres),
            "params": {
                "word_ngrams": None if not self.word_ngrams else list(self.word_ngrams),
                "char_ngrams": None if not self.char_ngrams else list(self.char_ngrams),
                "min_df": int(self.min_df),
                "alpha": float(self.alpha),
                "encoder": self.encoder or None,
                "encoder_weight": float(self.encoder_weight),
            },
            "encoder_sha256": getattr(self, "encoder_sha256_", None),
            "analysers": analysers,
            "n_genres": int(self.n_genres_),
            "n_texts": int(self.n_texts_),
        }

    @classmethod
    def from_saved(cls, tensors: Tensors, config: Mapping[str, Any]) -> SynopsisHead:
        """Rebuild a fitted head from `to_tensors()` (extra keys, e.g. other heads', are ignored) and `config()`."""
        if config.get("format_version") not in READABLE_FORMATS:
            raise ModelError(
                f"synopsis head format {config.get('format_version')!r} is not supported (need one of "
                f"{READABLE_FORMATS})"
            )
        p = config["params"]
        head = cls(
            genres=config.get("genres"),
            word_ngrams=p["word_ngrams"] and tuple(p["word_ngrams"]),
            char_ngrams=p["char_ngrams"] and tuple(p["char_ngrams"]),
            min_df=p["min_df"],
            alpha=p["alpha"],
            encoder=p.get("encoder"),
            encoder_weight=p.get("encoder_weight", 0.0),
        )
        try:
            vecs = []
            for i, a in enumerate(config["analysers"]):
                vec = _vectoriser(a["analyzer"], a["ngram_range"], 1, {t: j for j, t in enumerate(a["vocabulary"])})
                vec.idf_ = np.asarray(tensors[f"idf{i}"], dtype=np.float64)
                vecs.append(vec)
            head.vectorisers_ = vecs
            head.weights_ = np.asarray(tensors["weights"], dtype=np.float32)
            if "weights_scale" in tensors:  # compact: int8 weights, one scale per genre
                head.weights_ *= np.asarray(tensors["weights_scale"], dtype=np.float32)[None, :]
            head.biases_ = np.asarray(tensors["biases"], dtype=np.float32)
            head.calib_scale_ = np.asarray(tensors["calib_scale"], dtype=np.float32)
            head.calib_bias_ = np.asarray(tensors["calib_bias"], dtype=np.float32)
            if head.encoder:
                head.embed_mean_ = np.asarray(tensors["embed_mean"], dtype=np.float64)
                head.embed_scale_ = np.asarray(tensors["embed_scale"], dtype=np.float64)
                head.embed_weights_ = np.asarray(tensors["embed_weights"], dtype=np.float32)
        except KeyError as exc:
            raise ModelError(f"synopsis head tensors incomplete: missing {exc.args[0]}") from exc
        head.n_genres_ = int(config["n_genres"])
        head.n_texts_ = int(config.get("n_texts", 0))
        n_vocab = sum(len(a["vocabulary"]) for a in config["analysers"])
        if head.weights_.shape != (n_vocab, head.n_genres_):
            raise ModelError(
                f"synopsis weights {head.weights_.shape} do not match {n_vocab} terms x {head.n_genres_} genres"
            )
        if head.encoder:
            _check_encoder(head.encoder, config.get("encoder_sha256"))
            head.encoder_sha256_ = config.get("encoder_sha256")
        return head


def _check_encoder(name: str, sha256: str | None) -> None:
    """A saved head reads sentence vectors of exactly the table it was fitted on, or refuses to load."""
    from .text_encoder import ENCODER, shared_encoder

    if name != ENCODER:
        raise ModelError(f"synopsis head needs sentence encoder {name!r}; this version has {ENCODER!r}")
    have = shared_encoder().weights_sha256
    if sha256 and have != sha256:
        raise ModelError(
            f"synopsis head was fitted on {ENCODER} weights {sha256[:12]}, the installed wordllama "
            f"has {have[:12]}; install wordllama==0.4.0.post1 (requirements.lock)"
        )
