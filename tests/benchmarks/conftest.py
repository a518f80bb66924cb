"""Tests of code that only the benchmarks use: it lives in benchmarks/, which they import from."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
