"""Shared by the benchmark scripts: write a result JSON atomically (a killed run leaves the old file)."""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_result(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    print(f"wrote {path}")
