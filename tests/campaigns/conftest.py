"""Fixtures for the campaign tests: a store in a fresh data folder and readings to add (poster_files: root conftest)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from postergenre.campaigns.records import NewVariant, StoredReading
from postergenre.campaigns.store import CampaignStore
from postergenre.config import get_paths


@pytest.fixture()
def store(home: Path) -> Iterator[CampaignStore]:
    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as opened:
        yield opened


def _reading(seed: int = 0) -> StoredReading:
    """A reading as the uses layer hands it over (this layer stores it as data, whatever the model said)."""
    rng = np.random.default_rng(seed)
    return StoredReading(
        model="m1",
        model_label="model of today on onnx-int8",
        poster={"decided": ["Family"], "probabilities": {"Family": float(rng.random())}},
        embedding=rng.normal(size=1280).astype(np.float32),
        width=300,
        height=450,
        read_at="2026-01-01T00:00:00+00:00",
        synopsis="s1",
        combined={"decided": ["Family"]},
    )


@pytest.fixture(scope="session")
def make_reading():
    """`make_reading(seed)`: a StoredReading as the uses layer hands it over (stored as data, whatever it says)."""
    return _reading


@pytest.fixture(scope="session")
def make_variant():
    """`make_variant(path, seed)`: the poster file at `path` with a reading, ready to add."""
    return lambda path, seed=0: NewVariant(path.read_bytes(), path.name, _reading(seed))
