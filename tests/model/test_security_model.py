"""Tampered model folders: each fails to load with one ModelError naming the file and the field.

They used to give tracebacks (a model.json that is a list, a string head_config, text thresholds, a
missing tensor) or load silently and show "nan%" (NaN weights or thresholds, unknown head or features).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from postergenre.errors import ModelError
from postergenre.model.artifact import DEFAULT_MODEL_DIR, META_FILE, WEIGHTS_FILE, ModelArtifact

GENRES = ["Action", "Drama", "Family"]
WIDTH = 1280  # efficientnet-lite0 "pooled"


def _artifact() -> ModelArtifact:
    rng = np.random.default_rng(0)
    tensors = {
        "head.mean": rng.normal(size=WIDTH).astype(np.float32),
        "head.scale": rng.uniform(0.5, 2, size=WIDTH).astype(np.float32),
        "head.w0": rng.normal(size=(len(GENRES), WIDTH)).astype(np.float16),
        "head.b0": np.zeros(len(GENRES), dtype=np.float32),
    }
    return ModelArtifact(
        genres=GENRES,
        thresholds=np.array([0.3, 0.5, 0.25]),
        backbone="efficientnet-lite0",
        preprocess_version="v-test",
        feature_set="pooled",
        head_type="logreg",
        head_config={"settings": {"l2": 0.003}, "feature_slice": [0, WIDTH], "threshold_metric": "f1"},
        tensors=tensors,
        metrics={"cv": {}},
        data_fingerprint={"sha256": "abc", "movies": 10, "posters": 10},
        training_options={"command": "test"},
        versions={"postergenre": "test"},
    )


@pytest.fixture()
def model(tmp_path: Path) -> Path:
    return _artifact().save(tmp_path / "model")


def _edit_meta(folder: Path, edit: Callable[[dict], object]) -> None:
    meta = json.loads((folder / META_FILE).read_text())
    result = edit(meta)
    (folder / META_FILE).write_text(json.dumps(meta if result is None else result))


def _edit_tensors(folder: Path, edit: Callable[[dict], None]) -> None:
    tensors = load_file(str(folder / WEIGHTS_FILE))
    edit(tensors)
    save_file(tensors, str(folder / WEIGHTS_FILE))


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda meta: meta.__setitem__(key, value)


META_CASES = {
    "a list": (lambda meta: [meta], "must be a JSON object with the model's fields, found a JSON list"),
    "string head_config": (
        _set("head_config", '{"feature_slice": [0, 1280]}'),
        "field 'head_config' must be a JSON object",
    ),
    "text thresholds": (_set("thresholds", ["0.3", "0.5", "0.25"]), "field 'thresholds' has '0.3' for Action"),
    "NaN threshold": (_set("thresholds", [0.3, float("nan"), 0.25]), "field 'thresholds' has nan for Drama"),
    "negative threshold": (_set("thresholds", [0.3, 0.5, -0.1]), "field 'thresholds' has -0.1 for Family"),
    "threshold above 1": (_set("thresholds", [1.5, 0.5, 0.25]), "field 'thresholds' has 1.5 for Action"),
    "boolean threshold": (_set("thresholds", [True, 0.5, 0.25]), "field 'thresholds' has True for Action"),
    "too few thresholds": (
        _set("thresholds", [0.3, 0.5]),
        "must be a list of 3 numbers (one per genre), found 2 values",
    ),
    "unknown head_type": (_set("head_type", "xgboost"), "field 'head_type' is 'xgboost', not a known head"),
    "unknown feature_set": (
        _set("feature_set", "pooled+magic"),
        "field 'feature_set' is 'pooled+magic', not a feature set of efficientnet-lite0",
    ),
    "unknown backbone": (_set("backbone", "resnet-9000"), "field 'backbone' names no installed backbone"),
    "genres not a list": (_set("genres", "Action,Drama,Family"), "field 'genres' must be a non-empty list"),
    "duplicate genre": (_set("genres", ["Action", "Drama", "Drama"]), "field 'genres' lists a genre twice: ['Drama']"),
    "missing field": (lambda meta: meta.pop("genres") and None, "missing field 'genres'"),
    "feature_slice text": (
        lambda meta: meta["head_config"].__setitem__("feature_slice", "0:1280"),
        "field 'head_config.feature_slice'",
    ),
    "feature_slice too wide": (
        lambda meta: meta["head_config"].__setitem__("feature_slice", [0, 99999]),
        "is [0, 99999]: must be [start, stop] with 0 <= start < stop <= 2848",
    ),
    "string poster_check": (
        lambda meta: meta["head_config"].__setitem__("poster_check", "off"),
        "field 'head_config.poster_check'",
    ),
    "metrics a list": (_set("metrics", []), "field 'metrics' must be a JSON object"),
    "format_version text": (_set("format_version", "1"), "unsupported format_version '1'"),
}


@pytest.mark.parametrize("case", sorted(META_CASES))
def test_tampered_model_json_is_one_clear_error(model: Path, case: str) -> None:
    edit, message = META_CASES[case]
    _edit_meta(model, edit)
    with pytest.raises(ModelError) as info:
        ModelArtifact.load(model)
    assert str(info.value).startswith(f"{model / META_FILE}: "), str(info.value)
    assert message in str(info.value)


def _poison(name: str, value: float) -> Callable[[dict], None]:
    def edit(tensors: dict) -> None:
        tensors[name] = tensors[name].copy()
        tensors[name].flat[7] = value

    return edit


TENSOR_CASES = {
    "missing tensor": (lambda t: t.pop("head.b0"), "tensor 'head.b0' listed in model.json is missing"),
    "NaN weight": (_poison("head.w0", np.nan), "tensor 'head.w0' has NaN or infinite values"),
    "infinite mean": (_poison("head.mean", np.inf), "tensor 'head.mean' has NaN or infinite values"),
    "reshaped weight": (
        lambda t: t.__setitem__("head.w0", t["head.w0"][:2]),
        "tensor 'head.w0' is float16 [2, 1280] but model.json records float16 [3, 1280]",
    ),
    "zero scale": (_poison("head.scale", 0.0), "head part (logreg, tensors head.*): tensor scale has zeros"),
}


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_tampered_weights_are_one_clear_error(model: Path, case: str) -> None:
    edit, message = TENSOR_CASES[case]
    _edit_tensors(model, edit)
    with pytest.raises(ModelError) as info:
        ModelArtifact.load(model)
    assert str(info.value).startswith(f"{model / WEIGHTS_FILE}: "), str(info.value)
    assert message in str(info.value)


def test_a_head_that_does_not_fit_its_genres_is_refused(model: Path) -> None:
    """Tensors and model.json agree with each other but the head gives 2 outputs for 3 genres."""

    def shrink(tensors: dict) -> None:
        tensors["head.w0"], tensors["head.b0"] = tensors["head.w0"][:2], tensors["head.b0"][:2]

    _edit_tensors(model, shrink)
    _edit_meta(
        model,
        lambda meta: meta["tensors"].update(
            {"head.w0": {"dtype": "float16", "shape": [2, WIDTH]}, "head.b0": {"dtype": "float32", "shape": [2]}}
        ),
    )
    with pytest.raises(ModelError, match=r"head outputs 2 values but model\.json lists 3 genres"):
        ModelArtifact.load(model)


def test_optional_parts_other_layers_add_are_accepted(tmp_path: Path) -> None:
    art = _artifact()
    art.tensors |= {
        "synopsis.w0": np.ones((3, 8), dtype=np.float32),
        "fusion.weights": np.array([0.6, 0.4], dtype=np.float32),
    }
    art.head_config |= {
        "synopsis": {"encoder": "test", "dim": 8},
        "fusion": {"kind": "mean", "weights": [0.6, 0.4]},
        "poster_check": {"threshold": 4.0},
    }
    art.metrics["segments"] = {"studio": {"macro_auc": 0.7}}
    back = ModelArtifact.load(art.save(tmp_path / "m"))
    assert back.metadata() == art.metadata()
    assert np.array_equal(back.tensors["fusion.weights"], art.tensors["fusion.weights"])


def test_the_bundled_model_passes_validation_and_records_its_provenance() -> None:
    """The bundled model loads through every check, holds exactly what its model.json lists, and records where it
    came from (data fingerprint, versions, the command that made it) as every artifact must."""
    bundled = ModelArtifact.load()
    meta = json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))
    assert bundled.genres == meta["genres"] and len(set(bundled.genres)) == len(bundled.genres)
    assert np.array_equal(bundled.thresholds, np.asarray(meta["thresholds"], dtype=np.float64))
    assert ((bundled.thresholds > 0) & (bundled.thresholds < 1)).all()
    on_disk = load_file(str(DEFAULT_MODEL_DIR / WEIGHTS_FILE))
    assert set(bundled.tensors) == set(meta["tensors"]) == set(on_disk)
    assert all(np.array_equal(bundled.tensors[k], on_disk[k]) for k in on_disk)
    fingerprint = bundled.data_fingerprint
    assert len(fingerprint["sha256"]) == 64 and fingerprint["movies"] > 0 and fingerprint["posters"] > 0
    assert set(fingerprint["genre_counts"]) >= set(bundled.genres)
    assert {"postergenre", "numpy"} <= set(bundled.versions) and bundled.created_at
    cv = bundled.metrics["cv"]["per_genre"]
    assert cv and {r["genre"] for r in cv} == set(bundled.genres)


def test_cli_reports_a_tampered_model_in_one_line(model: Path, tmp_path: Path, shared_data: Path) -> None:
    _edit_meta(model, _set("thresholds", [0.3, float("nan"), 0.25]))
    postergenre = str(Path(sys.executable).parent / "postergenre")
    result = subprocess.run(
        [postergenre, "predict", str(shared_data / "posters" / "tt0000003.jpg"), "--model", str(model)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "POSTERGENRE_HOME": str(tmp_path / "home"), "COLUMNS": "300"},
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert f"{model / META_FILE}: field 'thresholds' has nan for Drama" in result.stderr
