"""Service fixtures: the real model, the `small_home` catalog, and real uvicorn servers on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.posters.store import PosterStore


def _model_dir() -> Path:
    """The bundled model; POSTERGENRE_TEST_MODEL points elsewhere (e.g. a model under development)."""
    from postergenre.model.artifact import DEFAULT_MODEL_DIR

    return Path(os.environ.get("POSTERGENRE_TEST_MODEL") or DEFAULT_MODEL_DIR)


@pytest.fixture(scope="session")
def predictor(small_home: Path):
    from postergenre.predict.predictor import Predictor

    folder = _model_dir()
    if not (folder / "model.json").is_file():
        pytest.skip(f"no trained model at {folder} (train one or set POSTERGENRE_TEST_MODEL)")
    return Predictor.load(folder, home=small_home)


@dataclass(frozen=True)
class Poster:
    imdb_id: str
    sha256: str
    data: bytes


@pytest.fixture(scope="session")
def catalog_posters(small_home: Path) -> list[Poster]:
    """Shared posters stored in the small home, with their catalog ids."""
    paths = get_paths(small_home)
    store = PosterStore(paths.posters)
    with Catalog(paths.db) as catalog:
        movies = [m for m in catalog.movies() if m.poster_status == "ok" and m.poster_sha256]
    seen: set[str] = set()
    posters = []
    for m in movies:
        if m.poster_sha256 not in seen:
            seen.add(m.poster_sha256)
            posters.append(Poster(m.imdb_id, m.poster_sha256, store.read(m.poster_sha256)))
        if len(posters) == 4:
            break
    assert len(posters) >= 2, "small_home should hold shared posters"
    return posters


class ServerThread:
    """A real uvicorn server for `app` on a free port, in a daemon thread; `config`: more uvicorn.Config settings
    (e.g. the guarded protocol `postergenre serve` uses). `bind="0.0.0.0"` listens beyond loopback, as a team's
    server does; the tests still send their traffic to 127.0.0.1 only (`url`)."""

    def __init__(self, app, *, bind: str = "127.0.0.1", **config):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((bind, 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **config)
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()

    def raw(self) -> socket.socket:
        """A plain TCP connection to the server, for clients that misbehave on purpose."""
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


MAX_UPLOAD_BYTES = 2_000_000


@pytest.fixture(scope="session")
def serve():
    """`with serve(app) as running: running.url` — a server for an app built inside a test."""
    return ServerThread


@pytest.fixture(scope="session")
def upload_limit() -> int:
    return MAX_UPLOAD_BYTES


@pytest.fixture(scope="session")
def app(predictor, small_home: Path):
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    return create_app(
        ServiceSettings(home=small_home, max_upload_bytes=MAX_UPLOAD_BYTES, max_concurrency=2, max_waiting=64),
        predictor=predictor,
    )


@pytest.fixture(scope="session")
def server(app) -> Iterator[ServerThread]:
    with ServerThread(app) as running:
        yield running


@pytest.fixture()
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c
