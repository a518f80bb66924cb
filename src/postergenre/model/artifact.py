"""A trained model on disk: safetensors for arrays, JSON for everything else, and the Markdown card for people that
the caller who saves it supplies (the card is rendered above this layer: `render.model_card`).

No pickle anywhere, so loading a model file cannot run code, and `load` checks model.json field by field and
every tensor (listed, shaped as recorded, finite, consistent with the head) so a tampered or broken model
fails with one ModelError naming the file and the field instead of a traceback or "nan%" later.

Saving over an existing model is crash-safe: the new model is written complete into a temporary folder
`.NAME.tmp-PID-*`, the old one is renamed aside to `.NAME.old-PID-*`, the new one renamed into place, and the
old one deleted. A process killed between the two renames leaves no NAME, only the complete old model beside
it; the next `load` or `save` of NAME restores it (once its writer is gone), and sweeps temporary folders of
killed writers. So NAME always names a complete model, the old or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shutil
import signal
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path
from typing import Any, cast

import numpy as np
from safetensors.numpy import load_file, save_file

from ..clock import utc_now
from ..errors import ModelError, PosterGenreError
from ..features.registry import get_backbone
from ..files import pid_alive
from .heads import head_names
from .layout import read_part, saved_views
from .parts import PosterHead

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"
# Only the fault-injection tests set this: the save kills its own process at the named point.
FAULT_ENV = "POSTERGENRE_FAULT_MODEL_SAVE"  # "before-renames" | "between-renames"


def package_versions() -> dict[str, str]:
    """Versions recorded in every artifact so a surprising result can be traced to its environment."""
    import sklearn
    import torch

    from .._version import __version__

    return {
        "postergenre": __version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }


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

    def save(self, directory: Path | str, *, card: str | None = None) -> Path:
        """Write model.safetensors, model.json and, when given, `card` as MODEL_CARD.md into `directory`, atomically
        as a whole: the card is in the same temporary folder and rename as the model, so a model folder never holds
        a card of another model (see the module docstring for how an old model there survives a crash)."""
        target = Path(directory).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        recover(target)
        token = secrets.token_hex(4)
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{token}"
        tmp.mkdir(mode=0o755)  # a model folder (and the bundled one) is meant to be read by others
        try:
            save_file(
                {k: np.ascontiguousarray(v) for k, v in self.tensors.items()},
                str(tmp / WEIGHTS_FILE),
                metadata={"format": "postergenre-head", "format_version": str(FORMAT_VERSION)},
            )
            (tmp / META_FILE).write_text(
                json.dumps(self.metadata(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
            )
            written = [WEIGHTS_FILE, META_FILE]
            if card is not None:
                (tmp / CARD_FILE).write_text(card, encoding="utf-8")
                written.append(CARD_FILE)
            for name in written:
                (tmp / name).chmod(0o644)
                _fsync(tmp / name)  # the new model is on disk before the old one is moved aside
            _fault("before-renames")
            old = None
            if target.exists():
                old = target.parent / f".{target.name}.old-{os.getpid()}-{token}"
                os.replace(target, old)
                _fault("between-renames")
            os.replace(tmp, target)
            _fsync(target.parent)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, directory: Path | str | None = None) -> ModelArtifact:
        """Read a saved model (the bundled default when `directory` is None); ModelError names the file and
        field at fault. A model left aside by a save that was killed mid-swap is restored first."""
        folder = Path(directory) if directory is not None else DEFAULT_MODEL_DIR
        folder = _recovered(folder)
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise ModelError(
                f"{folder} is not a model folder: expected {META_FILE} and {WEIGHTS_FILE} (train one "
                "with `postergenre train`)"
            )
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ModelError(f"{meta_path}: not valid JSON ({exc})") from exc
        _check_meta(meta, meta_path)
        try:
            tensors = load_file(str(weights_path))
        except Exception as exc:  # safetensors raises its own error types for corrupt files
            raise ModelError(f"{weights_path}: cannot read weights ({exc})") from exc
        _check_tensors(meta, tensors, meta_path, weights_path)
        return cls(
            genres=list(meta["genres"]),
            thresholds=np.asarray(meta["thresholds"], dtype=np.float64),
            backbone=meta["backbone"],
            preprocess_version=meta["preprocess_version"],
            feature_set=meta["feature_set"],
            head_type=meta["head_type"],
            head_config=meta["head_config"],
            tensors=tensors,
            metrics=meta.get("metrics", {}),
            data_fingerprint=meta.get("data_fingerprint", {}),
            training_options=meta.get("training_options", {}),
            versions=meta.get("versions", {}),
            created_at=meta.get("created_at", ""),
        )


# -- validation of a loaded model --------------------------------------------------------------------


def _field_error(path: Path, name: str, problem: str) -> ModelError:
    return ModelError(f"{path}: field {name!r} {problem}")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _check_meta(meta: Any, path: Path) -> None:
    """model.json: an object whose fields have the types and values a model needs (extra keys are fine)."""
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: must be a JSON object with the model's fields, found a JSON {type(meta).__name__}")
    version = meta.get("format_version")
    if not _is_int(version) or version != FORMAT_VERSION:
        raise ModelError(f"{path}: unsupported format_version {version!r} (this postergenre reads {FORMAT_VERSION})")
    for name in ("genres", "thresholds", "backbone", "preprocess_version", "feature_set", "head_type", "head_config"):
        if name not in meta:
            raise ModelError(f"{path}: missing field {name!r}")

    genres = meta["genres"]
    if not isinstance(genres, list) or not genres or not all(isinstance(g, str) and g.strip() for g in genres):
        raise _field_error(path, "genres", "must be a non-empty list of genre names")
    if len(set(genres)) != len(genres):
        raise _field_error(path, "genres", f"lists a genre twice: {sorted({g for g in genres if genres.count(g) > 1})}")

    thresholds = meta["thresholds"]
    if not isinstance(thresholds, list) or len(thresholds) != len(genres):
        found = f"{len(thresholds)} values" if isinstance(thresholds, list) else f"a JSON {type(thresholds).__name__}"
        raise _field_error(
            path, "thresholds", f"must be a list of {len(genres)} numbers (one per genre), found {found}"
        )
    for genre, value in zip(genres, thresholds, strict=True):
        if (
            not isinstance(value, Real)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or not 0 <= float(value) <= 1
        ):
            raise _field_error(path, "thresholds", f"has {value!r} for {genre}: each must be a number from 0 to 1")

    for name in ("backbone", "preprocess_version", "feature_set", "head_type"):
        if not isinstance(meta[name], str) or not meta[name]:
            raise _field_error(path, name, f"must be a non-empty string, found {meta[name]!r}")
    if meta["head_type"] not in head_names():
        raise _field_error(path, "head_type", f"is {meta['head_type']!r}, not a known head ({', '.join(head_names())})")
    try:
        spec = get_backbone(meta["backbone"])
    except PosterGenreError as exc:
        raise _field_error(path, "backbone", f"names no installed backbone ({exc})") from None
    if meta["feature_set"] not in spec.feature_sets:
        raise _field_error(
            path,
            "feature_set",
            f"is {meta['feature_set']!r}, not a feature set of {spec.name} ({', '.join(spec.feature_sets)})",
        )

    config = meta["head_config"]
    if not isinstance(config, dict):
        raise _field_error(path, "head_config", f"must be a JSON object, found {type(config).__name__}")
    feature_slice = config.get("feature_slice", [0, spec.feature_dim])
    if (
        not isinstance(feature_slice, list)
        or len(feature_slice) != 2
        or not all(_is_int(v) for v in feature_slice)
        or not 0 <= feature_slice[0] < feature_slice[1] <= spec.feature_dim
    ):
        raise _field_error(
            path,
            "head_config.feature_slice",
            f"is {feature_slice!r}: must be [start, stop] with 0 <= start < stop <= {spec.feature_dim}",
        )
    try:
        saved_views(config)
    except ModelError as exc:
        raise ModelError(f"{path}: {exc}") from None
    for name in ("settings", "poster_check"):
        if name in config and not isinstance(config[name], dict):
            raise _field_error(
                path, f"head_config.{name}", f"must be a JSON object, found {type(config[name]).__name__}"
            )
    for name in ("metrics", "data_fingerprint", "training_options", "versions", "tensors"):
        if name in meta and not isinstance(meta[name], dict):
            raise _field_error(path, name, f"must be a JSON object, found {type(meta[name]).__name__}")


def _check_tensors(meta: dict[str, Any], tensors: dict[str, np.ndarray], meta_path: Path, weights_path: Path) -> None:
    """Every tensor model.json lists is there as recorded, every tensor is finite, and the head's tensors fit
    the genres and the feature slice. Extra tensors (synopsis., fusion., poster_check.) are accepted."""
    for name, recorded in meta.get("tensors", {}).items():
        if name not in tensors:
            raise ModelError(f"{weights_path}: tensor {name!r} listed in {META_FILE} is missing")
        if not isinstance(recorded, dict):
            raise _field_error(meta_path, f"tensors.{name}", "must be a JSON object with dtype and shape")
        array = tensors[name]
        if recorded.get("shape") != list(array.shape) or recorded.get("dtype") != str(array.dtype):
            raise ModelError(
                f"{weights_path}: tensor {name!r} is {array.dtype} {list(array.shape)} but {META_FILE} "
                f"records {recorded.get('dtype')} {recorded.get('shape')}"
            )
    for name, array in tensors.items():
        if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
            raise ModelError(f"{weights_path}: tensor {name!r} has NaN or infinite values")

    start, stop = meta["head_config"].get("feature_slice", [0, get_backbone(meta["backbone"]).feature_dim])
    try:
        head = read_part("head", meta["head_type"], meta["head_config"], tensors)
    except ModelError as exc:
        raise ModelError(f"{weights_path}: {exc}") from None
    head = cast(PosterHead, head)
    if head.n_features_in_ != stop - start:
        raise ModelError(
            f"{weights_path}: the head reads {head.n_features_in_} features but head_config.feature_slice "
            f"is {stop - start} wide"
        )
    if head.n_outputs_ != len(meta["genres"]):
        raise ModelError(
            f"{weights_path}: head outputs {head.n_outputs_} values but {META_FILE} lists {len(meta['genres'])} genres"
        )


# -- crash-safe replacement: recovery and sweeping ---------------------------------------------------


def _side_folders(target: Path, kind: str) -> list[tuple[Path, int]]:
    """(folder, writer pid) of `.NAME.tmp-PID-*` or `.NAME.old-PID-*` folders beside `target`, newest first."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.{kind}-(\d+)(-[0-9a-z_]+)?$")
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink():
            found.append((entry, int(match.group(1))))
    return sorted(found, key=lambda item: item[0].stat().st_mtime_ns, reverse=True)


