"""The team's server as people start it, for tests: `postergenre serve --host 0.0.0.0` in a subprocess on a free port
(its traffic to 127.0.0.1 only), and the CLI (`team add`, `campaign ...`) on the same data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from postergenre.campaigns.posterfiles import FAULT_ENV

CLI = [sys.executable, "-c", "from postergenre.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args, "--home", str(home)], capture_output=True, text=True, timeout=300)


class Server:
    """`postergenre serve --host 0.0.0.0` on a free port; `url` is its 127.0.0.1 address."""

    def __init__(self, home: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
        self.proc = subprocess.Popen(
            [*CLI, "serve", "--host", "0.0.0.0", "--port", str(self.port), "--home", str(home)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**environment, **env},
        )
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not answer within 180 s"
            time.sleep(0.3)

    def stop(self) -> str:
        """Stop it; what it wrote on stderr (the access log among it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=60)[1]
