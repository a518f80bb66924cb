"""Team access on real servers bound to 0.0.0.0 (traffic to 127.0.0.1 only; a forged Host stands in for a stranger
who reached the server by another name): tokens, removal at once, the page's session cookie, cross-site requests,
the wrong-token throttle, and an access log that names members and nothing confidential."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from postergenre.campaigns.team import TeamStore, local_member
from postergenre.config import get_paths
from postergenre.service.auth import WrongTokenThrottle

pytestmark = pytest.mark.slow  # real servers with the model

EVIL = "http://evil.example"
PARAMS = {"campaign_id": "0123456789ab", "variant_id": "1", "sha256": "0" * 64}


@pytest.fixture(scope="module")
def team_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("team") / "home"


@pytest.fixture(scope="module")
def tokens(team_home: Path) -> dict[str, str]:
    with TeamStore(get_paths(team_home).db) as team:
        return {name: team.add(name, by="owner") for name in ("alice", "bob", "carol")}


def _app(predictor, home: Path, *, required: bool):
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    hosts = ("*",) if required else ("127.0.0.1", "localhost")  # as `serve` picks them
    return create_app(ServiceSettings(home=home, require_token=required, allowed_hosts=hosts), predictor=predictor)


@pytest.fixture(scope="module")
def closed(predictor, team_home: Path, tokens, serve):
    """A server that asks for tokens, listening beyond loopback (as `serve --host 0.0.0.0` does)."""
    app = _app(predictor, team_home, required=True)
    with serve(app, bind="0.0.0.0") as running:
        running.app = app
        yield running


@pytest.fixture()
def client(closed) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=closed.url, timeout=60) as c:
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, (response.request.url, response.text)
    message = response.json()["error"]
    assert message.endswith(("NAME`)", "removed)", "request)", "again")) and "Traceback" not in message
    return message


def test_every_endpoint_but_health_and_the_page_answers_401_without_a_valid_token(closed, client, tokens):
    routes = [(method.upper(), path) for path, item in closed.app.openapi()["paths"].items() for method in item]
    routes += [("GET", "/openapi.json"), ("GET", "/redoc"), ("GET", "/v1/no-such-endpoint")]
    assert len(routes) > 20
    public = {("GET", "/healthz"), ("GET", "/"), ("GET", "/docs"), ("POST", "/v1/session")}
    for n, (method, path) in enumerate(sorted(routes)):
        url = path.format(**PARAMS)
        if (method, path) in public:
            continue
        stranger = {"X-Forwarded-For": f"10.1.{n}.1"}  # one address each: the throttle is tested on its own below
        for headers in ({}, {"Host": "localhost"}, {"Host": "evil.example"}, _bearer("pgt_" + "x" * 43)):
            response = client.request(method, url, headers={**stranger, **headers}, files=None)
            _error(response, 401)
    for path in ("/healthz", "/", "/docs", "/static/main.js"):
        assert client.get(path).status_code == 200, path  # hold no data
    assert client.get("/v1/campaigns", headers=_bearer(tokens["alice"])).status_code == 200


def test_a_removed_members_token_and_sessions_stop_at_once(client, team_home):
    with TeamStore(get_paths(team_home).db) as team:
        token = team.add("dave", by="owner")
    login = client.post("/v1/session", json={"token": token})
    assert login.status_code == 200 and login.json()["member"] == "dave"
    cookie = {"Cookie": f"postergenre_session={login.cookies['postergenre_session']}"}
    assert client.get("/v1/campaigns", headers=cookie).status_code == 200
    assert client.get("/v1/campaigns", headers=_bearer(token)).status_code == 200
    with TeamStore(get_paths(team_home).db) as team:  # as `team remove dave` does, from another connection
        team.remove("dave")
    _error(client.get("/v1/campaigns", headers=_bearer(token)), 401)
    _error(client.get("/v1/campaigns", headers=cookie), 401)


def test_the_page_logs_in_once_and_keeps_an_httponly_strict_cookie(client, tokens):
    login = client.post("/v1/session", json={"token": tokens["bob"]}, headers={"Origin": str(client.base_url)})
    assert login.status_code == 200, login.text
    set_cookie = login.headers["set-cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie  # plain HTTP: a Secure cookie would never come back
    behind_tls = client.post("/v1/session", json={"token": tokens["bob"]}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in behind_tls.headers["set-cookie"]  # a TLS proxy on this machine: Secure
    cookie = {"Cookie": f"postergenre_session={login.cookies['postergenre_session']}"}
    who = client.get("/v1/session", headers=cookie).json()
    assert who == {"member": "bob", "access": "session", "required": True, "expires_at": None}
    assert _error(client.post("/v1/session", json={"token": tokens["bob"]}, headers={"Origin": EVIL}), 403)
    _error(client.post("/v1/session", json={"token": "pgt_wrong"}, headers={"X-Forwarded-For": "10.2.0.1"}), 401)
    out = client.delete("/v1/session", headers={**cookie, "Sec-Fetch-Site": "same-origin"})
    assert out.status_code == 204 and 'postergenre_session=""' in out.headers["set-cookie"]
    _error(client.get("/v1/session", headers=cookie), 401)  # ended on the server, not only in the browser


def test_changes_through_a_cookie_must_come_from_the_page_itself(client, tokens):
    session = client.post("/v1/session", json={"token": tokens["carol"]}).cookies["postergenre_session"]
    cookie = {"Cookie": f"postergenre_session={session}"}
    body = {"title": "Cross-site", "intended": ["Family"]}
    own = str(client.base_url)
    for refused in (
        {"Origin": EVIL},
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Referer": f"{EVIL}/page"},
        {"Origin": "null"},
    ):
        _error(client.post("/v1/campaigns", json=body, headers={**cookie, **refused}), 403)
    assert client.get("/v1/campaigns", headers=cookie).json()["campaigns"] == []  # none was made
    for allowed in ({"Origin": own}, {"Sec-Fetch-Site": "same-origin"}, {"Referer": f"{own}/"}):
        made = client.post("/v1/campaigns", json=body, headers={**cookie, **allowed})
        assert made.status_code == 201, made.text
        assert made.json()["created_by"] == "carol"
        campaign = made.json()["id"]
        _error(client.delete(f"/v1/campaigns/{campaign}", headers={**cookie, "Origin": EVIL}), 403)
        assert client.delete(f"/v1/campaigns/{campaign}", headers={**cookie, **allowed}).status_code == 200
    api = client.post("/v1/campaigns", json=body, headers={**_bearer(tokens["carol"]), "Origin": EVIL})
    assert api.status_code == 201  # a bearer token is never added by a browser on its own: no cross-site risk
    client.delete(f"/v1/campaigns/{api.json()['id']}", headers=_bearer(tokens["carol"]))


def test_an_open_loopback_server_still_refuses_cross_site_changes(predictor, tmp_path: Path, serve):
    with (
        serve(_app(predictor, tmp_path / "home", required=False)) as running,
        httpx.Client(base_url=running.url, timeout=60) as client,
    ):
        assert client.get("/v1/session").json() == {
            "member": local_member(),
            "access": "open",
            "required": False,
            "expires_at": None,
        }
        _error(client.post("/v1/campaigns", json={"title": "T"}, headers={"Origin": EVIL}), 403)
        made = client.post("/v1/campaigns", json={"title": "T"})  # a script (no browser headers): the owner
        assert made.status_code == 201 and made.json()["created_by"] == local_member()
        _error(client.get("/v1/campaigns", headers=_bearer("pgt_wrong")), 401)  # a token sent is still checked
        assert client.get("/v1/campaigns", headers={"Host": "evil.example"}).status_code == 421  # DNS rebinding


def test_wrong_tokens_are_slowed_down_per_address_without_locking_out_others(client, tokens):
    attacker, colleague = {"X-Forwarded-For": "10.3.0.66"}, {"X-Forwarded-For": "10.3.0.7"}
    for _ in range(WrongTokenThrottle.FREE_TRIES + 1):
        _error(client.get("/v1/campaigns", headers={**attacker, **_bearer("pgt_guess")}), 401)
    slowed = client.get("/v1/campaigns", headers={**attacker, **_bearer(tokens["alice"])})
    _error(slowed, 429)  # not even a right token is checked from there meanwhile
    wait = int(slowed.headers["retry-after"])
    assert 1 <= wait <= 2
    assert client.get("/v1/campaigns", headers={**colleague, **_bearer(tokens["alice"])}).status_code == 200
    _error(client.get("/v1/campaigns", headers=colleague), 401)  # no token: 401 as ever, not counted
    time.sleep(wait)
    assert client.get("/v1/campaigns", headers={**attacker, **_bearer(tokens["alice"])}).status_code == 200


def test_the_wait_doubles_up_to_a_cap_and_memory_stays_bounded():
    now = [0.0]
    throttle = WrongTokenThrottle(clock=lambda: now[0])
    waits = []
    for _ in range(WrongTokenThrottle.FREE_TRIES + 12):
        throttle.failed("a")
        waits.append(throttle.retry_after("a"))
    assert waits[: WrongTokenThrottle.FREE_TRIES] == [0] * WrongTokenThrottle.FREE_TRIES
    assert waits[WrongTokenThrottle.FREE_TRIES :] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert throttle.retry_after("b") == 0  # another address is untouched
    throttle.succeeded("a")
    assert throttle.retry_after("a") == 0
    for i in range(WrongTokenThrottle.MAX_TRACKED + 10):
        throttle.failed(f"10.{i}")
    assert len(throttle._failures) == WrongTokenThrottle.MAX_TRACKED


def test_the_access_log_names_the_member_never_a_file_name_or_synopsis(client, tokens, catalog_posters, caplog):
    caplog.set_level(logging.INFO, logger="postergenre.service.access")
    alice = _bearer(tokens["alice"])
    synopsis = "Zorblatt the confidential wolf-dog crosses the Yukon."
    made = client.post("/v1/campaigns", json={"title": "Secret Title Qx", "synopsis": synopsis}, headers=alice)
    campaign = made.json()["id"]
    upload = client.post(
        f"/v1/campaigns/{campaign}/variants",
        headers=alice,
        files={"posters": ("secret-final-v3.jpg", catalog_posters[0].data, "image/jpeg")},
    )
    assert upload.status_code == 201, upload.text
    client.get(f"/v1/campaigns/{campaign}/brief", params={"format": "json"}, headers=alice)
    client.delete(f"/v1/campaigns/{campaign}", headers=alice)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "postergenre.service.access"]
    ours = [line for line in lines if campaign in line["path"]]
    assert len(ours) >= 3 and all(line["member"] == "alice" for line in ours)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("secret-final-v3", "Zorblatt", "Secret Title Qx"):
        assert secret not in logged
