"""Shared fixtures (a pytest plugin, see tests/conftest.py) for the tests that read posters with the bundled model,
through the library (tests/predict) or the command line (tests/cli): the model, a few real shared posters, a local
HTTP server and the in-process `postergenre` runner."""

from __future__ import annotations

import functools
import os
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

# POSTERGENRE_TEST_MODEL points the tests at another artifact folder (development before a model is bundled).
_MODEL_ENV = "POSTERGENRE_TEST_MODEL"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    from postergenre.model.artifact import DEFAULT_MODEL_DIR

    folder = Path(os.environ.get(_MODEL_ENV) or DEFAULT_MODEL_DIR)
    if not (folder / "model.json").is_file():
        pytest.skip(f"no model artifact at {folder} (the bundled default model is missing; set {_MODEL_ENV})")
    return folder


@pytest.fixture(scope="session")
def predictor(model_dir: Path):
    from postergenre.predict.predictor import Predictor

    return Predictor.load(model_dir)


@pytest.fixture(scope="session")
def poster_paths(shared_data: Path, shared_rows: list[dict]) -> dict[str, Path]:
    """A few real modern posters by imdb id (stable: the first rows from 1990 on with an existing file)."""
    out = {}
    for row in shared_rows:
        path = shared_data / row["poster"]
        if not row["year"] or int(row["year"]) < 1990:
            continue
        if path.is_file():
            out[row["imdb_id"]] = path
        if len(out) >= 6:
            break
    return out


@pytest.fixture()
def three_posters(poster_paths: dict[str, Path]) -> list[Path]:
    return list(poster_paths.values())[:3]


class _Handler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture()
def http_root(tmp_path: Path, three_posters: list[Path]) -> Iterator[tuple[str, Path]]:
    """A real HTTP server on 127.0.0.1 serving a folder: poster.jpg, page.html; anything else is 404."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "poster.jpg").write_bytes(three_posters[0].read_bytes())
    (root / "page.html").write_text("<html><body>not a poster</body></html>", encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """Run `postergenre ARGS...` in-process through the real entry point -> (exit code, stdout, stderr)."""
    from postergenre.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["postergenre", *map(str, args)])
        monkeypatch.setenv("COLUMNS", "200")
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
