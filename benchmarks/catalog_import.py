"""Catalog import speed: `postergenre catalog import` of movies.csv and of the studio export, first import and
an unchanged re-import, each in a fresh temporary data folder, through the installed command (so the numbers
include start-up, reading, the duplicate merge and the SQLite transaction).

    python benchmarks/catalog_import.py [--data ../shared/data] [--repeat 3] [--json PATH]

Reports the median wall time over --repeat runs and the load average (on a shared machine it explains most of
the variance), and checks the counts the command printed (a re-import must report every row unchanged).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_result  # benchmarks/ sibling (run as a script)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "catalog_import.json"
DEFAULT_DATA = REPO.parent / "shared" / "data"
CLI = str(Path(sys.executable).with_name("postergenre"))


def _import(home: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([CLI, "catalog", "import", *args, "--home", str(home)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "300"}, check=True)
    return time.perf_counter() - start, done.stdout


def _counts(output: str) -> tuple[int, int, int]:
    """(added, updated, unchanged) from the import table's single data row."""
    row = next(line for line in output.splitlines() if line.startswith("│") and "/" in line)
    cells = [c.strip() for c in row.strip("│").split("│")]
    return int(cells[3]), int(cells[4]), int(cells[5])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    files = {
        "movies.csv (general)": [str(args.data / "movies.csv")],
        "studio export (studio)": [str(args.data / "studio-catalog" / "imdb_api_export.csv"), "--collection", "studio"],
    }
    results = {}
    for name, cli_args in files.items():
        first, again = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, out = _import(Path(tmp), *cli_args)
                added = _counts(out)[0]
                first.append(seconds)
                seconds, out = _import(Path(tmp), *cli_args)
                assert _counts(out) == (0, 0, added), f"re-import of {name} was not unchanged: {_counts(out)}"
                again.append(seconds)
        results[name] = {"rows": added, "first_import_s": round(statistics.median(first), 3),
                         "unchanged_reimport_s": round(statistics.median(again), 3)}
        print(f"{name:26s} {added:6d} rows   import {results[name]['first_import_s']:.2f} s   "
              f"unchanged re-import {results[name]['unchanged_reimport_s']:.2f} s")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} on {os.cpu_count()} cores (median of {args.repeat} runs each)")
    write_result(args.json, {"results": results, "repeat": args.repeat, "loadavg_1min": round(load[0], 2),
                             "cpus": os.cpu_count()})


if __name__ == "__main__":
    main()
