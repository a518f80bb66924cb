"""/v1/campaigns on a real server bound to 0.0.0.0 (traffic to 127.0.0.1 only) over a copy of the studio home: a
campaign kept, ranked from its stored readings with today's brief rule, changed by members, deleted with its files."""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from postergenre.campaigns.team import TeamStore
from postergenre.config import get_paths
from sampling import spread

pytestmark = pytest.mark.slow  # the studio home, the model and the heatmaps take a while

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."
FIELDS = {"title": "Home Alone", "synopsis": SYNOPSIS, "intended": "family, comedy"}


@dataclass
class Api:
    client: httpx.Client
    home: Path
    alice: dict[str, str]
    bob: dict[str, str]


@pytest.fixture(scope="module")
def api(predictor, studio_home: Path, tmp_path_factory: pytest.TempPathFactory, serve) -> Iterator[Api]:
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    home = tmp_path_factory.mktemp("campaigns") / "home"
    shutil.copytree(studio_home, home)
    with TeamStore(get_paths(home).db) as team:
        tokens = {name: {"Authorization": f"Bearer {team.add(name, by='owner')}"} for name in ("alice", "bob")}
    app = create_app(ServiceSettings(home=home, require_token=True, allowed_hosts=("*",)), predictor=predictor)
    with serve(app, bind="0.0.0.0") as running, httpx.Client(base_url=running.url, timeout=180) as client:
        yield Api(client, home, tokens["alice"], tokens["bob"])


@pytest.fixture(scope="module")
def variants(shared_data: Path, studio_home: Path) -> list[tuple[str, bytes]]:
    """Studio posters the home's catalog does not hold: new artwork, as a campaign's is."""
    in_catalog = {p.stem for p in get_paths(studio_home).posters.rglob("*") if p.is_file()}
    posters = [(p.name, p.read_bytes()) for p in sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))]
    fresh = [(n, d) for n, d in posters if hashlib.sha256(d).hexdigest() not in in_catalog]
    return spread(fresh, 8, offset=3)


def _files(chosen: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("posters", (name, data, "image/jpeg")) for name, data in chosen]


def _on_disk(home: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in home.rglob("*") if p.is_file()}


def _create(api: Api, **extra) -> dict:
    made = api.client.post(
        "/v1/campaigns",
        headers=api.alice,
        json={"title": FIELDS["title"], "synopsis": SYNOPSIS, "intended": ["Family", "comedy"], **extra},
    )
    assert made.status_code == 201, made.text
    return made.json()


def test_a_campaign_is_kept_ranked_with_todays_rule_and_deleted_with_its_files(api: Api, variants):
    c = api.client
    campaign = _create(api)
    assert campaign["intended"] == ["Family", "Comedy"] and campaign["variants"] == []
    url = f"/v1/campaigns/{campaign['id']}"
    added = c.post(f"{url}/variants", headers=api.alice, files=_files(variants[:2]))
    assert added.status_code == 201, added.text
    assert [v["added_by"] for v in added.json()["added"]] == ["alice", "alice"]
    assert c.post(f"{url}/variants", headers=api.bob, files=_files(variants[2:3])).status_code == 201

    shown = c.get(url, headers=api.bob).json()
    assert [v["label"] for v in shown["variants"]] == ["A", "B", "C"]
    assert sorted(v["rank"] for v in shown["variants"]) == [1, 2, 3]
    assert all(v["reading"]["poster"]["decided"] and not v["reading"]["stale"] for v in shown["variants"])
    assert shown["changes"][0] == {**shown["changes"][0], "member": "bob", "action": "added variant 3"}

    brief = c.get(f"{url}/brief", params={"format": "json"}, headers=api.alice).json()
    today = c.post("/v1/brief", headers=api.alice, files=_files(variants[:3]), data=FIELDS).json()
    for key in ("targets", "recommendation", "story", "audiences", "how_sure"):
        assert brief[key] == today[key], key
    assert [(v["name"], v["rank"]) for v in brief["variants"]] == [(v["name"], v["rank"]) for v in today["variants"]]
    # The campaign's own answer carries each variant's standing as the brief decided it: what the page draws.
    standing = ("rank", "best", "verdict", "verdicts", "levels", "fits_all_targets", "target_score", "unintended")
    by_name = {v["name"]: v for v in today["variants"]}
    assert all({k: v[k] for k in standing} == {k: by_name[v["name"]][k] for k in standing} for v in shown["variants"])
    assert shown["ranking"]["target_words"] == today["target_words"]
    assert brief["campaign"] == {**brief["campaign"], "id": campaign["id"], "stale_readings": 0, "note": None}
    page = c.get(f"{url}/brief", params={"format": "html"}, headers=api.alice)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Campaign brief: Home Alone" in page.text and page.text.count('class="poster"') == 3
    assert "no-store" in page.headers["cache-control"]

    first = shown["variants"][0]
    poster = c.get(first["poster_url"], headers=api.bob)
    assert poster.content == variants[0][1] and poster.headers["cache-control"].startswith("private")
    assert c.get(first["poster_url"]).status_code == 401
    assert c.get(f"/v1/posters/{first['sha256']}", headers=api.bob).status_code == 404  # not a catalog poster

    edited = c.patch(url, headers=api.bob, json={"synopsis": "Two brothers build a rocket in their garden."})
    assert edited.status_code == 200 and edited.json()["stale_readings"] == 0
    assert edited.json()["changes"][0]["member"] == "bob"

    removed = c.delete(f"{url}/variants/{first['id']}", headers=api.bob).json()
    assert removed["poster_files_removed"] == [first["sha256"]] and removed["readings_removed"] == 1
    assert first["sha256"] not in _on_disk(api.home)
    gone = c.delete(url, headers=api.alice).json()
    assert gone["campaign_deleted"] and len(gone["poster_files_removed"]) == 2
    assert not {hashlib.sha256(d).hexdigest() for _, d in variants[:3]} & _on_disk(api.home)
    assert c.get(url, headers=api.alice).status_code == 404


