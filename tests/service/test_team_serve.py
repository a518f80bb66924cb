"""The team's server as people start it: `postergenre serve --host 0.0.0.0` in a subprocess (traffic to 127.0.0.1
only), with members added by `postergenre team add`, variants from the API and the CLI, restarts, and a kill -9 in
the middle of a variant upload."""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from postergenre.campaigns.posterfiles import FAULT_ENV
from postergenre.campaigns.store import CampaignStore
from postergenre.config import get_paths
from sampling import spread
from served import Server, cli, free_port

pytestmark = pytest.mark.slow  # server processes that load the model

SYNOPSIS = "A Yukon gold hunter befriends a wolf-dog he rescues."


@pytest.fixture(scope="module")
def posters(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("variants")
    chosen = spread(sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg")), 4, offset=11)
    for p in chosen:
        (folder / p.name).write_bytes(p.read_bytes())
    return sorted(folder.iterdir())


@pytest.fixture()
def server_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "home"


def test_serving_beyond_loopback_with_no_member_refuses_in_one_line(server_home: Path):
    started = time.monotonic()
    run = cli(server_home, "serve", "--host", "0.0.0.0", "--port", str(free_port()))
    assert run.returncode == 2 and run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "postergenre team add NAME" in lines[0] and "0.0.0.0" in lines[0]
    assert time.monotonic() - started < 60  # refused before the model is loaded


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_files(home: Path) -> set[str]:
    return {_sha(p) for p in home.rglob("*") if p.is_file()}


def test_a_campaign_survives_restarts_and_its_deletion_leaves_no_poster(server_home: Path, posters: list[Path]):
    token = cli(server_home, "team", "add", "alice").stdout.strip()
    alice = {"Authorization": f"Bearer {token}"}
    server = Server(server_home)
    try:
        made = httpx.post(
            f"{server.url}/v1/campaigns",
            headers=alice,
            timeout=60,
            json={"title": "White Fang", "synopsis": SYNOPSIS, "intended": ["Family", "Adventure"]},
        ).json()
        path = f"/v1/campaigns/{made['id']}"
        url = server.url + path
        files = [("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters[:2]]
        assert httpx.post(f"{url}/variants", headers=alice, files=files, timeout=120).status_code == 201
        added = cli(server_home, "campaign", "add", made["id"], str(posters[2]), "--as", "bob")  # server running
        assert added.returncode == 0, added.stderr
    finally:
        server.stop()
    server = Server(server_home)  # another process, another port
    url = server.url + path
    try:
        shown = httpx.get(url, headers=alice, timeout=60).json()
        assert [(v["name"], v["added_by"]) for v in shown["variants"]] == [
            (posters[0].name, "alice"),
            (posters[1].name, "alice"),
            (posters[2].name, "bob"),
        ]
        assert all(v["reading"] and not v["reading"]["stale"] for v in shown["variants"])
        brief = httpx.get(f"{url}/brief", params={"format": "json"}, headers=alice, timeout=120).json()
        today = httpx.post(
            f"{server.url}/v1/brief",
            headers=alice,
            timeout=120,
            data={"synopsis": SYNOPSIS, "intended": "Family, Adventure", "title": "White Fang"},
            files=[("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters[:3]],
        ).json()
        assert brief["recommendation"] == today["recommendation"]
        assert [v["name"] for v in brief["variants"]] == [v["name"] for v in today["variants"]]
        page = httpx.get(f"{url}/brief", params={"format": "html"}, headers=alice, timeout=180)
        assert page.status_code == 200 and "White Fang" in page.text
        for path in ("/v1/campaigns", f"/v1/campaigns/{made['id']}", f"/v1/campaigns/{made['id']}/brief"):
            assert httpx.get(f"{server.url}{path}", headers={"Host": "localhost"}, timeout=60).status_code == 401
        assert {_sha(p) for p in posters[:3]} <= _stored_files(server_home)
        assert httpx.delete(url, headers=alice, timeout=60).status_code == 200
        assert not {_sha(p) for p in posters[:3]} & _stored_files(server_home)
        removed = cli(server_home, "team", "remove", "alice")
        assert removed.returncode == 0, removed.stderr
        assert httpx.get(f"{server.url}/v1/campaigns", headers=alice, timeout=60).status_code == 401
    finally:
        logged = server.stop()
    assert '"member": "alice"' in logged  # the access log names the member...
    assert "White Fang" not in logged and posters[0].name not in logged and "Yukon" not in logged  # ...nothing else


def test_a_server_killed_during_a_variant_upload_keeps_the_campaign_whole(server_home: Path, posters: list[Path]):
    token = cli(server_home, "team", "add", "alice").stdout.strip()
    alice = {"Authorization": f"Bearer {token}"}
    made = cli(
        server_home, "campaign", "new", "White Fang", "--intended", "Family", "--format", "json", "--as", "alice"
    )
    campaign = made.stdout.split('"id": "')[1].split('"')[0]
    assert cli(server_home, "campaign", "add", campaign, str(posters[0])).returncode == 0
    doomed = Server(server_home, **{FAULT_ENV: "files-written"})  # dies with the files written, nothing committed
    with pytest.raises(httpx.HTTPError):
        httpx.post(
            f"{doomed.url}/v1/campaigns/{campaign}/variants",
            headers=alice,
            timeout=120,
            files=[("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters[1:3]],
        )
    doomed.proc.wait(timeout=60)
    assert doomed.proc.returncode == -signal.SIGKILL
    doomed.stop()
    paths = get_paths(server_home)
    assert {_sha(p) for p in posters[1:3]} <= _stored_files(server_home)  # the kill left whole, unreferenced files
    server = Server(server_home)  # starting sweeps them
    try:
        shown = httpx.get(f"{server.url}/v1/campaigns/{campaign}", headers=alice, timeout=60).json()
        assert [v["name"] for v in shown["variants"]] == [posters[0].name]
        assert {p.name.split(".")[0] for p in paths.campaign_posters.rglob("*") if p.is_file()} == {_sha(posters[0])}
        again = httpx.post(
            f"{server.url}/v1/campaigns/{campaign}/variants",
            headers=alice,
            timeout=120,
            files=[("posters", (posters[1].name, posters[1].read_bytes(), "image/jpeg"))],
        )
        assert again.status_code == 201
    finally:
        server.stop()
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert len(store.get(campaign).variants) == 2
