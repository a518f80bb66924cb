"""Saving over a model, killed with SIGKILL at the worst moments, never loses the model at `--out`.

The saving process kills itself at a named point (POSTERGENRE_FAULT_MODEL_SAVE, read only by
`ModelArtifact.save`): a real SIGKILL, nothing is cleaned up, exactly as a kill -9 from outside.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from postergenre.model.artifact import FAULT_ENV, ModelArtifact

SAVE_AGAIN = """
import sys
from postergenre.model.artifact import ModelArtifact
artifact = ModelArtifact.load(sys.argv[1])
artifact.thresholds = artifact.thresholds * 0 + float(sys.argv[3])  # the "new" model: other thresholds
artifact.save(sys.argv[2])
"""


def _artifact() -> ModelArtifact:
    rng = np.random.default_rng(1)
    return ModelArtifact(
        genres=["Action", "Drama"],
        thresholds=np.array([0.4, 0.6]),
        backbone="efficientnet-lite0",
        preprocess_version="v-test",
        feature_set="pooled",
        head_type="logreg",
        head_config={"feature_slice": [0, 1280]},
        versions={"postergenre": "test"},
        tensors={
            "head.mean": rng.normal(size=1280).astype(np.float32),
            "head.scale": np.ones(1280, np.float32),
            "head.w0": rng.normal(size=(2, 1280)).astype(np.float32),
            "head.b0": np.zeros(2, np.float32),
        },
    )


def _save_in_child(source: Path, target: Path, threshold: float, fault: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", SAVE_AGAIN, str(source), str(target), str(threshold)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_killed_overwrites_keep_a_complete_model_and_leave_nothing_behind(tmp_path: Path) -> None:
    source = _artifact().save(tmp_path / "source")
    target = _artifact().save(tmp_path / "models" / "mine")
    old_thresholds = ModelArtifact.load(target).thresholds.tolist()
    models = target.parent

    # 1. killed after writing the new model, before touching the old one: a stale temporary folder
    first = _save_in_child(source, target, 0.11, "before-renames")
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert ModelArtifact.load(target).thresholds.tolist() == old_thresholds

    # 2. killed between the renames: the old model is moved aside, the new one not yet in place
    second = _save_in_child(source, target, 0.22, "between-renames")
    assert second.returncode == -signal.SIGKILL, second.stderr
    assert not target.exists()  # the worst moment really happened
    leftovers = sorted(p.name for p in models.iterdir())
    assert any(name.startswith(".mine.old-") for name in leftovers), leftovers
    # the one of kill 1 was swept by save 2
    assert sum(name.startswith(".mine.tmp-") for name in leftovers) == 1, leftovers

    # loading `--out` restores the complete old model and sweeps what the killed writers left
    restored = ModelArtifact.load(target)
    assert restored.thresholds.tolist() == old_thresholds
    assert sorted(p.name for p in models.iterdir()) == ["mine"]

    # 3. an uninterrupted save afterwards replaces it as usual
    third = _save_in_child(source, target, 0.33, None)
    assert third.returncode == 0, third.stderr
    assert ModelArtifact.load(target).thresholds.tolist() == [0.33, 0.33]
    assert sorted(p.name for p in models.iterdir()) == ["mine"]


def test_a_save_after_a_kill_recovers_too(tmp_path: Path) -> None:
    """The next save (not only a load) restores and sweeps, then replaces the restored model."""
    source = _artifact().save(tmp_path / "source")
    target = _artifact().save(tmp_path / "models" / "mine")
    assert _save_in_child(source, target, 0.22, "between-renames").returncode == -signal.SIGKILL
    assert not target.exists()
    assert _save_in_child(source, target, 0.44, None).returncode == 0
    assert ModelArtifact.load(target).thresholds.tolist() == [0.44, 0.44]
    assert sorted(p.name for p in target.parent.iterdir()) == ["mine"]