def test_two_members_adding_variants_at_once_both_land(api: Api, variants):
    campaign = _create(api)["id"]
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def upload(member: str, headers: dict[str, str], chosen) -> None:
        with httpx.Client(base_url=str(api.client.base_url), timeout=180) as own:
            start.wait()
            answers[member] = own.post(
                f"/v1/campaigns/{campaign}/variants", headers=headers, files=_files(chosen)
            ).status_code

    threads = [
        threading.Thread(target=upload, args=("alice", api.alice, variants[0:2])),
        threading.Thread(target=upload, args=("bob", api.bob, variants[2:4])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {"alice": 201, "bob": 201}
    held = api.client.get(f"/v1/campaigns/{campaign}", headers=api.alice).json()["variants"]
    assert sorted((v["added_by"], v["name"]) for v in held) == sorted(
        [("alice", n) for n, _ in variants[0:2]] + [("bob", n) for n, _ in variants[2:4]]
    )
    api.client.delete(f"/v1/campaigns/{campaign}", headers=api.alice)


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]


def test_errors_name_what_is_wrong(api: Api, variants):
    c = api.client
    assert "no campaign 'abcdefabcdef'" in _error(c.get("/v1/campaigns/abcdefabcdef", headers=api.alice), 404)
    _error(c.get("/v1/campaigns/not-an-id", headers=api.alice), 422)
    assert "unknown genre 'Famly'" in _error(
        c.post("/v1/campaigns", headers=api.alice, json={"title": "T", "intended": "Famly"}), 422
    )
    _error(c.post("/v1/campaigns", headers=api.alice, json={"title": "T", "director": "x"}), 422)
    campaign = _create(api)["id"]
    url = f"/v1/campaigns/{campaign}"
    assert "notes.txt" in _error(
        c.post(f"{url}/variants", headers=api.alice, files=[("posters", ("notes.txt", b"plain text", "text/plain"))]),
        422,
    )
    assert c.post(f"{url}/variants", headers=api.alice, files=_files(variants[:5])).status_code == 201
    again = c.post(f"{url}/variants", headers=api.alice, files=_files(variants[:1]))
    assert again.status_code == 200 and again.json()["duplicates"][0]["name"] == variants[0][0]
    assert "limit of 6" in _error(c.post(f"{url}/variants", headers=api.alice, files=_files(variants[5:7])), 409)
    _error(c.patch(url, headers=api.alice, json={"title": None}), 422)
    _error(c.delete(f"{url}/variants/999", headers=api.alice), 404)
    c.delete(url, headers=api.alice)
