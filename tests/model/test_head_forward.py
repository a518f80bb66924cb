"""The torch-free forward pass replays the bundled model (and any saved head) like the torch module does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from postergenre.model import head_forward
from postergenre.model.artifact import ModelArtifact
from postergenre.model.head_module import head_module


def _torch_probs(art: ModelArtifact, X: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(head_module(art)(torch.from_numpy(X))).numpy()


def _real_embeddings(home: Path, backbone: str) -> np.ndarray:
    """The home's vectors of the default runtime (what predictions embed with)."""
    from postergenre.config import get_paths
    from postergenre.features.cache import EmbeddingCache
    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import vector_key

    db = get_paths(home).db
    with EmbeddingCache(db, *vector_key(get_backbone(backbone))) as cache:
        _, X = cache.load_all()
    return np.asarray(X, dtype=np.float32)


def test_bundled_model_numpy_forward_matches_torch_on_random_features() -> None:
    art = ModelArtifact.load()
    stop = art.head_config["feature_slice"][1]
    X = np.random.default_rng(0).normal(size=(50, stop)).astype(np.float32) * 2
    p_np = head_forward.probabilities(art.tensors, art.head_config["feature_slice"], X)
    np.testing.assert_allclose(p_np, _torch_probs(art, X), atol=1e-5)
    assert p_np.shape == (50, len(art.genres))


def test_bundled_model_numpy_forward_matches_torch_on_real_embeddings(small_home: Path) -> None:
    art = ModelArtifact.load()
    X = _real_embeddings(small_home, art.backbone)
    assert len(X) > 100
    np.testing.assert_allclose(head_forward.logits(art.tensors, art.head_config["feature_slice"], X),
                               torch.logit(torch.from_numpy(_torch_probs(art, X)).double()).numpy(), atol=1e-3)
    np.testing.assert_allclose(head_forward.probabilities(art.tensors, art.head_config["feature_slice"], X),
                               _torch_probs(art, X), atol=1e-5)


def test_head_forward_imports_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import postergenre.model.head_forward, postergenre.model.head_types; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
