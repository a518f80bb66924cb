"""The pages under test: each built once per session from real data objects with hostile strings (hostile_pages)."""

from __future__ import annotations

from pathlib import Path

import hostile_pages
import pytest
from hostile_pages import Page


@pytest.fixture(scope="session")
def core():
    """The bundled model's core (the brief's genres, thresholds and CV numbers come from it)."""
    from postergenre.model.artifact import DEFAULT_MODEL_DIR
    from postergenre.predict.predictor import Predictor

    if not (DEFAULT_MODEL_DIR / "model.json").is_file():
        pytest.skip(f"no bundled model at {DEFAULT_MODEL_DIR}")
    return Predictor.load(DEFAULT_MODEL_DIR).core


@pytest.fixture(scope="session")
def pages(core, tmp_path_factory: pytest.TempPathFactory) -> list[Page]:
    folder: Path = tmp_path_factory.mktemp("evaluation")
    return [
        hostile_pages.brief_page(core),
        hostile_pages.sheet_page(),
        hostile_pages.dataset_page(),
        hostile_pages.evaluation_page(folder),
        hostile_pages.card_page(),
    ]
