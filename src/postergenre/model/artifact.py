"""A trained model on disk: safetensors for arrays, JSON for everything else, a markdown card for people.

No pickle anywhere, so loading a model file cannot run code. Saving writes a complete temporary folder and
swaps it in with os.replace, so a crash never leaves half a model where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file

from ..errors import ModelError

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"


def package_versions() -> dict[str, str]:
    """Versions recorded in every artifact so a surprising result can be traced to its environment."""
    import sklearn
    import torch

    from .. import __version__

    return {"postergenre": __version__, "torch": torch.__version__, "numpy": np.__version__, "sklearn": sklearn.__version__}


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ModelArtifact:
    """Everything needed to use and audit a trained head (the backbone comes from its own package)."""

    genres: list[str]
    thresholds: np.ndarray
    backbone: str
    preprocess_version: str
    feature_set: str
    head_type: str
    head_config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: dict[str, Any] = field(default_factory=dict)
    training_options: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=package_versions)
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64)
        if self.thresholds.shape != (len(self.genres),):
            raise ModelError(f"model has {len(self.genres)} genres but {self.thresholds.shape} thresholds")

    # -- compatibility ------------------------------------------------------------------------------

    def check_compatible(self, backbone: str, preprocess_version: str) -> None:
        """Refuse embeddings from another network or preprocessing: the head would silently output noise."""
        if backbone != self.backbone or preprocess_version != self.preprocess_version:
            raise ModelError(
                f"model was trained on {self.backbone} embeddings (preprocessing {self.preprocess_version}) but the "
                f"features given are {backbone} (preprocessing {preprocess_version}); embed with "
                f"`postergenre embed --backbone {self.backbone}` or retrain the model on {backbone}"
            )

    # -- disk -------------------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "genres": list(self.genres),
            "thresholds": [float(t) for t in self.thresholds],
            "backbone": self.backbone,
            "preprocess_version": self.preprocess_version,
            "feature_set": self.feature_set,
            "head_type": self.head_type,
            "head_config": self.head_config,
            "metrics": self.metrics,
            "data_fingerprint": self.data_fingerprint,
            "training_options": self.training_options,
            "versions": self.versions,
            "created_at": self.created_at,
            "tensors": {k: {"dtype": str(v.dtype), "shape": list(v.shape)} for k, v in sorted(self.tensors.items())},
        }

    def save(self, directory: Path | str) -> Path:
        """Write model.safetensors, model.json and MODEL_CARD.md into `directory`, atomically as a whole."""
        from .card import model_card

        target = Path(directory).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            tmp.chmod(0o755)  # mkdtemp makes it private; a model folder (and the bundled one) is meant to be read
            save_file({k: np.ascontiguousarray(v) for k, v in self.tensors.items()}, str(tmp / WEIGHTS_FILE),
                      metadata={"format": "postergenre-head", "format_version": str(FORMAT_VERSION)})
            (tmp / META_FILE).write_text(json.dumps(self.metadata(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
            (tmp / CARD_FILE).write_text(model_card(self), encoding="utf-8")
            for name in (WEIGHTS_FILE, META_FILE, CARD_FILE):
                (tmp / name).chmod(0o644)
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}"
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: Path | str | None = None) -> "ModelArtifact":
        """Read a saved model (the bundled default when `directory` is None); ModelError names the path at fault."""
        folder = Path(directory) if directory is not None else DEFAULT_MODEL_DIR
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelError(f"{folder} is not a model folder: expected {META_FILE} and {WEIGHTS_FILE} (train one with `postergenre train`)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{meta_path}: not valid JSON ({exc})") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise ModelError(f"{meta_path}: unsupported format_version {meta.get('format_version')!r} (this postergenre reads {FORMAT_VERSION})")
        try:
            tensors = load_file(str(weights_path))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ModelError(f"{weights_path}: cannot read weights ({exc})") from exc
        try:
            return cls(
                genres=list(meta["genres"]), thresholds=np.asarray(meta["thresholds"], dtype=np.float64),
                backbone=meta["backbone"], preprocess_version=meta["preprocess_version"], feature_set=meta["feature_set"],
                head_type=meta["head_type"], head_config=meta["head_config"], tensors=tensors,
                metrics=meta.get("metrics", {}), data_fingerprint=meta.get("data_fingerprint", {}),
                training_options=meta.get("training_options", {}), versions=meta.get("versions", {}),
                created_at=meta.get("created_at", ""),
            )
        except KeyError as exc:
            raise ModelError(f"{meta_path}: missing field {exc.args[0]!r}") from exc
