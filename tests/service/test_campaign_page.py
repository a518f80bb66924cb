"""The campaigns view and the login in real Chromium (Debian's, via Playwright), with real studio posters.

The team's server as people start it: `postergenre serve --host 0.0.0.0` in a subprocess, members from `postergenre
team add`. Colleagues reach it by its LAN name: Chromium maps LAN_NAME to 127.0.0.1, so every request goes to
127.0.0.1 while the page is a plain-HTTP origin that is not the browser's own machine, as on a studio network. There
the browser sends no Sec-Fetch-Site (the server's cross-site check reads Origin) and offers no Clipboard API.
Every value a card shows is compared with what the API answers for the same campaign. Skips (with the reason) when
/usr/bin/chromium or the shared data is absent.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from chromium import chromium
from postergenre.campaigns.team import local_member
from postergenre.config import get_paths
from postergenre.model.decisions import strength_text
from sampling import spread
from served import Server, cli

pytestmark = pytest.mark.slow  # a server process with the model, and a browser

LAN_NAME = "postergenre.test"  # how colleagues reach the server; mapped to 127.0.0.1 in the browser only
SYNOPSIS = "A Yukon gold hunter befriends a wolf-dog he rescues, and the wild calls it back."
TITLE = "White Fang"


@dataclass
class Team:
    server: Server
    home: Path
    tokens: dict[str, str]
    url: str  # the page by its LAN name


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    home = tmp_path_factory.mktemp("team") / "home"
    tokens = {}
    for name in ("alice", "bob", "carol", "dave"):
        added = cli(home, "team", "add", name)
        assert added.returncode == 0, added.stderr
        tokens[name] = added.stdout.strip()
    server = Server(home)
    try:
        yield Team(server, home, tokens, f"http://{LAN_NAME}:{server.port}")
    finally:
        server.stop()


@pytest.fixture(scope="module")
def lan_browser():
    with chromium(f"--host-resolver-rules=MAP {LAN_NAME} 127.0.0.1") as launched:
        yield launched


@pytest.fixture(scope="module")
def studio_posters(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("variants")
    for poster in spread(sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg")), 4, offset=23):
        (folder / poster.name).write_bytes(poster.read_bytes())
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def posters(studio_posters: list[Path]) -> list[Path]:
    """Two variants of one film."""
    return studio_posters[:2]


@pytest.fixture(scope="module")
def other_posters(studio_posters: list[Path]) -> list[Path]:
    """Two variants no other campaign holds (deleting them removes their files)."""
    return studio_posters[2:]


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.js_errors = []  # type: ignore[attr-defined]
    page.requests = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    # The browser logs each refused request (the 401 that brings the login); the page's own code must log nothing.
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and not msg.text.startswith("Failed to load resource")
            and page.js_errors.append(msg.text)
        ),
    )
    # A Python function, not the list's bound `append`: Playwright marks each handler with an attribute, which a
    # builtin method refuses.
    page.on("request", lambda request: page.requests.append(request))  # noqa: PLW0108
    page.goto(url)
    return page


def _log_in(page, token: str) -> None:
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#login-token", token)
    page.click("#login-submit")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_selector("body[data-ready='true']")


def _cards(page):
    return page.locator("#campaign-variants .variant-card")


def _drop(page, selector: str, path: Path) -> None:
    """Drop a file on `selector` as a person dragging it from their desktop does (a DataTransfer holding it)."""
    transfer = page.evaluate_handle(
        """([name, data]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
        return transfer; }""",
        [path.name, base64.b64encode(path.read_bytes()).decode()],
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _check_ranking(page, expected: dict) -> None:
    """The open campaign on the page is the API's: order, rank, the one to run, verdicts, strengths and levels."""
    ranked = sorted(expected["variants"], key=lambda v: v["rank"])
    cards = _cards(page)
    assert cards.evaluate_all("cs => cs.map(c => c.dataset.id)") == [str(v["id"]) for v in ranked]
    assert cards.locator(".rank").all_inner_texts() == [f"#{v['rank']}" for v in ranked]
    assert page.locator("#campaign-headline").inner_text() == expected["ranking"]["recommendation"]["text"]
    targets = expected["ranking"]["targets"]
    assert targets == expected["intended"]
    for card, v in zip(cards.all(), ranked, strict=True):
        assert card.locator(".source").inner_text() == v["name"]
        assert ("best" in card.get_attribute("class").split()) == v["best"]
        assert card.locator(".run").count() == int(v["best"])
        assert card.locator(".verdict").inner_text() == v["verdict"]
        for genre in targets:
            row = card.locator(f".bar-row[data-genre='{genre}']")
            assert row.get_attribute("data-level") == v["levels"][genre]
            assert row.locator(".value").inner_text() == strength_text(v["reading"]["poster"]["strength"][genre])
        assert card.locator(".stale-flag").count() == 0
        # The poster needs the session like every campaign path: the cookie goes with the image request too.
        assert card.locator("img.poster").evaluate("i => i.complete && i.naturalWidth > 0")


