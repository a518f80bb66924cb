"""Sentence vectors for synopses: WordLlama's `l2_supercat` token embeddings, mean-pooled.

WordLlama (PyPI `wordllama`, MIT) ships a 32,000 x 256 token-embedding table distilled from large language
models and its tokenizer inside the wheel (~16 MB). A sentence vector is the mean of its tokens' rows, exactly
what `WordLlama.load("l2_supercat", dim=256).embed(texts)` computes (tests/model/test_text_encoder.py checks
that), at microseconds per sentence in numpy.

We read the two files from the installed package folder instead of importing `wordllama`: its import configures
the root logger (`logging.basicConfig(level=INFO)`) and its loader falls back to downloading from a model hub;
reading the files ourselves means nothing is ever downloaded and the service's logging is untouched. The model
artifact records `ENCODER` and the weights' sha256, so a different table is refused rather than silently
mis-read.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ModelError

ENCODER = "wordllama-l2_supercat-256"
WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
DIM = 256


def package_folder() -> Path:
    """The installed `wordllama` package folder, found without importing it."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the synopsis encoder needs the `wordllama` package (pip install wordllama==0.4.0.post1)")
    return Path(next(iter(spec.submodule_search_locations)))


def blank(texts: Sequence[str | None]) -> np.ndarray:
    """bool [N]: which texts carry no signal (None or only whitespace)."""
    return np.array([not (t and str(t).strip()) for t in texts], dtype=bool)


class SentenceEncoder:
    """Mean-pooled WordLlama token embeddings: `encode(texts)` → float32 [N, 256], NaN rows for blank texts."""

    name = ENCODER
    dim = DIM

    def __init__(self, folder: Path | None = None):
        from safetensors import safe_open
        from tokenizers import Tokenizer

        folder = package_folder() if folder is None else Path(folder)
        weights, tokenizer = folder / WEIGHTS, folder / TOKENIZER
        for path in (weights, tokenizer):
            if not path.is_file():
                raise ModelError(f"synopsis encoder file missing: {path} (reinstall wordllama==0.4.0.post1)")
        self.weights_sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
        with safe_open(str(weights), framework="np") as f:
            self.table = np.ascontiguousarray(f.get_tensor("embedding.weight"), dtype=np.float32)
        if self.table.shape[1] != DIM:
            raise ModelError(f"synopsis encoder table {weights} has {self.table.shape[1]} columns, expected {DIM}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def encode(self, texts: Sequence[str | None]) -> np.ndarray:
        """Sentence vectors [N, 256]; NaN rows for blank texts (no synopsis)."""
        out = np.full((len(texts), DIM), np.nan, dtype=np.float32)
        rows = np.flatnonzero(~blank(texts))
        if len(rows):
            encodings = self.tokenizer.encode_batch([str(texts[int(i)]) for i in rows], add_special_tokens=False)
            for i, enc in zip(rows, encodings, strict=True):
                ids = np.clip(np.asarray(enc.ids, dtype=np.int64), 0, len(self.table) - 1)
                # A text of only characters the tokenizer drops has no tokens: it carries no signal either.
                if len(ids):
                    out[i] = self.table[ids].mean(axis=0)
        return out


@lru_cache(maxsize=1)
def shared_encoder() -> SentenceEncoder:
    """One encoder per process (the table is 32 MB as float32; loading it takes ~0.2 s)."""
    return SentenceEncoder()
