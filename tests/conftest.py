"""Shared fixtures. Tests that need ../shared/data skip with a clear reason when it is absent."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POSTERGENRE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (18,000 real posters + movies.csv), or skip."""
    if not (SHARED_DATA / "movies.csv").is_file():
        pytest.skip(f"shared poster data not found at {SHARED_DATA} (set POSTERGENRE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_rows(shared_data: Path) -> list[dict]:
    with open(shared_data / "movies.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh POSTERGENRE_HOME for one test."""
    folder = tmp_path / "home"
    monkeypatch.setenv("POSTERGENRE_HOME", str(folder))
    return folder
