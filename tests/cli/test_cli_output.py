"""Output that is not a terminal (issue 26): tables keep every character as tab-separated rows, and a reader that
closes the pipe early stops the work at the next write, quietly, with the status of a writer ended by SIGPIPE.

Real processes and real pipes: what `postergenre predict … | head -c 100` does."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

POSTERGENRE = str(Path(sys.executable).parent / "postergenre")
CLOSED_PIPE = 141  # 128 + SIGPIPE


def _env(home: Path) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "POSTERGENRE_HOME": str(home)}


@pytest.fixture()
def poster(shared_data: Path) -> Path:
    return next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))


def test_a_piped_predict_table_keeps_the_whole_path(tmp_path: Path, poster: Path) -> None:
    folder = tmp_path / "a_long_folder_name_for_campaign_work" / "another_long_folder_name_here"
    folder.mkdir(parents=True)
    names = ["poster_variant_final_v3.jpg", "poster_variant_final_v4.jpg"]  # alike for their first 18 characters
    for name in names:
        (folder / name).write_bytes(poster.read_bytes())
    run = subprocess.run(
        [POSTERGENRE, "predict", *(folder / n for n in names)],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "home"),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split("\t")[:2] == ["poster", "reading"]
    assert [line.split("\t")[0] for line in lines[1:]] == [str(folder / n) for n in names]  # whole, one row each
    assert all(line.count("\t") == lines[0].count("\t") for line in lines)
    assert not any(ch in run.stdout for ch in "│┃━─…")  # no box drawing, nothing cut


def test_a_piped_import_table_keeps_headers_and_paths(tmp_path: Path) -> None:
    catalog = tmp_path / "an_agency_export_with_a_rather_long_folder_name" / "studio_catalog_export_2026.csv"
    catalog.parent.mkdir()
    catalog.write_text(
        "imdb_id,title,year,genres,poster\ntt0000001,Fine,1999,Drama,\ntt0000001,Fine,1999,Drama,\n", encoding="utf-8"
    )
    run = subprocess.run(
        [POSTERGENRE, "catalog", "import", catalog],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "home"),
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "# catalog import"
    assert lines[1].split("\t") == [
        "file",
        "format",
        "collection",
        "added",
        "updated",
        "unchanged",
        "duplicates merged",
        "conflicts",
        "rejected",
    ]
    assert lines[2].split("\t")[0] == str(catalog) and lines[2].split("\t")[6] == "1"


class _Posters(BaseHTTPRequestHandler):
    """The same poster under any name; counts the requests (= posters the command read)."""

    data = b""
    served = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with _Posters.lock:
            _Posters.served += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(self.data)))
        self.end_headers()
        self.wfile.write(self.data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def poster_urls(poster: Path) -> Iterator[list[str]]:
    _Posters.data, _Posters.served = poster.read_bytes(), 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Posters)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield [f"http://127.0.0.1:{server.server_address[1]}/p{i}.jpg" for i in range(200)]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "json", "table"])
def test_a_closed_pipe_stops_the_work(tmp_path: Path, poster_urls: list[str], fmt: str) -> None:
    process = subprocess.Popen(
        [POSTERGENRE, "predict", *poster_urls, "--allow-private-urls", "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(tmp_path / "home"),
    )
    assert process.stdout is not None and process.stderr is not None
    head = process.stdout.read(100)  # `| head -c 100`
    process.stdout.close()
    err = process.stderr.read().decode()
    code = process.wait(timeout=300)

    assert len(head) == 100
    assert code == CLOSED_PIPE, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    # It stopped at the first write after the pipe closed: a few posters read, not 200 (counted by the server).
    assert _Posters.served < 20, f"{_Posters.served} of {len(poster_urls)} posters read after the reader left"


def test_the_whole_run_reads_every_poster(tmp_path: Path, poster_urls: list[str]) -> None:
    """The reference for the test above: a reader that reads everything gets every poster read (40 of them here)."""
    run = subprocess.run(
        [POSTERGENRE, "predict", *poster_urls[:40], "--allow-private-urls", "--format", "csv"],
        capture_output=True,
        text=True,
        env=_env(tmp_path / "home"),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert _Posters.served == 40 and len(run.stdout.splitlines()) == 41
