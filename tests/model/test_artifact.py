"""Artifacts: bit-exact save/load without pickle, atomic replacement, refusal of other backbones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from postergenre.errors import ModelError
from postergenre.model.artifact import ModelArtifact
from postergenre.model.assembly import assemble
from postergenre.model.heads import make_head
from postergenre.model.layout import ModelParts
from postergenre.model.poster_check import PosterCheck


def _artifact(seed: int = 0) -> tuple[ModelArtifact, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 24)).astype(np.float32)
    Y = (X[:, :3] > 0.3).astype(np.int8)
    head = make_head("mlp", {"hidden": 8, "pca": 10, "batch_size": 32, "max_epochs": 5}).fit(X[:, 4:20], Y)
    head_type, head_config, tensors = ModelParts(head, (4, 20), poster_check=PosterCheck().fit(X)).saved(compact=True)
    assert tensors["head.w0"].dtype == np.float16 and tensors["head.w1"].dtype == np.float32
    art = ModelArtifact(
        genres=["Action", "Drama", "Horror"],
        thresholds=np.array([0.31, 0.5, 0.123456789]),
        backbone="efficientnet-lite0",
        preprocess_version="v-test",
        feature_set="pooled",
        head_type=head_type,
        head_config=head_config | {"threshold_metric": "f1"},
        tensors=tensors,
        metrics={"cv": {}},
        data_fingerprint={
            "sha256": "abc",
            "movies": 300,
            "posters": 300,
            "genre_counts": {"Action": 90, "Drama": 150, "Horror": 12},
            "profile": {
                "movies": 300,
                "rated": 0,
                "ratings": {},
                "years_known": 300,
                "year_min": 1950,
                "year_max": 1999,
                "year_median": 1980,
                "year_quartiles": [1960, 1980, 1990],
                "collections": {},
                "in_a_collection": 0,
            },
        },
        training_options={"min_examples": 100, "command": "postergenre train --head mlp"},
    )
    return art, X


def test_roundtrip_is_bit_exact_and_pickle_free(tmp_path: Path) -> None:
    art, X = _artifact()
    folder = art.save(tmp_path / "m")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]  # no card unless given
    raw = (folder / "model.safetensors").read_bytes()
    assert b"pickle" not in raw and not raw.startswith(b"\x80")  # safetensors: JSON header, raw tensor bytes
    back = ModelArtifact.load(folder)
    assert back.tensors.keys() == art.tensors.keys()
    for k, v in art.tensors.items():
        assert back.tensors[k].dtype == v.dtype and back.tensors[k].tobytes() == v.tobytes(), k
    assert back.thresholds.tobytes() == art.thresholds.tobytes()
    assert back.metadata() == art.metadata()
    before, after = assemble(art), assemble(back)
    with torch.no_grad():
        a = before.torch_view()(torch.from_numpy(X)).numpy()
        b = after.torch_view()(torch.from_numpy(X)).numpy()
    assert a.tobytes() == b.tobytes()
    assert before.poster_probabilities(X).tobytes() == after.poster_probabilities(X).tobytes()
    s1, ok1 = before.check(X)
    s2, _ok2 = after.check(X)
    assert np.array_equal(s1, s2) and ok1.mean() > 0.95


def test_save_replaces_an_existing_model_atomically(tmp_path: Path) -> None:
    art, _ = _artifact()
    target = tmp_path / "m"
    art.save(target, card="# the old model\n")
    art.genres = ["A", "B", "C"]
    art.save(target, card="# the new model: A, B, C\n")
    assert ModelArtifact.load(target).genres == ["A", "B", "C"]
    assert (target / "MODEL_CARD.md").read_text(encoding="utf-8") == "# the new model: A, B, C\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary or backup folder left behind
    art.save(target)  # a save without a card leaves none of the old model's behind
    assert sorted(p.name for p in target.iterdir()) == ["model.json", "model.safetensors"]


def test_a_save_that_fails_leaves_the_old_model_and_its_card(tmp_path: Path) -> None:
    art, _ = _artifact()
    target = tmp_path / "m"
    art.save(target, card="# the old model\n")
    art.metrics = {"cv": {"macro_auc": float("nan")}}  # model.json refuses NaN: the save fails before any rename
    with pytest.raises(ValueError):
        art.save(target, card="# the new model\n")
    assert (target / "MODEL_CARD.md").read_text(encoding="utf-8") == "# the old model\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_refuses_other_backbone_and_broken_files(tmp_path: Path) -> None:
    art, _ = _artifact()
    art.check_compatible("efficientnet-lite0", "v-test")
    with pytest.raises(ModelError, match="efficientnet-lite2"):
        art.check_compatible("efficientnet-lite2", "v-test")
    with pytest.raises(ModelError, match="preprocessing"):
        art.check_compatible("efficientnet-lite0", "v-other")
    folder = art.save(tmp_path / "m")
    with pytest.raises(ModelError, match="not a model folder"):
        ModelArtifact.load(tmp_path / "nothing")
    (folder / "model.safetensors").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ModelError, match=r"model\.safetensors"):
        ModelArtifact.load(folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["format_version"] = 99
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="format_version"):
        ModelArtifact.load(folder)
