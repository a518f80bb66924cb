"""kill -9 during `predict-catalog` leaves nothing beside the output a user would trip over (issue 20)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

# The real command in a real process, with small chunks and a pause after each write so the kill lands mid-file.
_SLOW_RUN = """
import sys, time
from pathlib import Path
import postergenre.predict.catalog_predictions as cp
marker = Path(sys.argv[1])
cp.CHUNK_MOVIES = 8
real = cp._chunk_table
def slow(*args, **kwargs):
    marker.touch()  # the kill may come now: a chunk is being written
    time.sleep(0.3)
    return real(*args, **kwargs)
cp._chunk_table = slow
sys.argv = ["postergenre", "predict-catalog", "--out", sys.argv[2], "--home", sys.argv[3]]
from postergenre.cli import main
main()
"""


def _kill_mid_write(home: Path, out: Path, marker: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_RUN, str(marker), str(out), str(home)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a few chunks into the file
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL  # killed mid-run, not finished


@pytest.mark.slow
def test_kill_9_mid_write_leaves_no_partial_file_and_a_rerun_completes(copy_home, tmp_path: Path) -> None:
    home = copy_home()
    out_dir = tmp_path / "bi"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("the user's own file")
    out = out_dir / "genres.parquet"

    _kill_mid_write(home, out, tmp_path / "writing")

    assert sorted(os.listdir(out_dir)) == ["keep.txt"]  # no .partial, no temporary, no half table

    rerun = subprocess.run(
        [str(Path(sys.executable).parent / "postergenre"), "predict-catalog", "--out", str(out), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(os.listdir(out_dir)) == ["genres.parquet", "keep.txt"]


def test_stale_temporaries_of_a_killed_run_are_removed_on_start_and_said_so(copy_home, tmp_path: Path) -> None:
    """Where the file system has no anonymous temporary files, a killed writer's named temporary is removed (and
    reported) by the next run; one of a writer still alive is left alone."""
    from postergenre.files import partial_name

    home = copy_home()
    out = tmp_path / "genres.parquet"
    stale = tmp_path / partial_name(out, pid=2**22 + 12345)  # no such process
    stale.write_bytes(b"PAR1 half a table")
    legacy = tmp_path / ".genres.parquet.partial"  # the name older versions left
    legacy.write_bytes(b"PAR1")
    live = tmp_path / partial_name(out, pid=os.getpid())
    live.write_bytes(b"PAR1 in flight")

    run = subprocess.run(
        [str(Path(sys.executable).parent / "postergenre"), "predict-catalog", "--out", str(out), "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr
    assert not stale.exists() and not legacy.exists() and live.exists()
    assert "removed 2 temporary files left by an interrupted run" in run.stderr
