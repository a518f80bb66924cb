"""Fixtures for the scale-out tests: a copy of the small embedded home, the exported runtime graph, Ray."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def runtime_graphs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `runtimes` folder with the default backbone's ONNX graph exported once, copied into each test home
    so no test pays for the export (the key includes every version, so a copy is exactly what a home holds)."""
    from postergenre.features.registry import get_backbone
    from postergenre.features.runtime import load_runtime

    folder = tmp_path_factory.mktemp("graphs") / "runtimes"
    load_runtime(get_backbone(), "auto", cache_dir=folder).close()
    return folder


@pytest.fixture()
def copy_home(small_home: Path, runtime_graphs: Path, tmp_path: Path):
    """`copy_home(name)`: a writable copy of the small embedded home (164 shared posters) with the graph."""

    def copy(name: str = "home") -> Path:
        target = tmp_path / name
        shutil.copytree(small_home, target, symlinks=True)
        shutil.copytree(runtime_graphs, target / "runtimes", dirs_exist_ok=True)
        return target

    return copy