def test_a_team_shares_a_campaign_through_the_page(lan_browser, team: Team, posters: list[Path], tmp_path: Path):
    alice = {"Authorization": f"Bearer {team.tokens['alice']}"}
    page = _open(lan_browser, team.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    assert "asks for a team member's token" in page.locator("#login-message").inner_text()
    assert page.locator("#views").is_hidden() and page.locator("#view-read").is_hidden()
    page.fill("#login-token", "pgt_" + "x" * 43)  # a wrong one: the server's words, and the login stays
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert "not valid" in page.locator("#login-error").inner_text()
    _log_in(page, team.tokens["alice"])
    assert page.locator("#member").inner_text() == "Logged in as alice" and page.locator("#logout").is_visible()
    # The token is gone from the page; the session is a cookie the page's scripts cannot read.
    assert page.locator("#login-token").input_value() == ""
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0 and page.evaluate("document.cookie") == ""
    [cookie] = page.context.cookies()
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and team.tokens["alice"] not in cookie["value"]

    # A new campaign: title, synopsis and intended genres from the model's.
    page.click("#tab-campaigns")
    page.wait_for_selector("#campaign-empty:not([hidden])")
    page.click("#campaign-new")
    page.fill("#cf-title", TITLE)
    page.fill("#cf-synopsis", SYNOPSIS)
    for genre in ("Family", "Adventure"):
        page.check(f"#cf-intended input[value='{genre}']")
    page.click("#cf-create")
    page.wait_for_selector("body[data-campaign]")
    campaign = page.evaluate("document.body.dataset.campaign")
    assert page.url == f"{team.url}/#/campaigns/{campaign}"
    assert page.locator("#campaign-title").inner_text() == TITLE
    assert page.locator("#campaign-no-variants").is_visible()

    # Two variants: one dropped on the drop zone, one chosen with the file picker. Each lands ranked.
    _drop(page, "#campaign-drop", posters[0])
    page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 1")
    page.set_input_files("#campaign-file-input", str(posters[1]))
    page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 2")
    expected = httpx.get(f"{team.server.url}/v1/campaigns/{campaign}", headers=alice, timeout=120).json()
    assert sorted(v["name"] for v in expected["variants"]) == [p.name for p in posters]
    assert {v["added_by"] for v in expected["variants"]} == {"alice"}
    _check_ranking(page, expected)

    # The brief, downloaded from the page, names both variants.
    with page.expect_download() as download_info:
        page.click("#campaign-brief")
    brief = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(brief)
    html = brief.read_text(encoding="utf-8")
    assert brief.suffix == ".html" and TITLE in html and all(p.name in html for p in posters)

    # The link for a colleague, read from the page (no Clipboard API on a plain-HTTP LAN origin).
    page.click("#campaign-copy-link")
    link = page.locator("#campaign-link").input_value()
    assert link == f"{team.url}/#/campaigns/{campaign}"

    # Bob opens it in his own browser, logs in with his token and sees the same campaign, ranked the same.
    bob = _open(lan_browser, link)
    _log_in(bob, team.tokens["bob"])
    bob.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 2")
    assert bob.locator("#member").inner_text() == "Logged in as bob"
    assert bob.locator("#campaign-title").inner_text() == TITLE
    _check_ranking(bob, expected)

    # Everything went to the server by its LAN name; each change carried the page's Origin (the cross-site check).
    for p in (page, bob):
        assert all(r.url.startswith((team.url + "/", "blob:", "data:")) for r in p.requests)
        changes = [r for r in p.requests if r.method in ("POST", "PATCH", "DELETE")]
        assert changes and all(r.all_headers().get("origin") == team.url for r in changes)
        assert p.js_errors == []


def test_removing_a_variant_and_deleting_the_campaign_say_the_poster_files_go(
    lan_browser, team: Team, other_posters: list[Path]
):
    posters = other_posters
    bob = {"Authorization": f"Bearer {team.tokens['bob']}"}
    made = httpx.post(
        f"{team.server.url}/v1/campaigns", headers=bob, timeout=60, json={"title": "Balto", "intended": ["Family"]}
    ).json()
    files = [("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters]
    assert (
        httpx.post(
            f"{team.server.url}/v1/campaigns/{made['id']}/variants", headers=bob, files=files, timeout=180
        ).status_code
        == 201
    )
    stored = get_paths(team.home).campaign_posters
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in posters}

    page = _open(lan_browser, f"{team.url}/#/campaigns/{made['id']}")
    _log_in(page, team.tokens["dave"])
    page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 2")
    last = _cards(page).nth(1)
    name = last.locator(".source").inner_text()
    last.locator(".remove-variant").click()
    page.wait_for_selector("#confirm-dialog[open]")
    asked = page.locator("#confirm-text").inner_text()
    assert name in asked and "poster file" in asked
    page.click("#confirm-no")  # changed her mind: nothing goes
    assert _cards(page).count() == 2
    last.locator(".remove-variant").click()
    page.click("#confirm-yes")
    page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 1")
    assert "1 poster file deleted from disk" in page.locator("#notice-text").inner_text()  # the server's account

    page.click("#campaign-delete")
    page.wait_for_selector("#confirm-dialog[open]")
    warning = page.locator("#confirm-text").inner_text()
    assert "Balto" in warning and "poster file" in warning and "cannot be undone" in warning
    page.click("#confirm-yes")
    page.wait_for_selector("#campaign-index:not([hidden])")
    assert page.url.endswith("/#/campaigns") and "deleted from disk" in page.locator("#notice-text").inner_text()
    assert page.locator(f"#campaign-list li[data-id='{made['id']}']").count() == 0
    assert httpx.get(f"{team.server.url}/v1/campaigns/{made['id']}", headers=bob, timeout=60).status_code == 404
    on_disk = {p.name.split(".")[0] for p in stored.rglob("*") if p.is_file()}
    assert not shas & on_disk  # no other campaign holds them: the files are gone
    assert page.js_errors == []


def test_a_removed_members_page_asks_for_the_login_again(lan_browser, team: Team):
    """Over 127.0.0.1 (a secure context: the browser sends Sec-Fetch-Site too)."""
    page = _open(lan_browser, f"{team.server.url}/#/campaigns")
    _log_in(page, team.tokens["carol"])
    page.wait_for_selector("#campaign-index:not([hidden])")
    removed = cli(team.home, "team", "remove", "carol")
    assert removed.returncode == 0, removed.stderr
    page.click("#tab-read")
    page.click("#tab-campaigns")  # the next request answers 401
    page.wait_for_selector("#login:not([hidden])")
    assert page.locator("#login-message").inner_text().startswith("You are no longer logged in")
    assert page.locator("#view-campaigns").is_hidden() and page.locator("#error").is_hidden()
    assert page.locator("#member").is_hidden() and page.locator("#logout").is_hidden()
    page.fill("#login-token", team.tokens["carol"])  # her token is over too
    page.click("#login-submit")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.locator("#login").is_visible()
    assert page.js_errors == []


def test_logging_out_ends_the_session_on_the_server(lan_browser, team: Team):
    page = _open(lan_browser, f"{team.server.url}/")
    _log_in(page, team.tokens["bob"])
    [cookie] = page.context.cookies()
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    assert page.locator("#login-message").inner_text().startswith("You are logged out")
    assert page.locator("#view-read").is_hidden()
    kept = {"Cookie": f"{cookie['name']}={cookie['value']}"}
    assert httpx.get(f"{team.server.url}/v1/session", headers=kept, timeout=30).status_code == 401
    assert page.js_errors == []


@pytest.fixture(scope="module")
def retrained(predictor, tmp_path_factory: pytest.TempPathFactory):
    """A retrained model, as far as readings can tell: the model under test with other thresholds."""
    from postergenre.predict.predictor import Predictor

    artifact = copy.deepcopy(predictor.artifact)
    artifact.thresholds = artifact.thresholds * 0.9
    return Predictor.load(artifact.save(tmp_path_factory.mktemp("retrained") / "model"))


def test_an_open_server_shows_no_login_and_rereads_what_another_model_read(
    lan_browser, predictor, retrained, serve, posters: list[Path], tmp_path: Path
):
    """On 127.0.0.1 without --require-token: no login; a campaign read by the model before a retrain shows its
    readings stale, "Re-read" reads them again; the title (with bidi controls and markup) is text, isolated."""
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    home = tmp_path / "home"
    title = "\u202eWhite <img src=x> Fang"
    with serve(create_app(ServiceSettings(home=home), predictor=predictor)) as before:
        made = httpx.post(
            f"{before.url}/v1/campaigns", json={"title": title, "intended": ["Family"]}, timeout=60
        ).json()
        files = [("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters]
        assert (
            httpx.post(f"{before.url}/v1/campaigns/{made['id']}/variants", files=files, timeout=180).status_code == 201
        )
    with serve(create_app(ServiceSettings(home=home), predictor=retrained)) as after:
        page = _open(lan_browser, f"{after.url}/#/campaigns/{made['id']}")
        page.wait_for_function("() => document.querySelectorAll('#campaign-variants .variant-card').length === 2")
        assert page.locator("#login").is_hidden() and page.locator("#member").is_hidden()
        assert page.locator("#logout").is_hidden()
        shown = page.locator("#campaign-title bdi")
        assert shown.text_content() == title and page.locator("#campaign-title img").count() == 0
        assert shown.evaluate("b => getComputedStyle(b).unicodeBidi") == "isolate"

        stale = httpx.get(f"{after.url}/v1/campaigns/{made['id']}", timeout=60).json()
        assert stale["stale_readings"] == 2
        assert page.locator("#campaign-stale").is_visible() and _cards(page).locator(".stale-flag").count() == 2
        assert "another model" in page.locator("#campaign-stale-text").inner_text()
        page.click("#campaign-reread")
        page.wait_for_selector("#campaign-stale", state="hidden")
        fresh = httpx.get(f"{after.url}/v1/campaigns/{made['id']}", timeout=60).json()
        assert fresh["stale_readings"] == 0
        _check_ranking(page, fresh)

        # Edit: a new title and intended genres; only what changed is sent, recorded under the server's owner.
        page.click("#campaign-edit-open")
        page.fill("#ce-title", "White Fang II")
        page.check("#ce-intended input[value='Adventure']")
        page.click("#ce-save")
        page.wait_for_function("() => document.getElementById('campaign-title').textContent === 'White Fang II'")
        edited = httpx.get(f"{after.url}/v1/campaigns/{made['id']}", timeout=60).json()
        assert set(edited["intended"]) == {"Family", "Adventure"}
        assert edited["updated_by"] == local_member() and edited["synopsis"] is None
        _check_ranking(page, edited)
        assert page.js_errors == []
