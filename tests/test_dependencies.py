"""What `make install` (requirements.lock + pyproject) brings is enough for the README's commands (issue 20)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        found = re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if found:
            pins[found.group(1).lower().replace("_", "-")] = found.group(2)
    return pins


def test_parquet_output_needs_nothing_beyond_the_base_install() -> None:
    """`predict-catalog --out x.parquet` after `make run`: pyarrow is pinned in the base lock and pyproject, at the
    version the Ray lock pins (one pyarrow for both installs)."""
    ray_version = _pins(REPO / "requirements-ray.lock")["pyarrow"]
    assert _pins(REPO / "requirements.lock").get("pyarrow") == ray_version
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    assert f"pyarrow=={ray_version}" in [d.split(";")[0].strip() for d in dependencies]