def _complete(folder: Path) -> bool:
    return (folder / META_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()


def recover(target: Path | str) -> Path | None:
    """Repair what killed saves of `target` left: restore a complete old model when `target` is missing,
    delete temporary and old folders of writers that are gone. Returns the folder restored, if any.

    Folders of a live writer are left alone (it is mid-save). Needs write access to the parent folder;
    without it nothing is changed.
    """
    target = Path(target)
    restored = None
    try:
        if not target.exists():
            for old, pid in _side_folders(target, "old"):  # newest first
                if not pid_alive(pid) and _complete(old):
                    os.replace(old, target)
                    restored = target
                    break
        for folder, pid in _side_folders(target, "tmp"):
            if not pid_alive(pid):
                shutil.rmtree(folder, ignore_errors=True)
        if target.exists():
            for folder, pid in _side_folders(target, "old"):
                if not pid_alive(pid):
                    shutil.rmtree(folder, ignore_errors=True)
    except OSError:
        pass  # a read-only location (an installed bundled model): read what is there
    return restored


def _recovered(folder: Path) -> Path:
    """`folder` after recovery; while a live writer is mid-swap (folder missing), its complete old copy."""
    recover(folder)
    if not folder.exists():
        for old, _ in _side_folders(folder, "old"):
            if _complete(old):
                return old
    return folder


def _fsync(path: Path) -> None:
    """Flush a file or folder entry to disk (best effort: some file systems refuse it for folders)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fault(point: str) -> None:
    if os.environ.get(FAULT_ENV) == point:
        os.kill(os.getpid(), signal.SIGKILL)
