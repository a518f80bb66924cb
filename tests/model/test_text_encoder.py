"""The synopsis sentence encoder: WordLlama's own vectors, read from the installed wheel, never downloaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from postergenre.errors import ModelError
from postergenre.model.text_encoder import DIM, SentenceEncoder, shared_encoder

TEXTS = [
    "A young girl befriends a dragon.",
    (
        "An eight-year-old troublemaker, mistakenly left home alone, must defend his home against a pair of burglars "
        "on Christmas Eve."
    ),
    "ÉCOLE de musique: a choir competes!",
    "",
    "   ",
    None,
]


def test_vectors_are_wordllamas_own_and_blank_texts_have_none():
    import wordllama
    from wordllama import WordLlama

    reference = WordLlama.load(cache_dir=Path(wordllama.__file__).parent, disable_download=True)
    ours = shared_encoder().encode(TEXTS)
    assert ours.shape == (len(TEXTS), DIM) and ours.dtype == np.float32
    np.testing.assert_allclose(ours[:3], reference.embed(list(TEXTS[:3])), rtol=1e-6, atol=1e-7)
    assert np.isnan(ours[3:]).all()  # no synopsis: no vector (WordLlama itself gives zeros or NaN here)
    assert not np.allclose(ours[0], ours[1])


def test_nothing_is_downloaded_and_wordllama_is_not_imported():
    """With every socket refused and the model hubs set offline, a fresh process loads the encoder and the bundled
    synopsis head reads text; neither `wordllama` (whose import configures the root logger), an HTTP client nor
    torch is imported."""
    code = textwrap.dedent("""
        import socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network refused by the test")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        from postergenre.model.text_encoder import SentenceEncoder
        vectors = SentenceEncoder().encode(["A shy dragon learns to fly."])
        assert vectors.shape == (1, 256)
        from postergenre.model.artifact import ModelArtifact
        from postergenre.model.assembly import assemble
        model = assemble(ModelArtifact.load())  # the bundled model's synopsis head (TF-IDF + sentence vectors)
        if model.has_synopsis:
            assert model.synopsis.encoder, "the bundled synopsis head reads sentence vectors"
            assert model.synopsis_probabilities(["A shy dragon learns to fly."]).shape == (1, len(model.genres))
        loaded = sorted(m for m in ("wordllama", "requests", "huggingface_hub", "httpx", "torch") if m in sys.modules)
        print("loaded:", loaded)
        assert not loaded, loaded
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "HF_HUB_OFFLINE": "1", "NO_PROXY": "*"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_missing_table_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match=r"l2_supercat_256\.safetensors"):
        SentenceEncoder(tmp_path)
