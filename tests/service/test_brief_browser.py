"""The campaign brief in real Chromium (Debian's, via Playwright): it renders, loads nothing from anywhere, prints
to at most three A4 pages for three variants, and the page's "Download brief" hands out the same brief.

Real shared posters (studio catalog) against a real server on 127.0.0.1 over the studio home. Skips (with the
reason) when /usr/bin/chromium or the shared data is absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."
MAX_PAGES = 3


@pytest.fixture(scope="module")
def brief_server(predictor, studio_home: Path, serve) -> Iterator[str]:
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    with serve(create_app(ServiceSettings(home=studio_home), predictor=predictor)) as running:
        yield running.url


@pytest.fixture(scope="module")
def posters(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))[100:103]


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def test_brief_renders_offline_and_prints_to_three_pages(browser, brief_server: str, posters: list[Path]) -> None:
    files = [("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters]
    with httpx.Client(base_url=brief_server, timeout=300) as client:
        response = client.post(
            "/v1/brief",
            params={"format": "html"},
            files=files,
            data={"synopsis": SYNOPSIS, "intended": "Family, Comedy", "title": "Home Alone"},
        )
    assert response.status_code == 200, response.text
    brief_url = f"{brief_server}/brief-under-test.html"
    requests: list[str] = []

    def route(r) -> None:  # every request the page makes passes here: only the brief itself is answered
        requests.append(r.request.url)
        if r.request.url == brief_url:
            r.fulfill(status=200, content_type="text/html; charset=utf-8", body=response.text)
        else:
            r.abort()

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    try:
        context.route("**/*", route)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        seen: list[str] = []
        page.on("request", lambda r: seen.append(r.url))
        page.goto(brief_url)
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "Campaign brief: Home Alone"
        assert page.locator(".card").count() == 3
        loaded = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        assert len(loaded) == 3 + 3 * 2 and all(loaded)  # posters + a heatmap per intended genre each
        assert page.locator(".rec .lead").inner_text()
        pdf = page.pdf(format="A4", print_background=True)
        pages = _pdf_pages(pdf)
        assert 1 <= pages <= MAX_PAGES, f"brief of 3 variants: {pages} A4 page(s)"
        assert requests == [brief_url]  # nothing left 127.0.0.1
        assert all(u == brief_url or u.startswith("data:") for u in seen)
        assert errors == []
    finally:
        context.close()


def test_page_downloads_the_brief(browser, brief_server: str, posters: list[Path], tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(brief_server + "/")
        page.wait_for_selector("body[data-filters='true']")
        assert page.locator("#brief-btn").is_hidden()  # nothing loaded yet
        # The rating filter lists what the catalog holds, the studio's own ratings ticked.
        filters = httpx.get(f"{brief_server}/v1/filters").json()
        ticked = page.locator("#f-ratings input:checked").evaluate_all("xs => xs.map(x => x.value)")
        assert sorted(ticked) == sorted(filters["default_ratings"]) and ticked
        assert page.locator("#f-ratings input").count() == len(filters["ratings"])
        assert page.locator("#ratings-note").inner_text().startswith(filters["ratings_note"])
        assert "GIF, BMP or TIFF" in page.locator("#upload-limit").inner_text()
        for count, path in enumerate(posters[:2], start=1):
            page.set_input_files("#file-input", str(path))
            page.wait_for_function("n => document.querySelectorAll('#variants .variant').length === n", arg=count)
            page.wait_for_selector("#reading:not([hidden])")
        assert "synopsis applies to every one" in page.locator("#tray").inner_text()
        page.check("#targets input[value='Family']")
        page.fill("#brief-title", "Home Alone")
        keep = ticked[0]  # the brief's comparable titles follow the ratings the user leaves ticked
        for rating in ticked[1:]:
            page.uncheck(f"#f-ratings input[value='{rating}']")
        text = _download_brief(page, tmp_path / "one-rating")
        assert "Campaign brief: Home Alone" in text
        assert text.count('class="poster"') == 2 and "Targets: <b>Family</b>" in text
        assert f"Limited to {keep} titles, as asked." in text
        page.uncheck(f"#f-ratings input[value='{keep}']")  # none ticked: every rating, as in the title list
        assert "Titles of every rating, as asked." in _download_brief(page, tmp_path / "no-rating")
    finally:
        context.close()


def _download_brief(page, folder: Path) -> str:
    with page.expect_download() as download_info:
        page.click("#brief-btn")
    download = download_info.value
    assert download.suggested_filename == "campaign-brief.html"
    saved = folder / download.suggested_filename
    download.save_as(saved)
    return saved.read_text(encoding="utf-8")


def test_a_failed_poster_url_reads_in_plain_words(browser, brief_server: str) -> None:
    from postergenre.service.errors import FETCH_MESSAGE

    url = "http://169.254.169.254/latest/poster.jpg"
    api = httpx.post(f"{brief_server}/v1/predict", json={"url": url}, timeout=60).json()
    assert "169.254.169.254" in api["error"]  # the technical detail stays in the API
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        page.goto(brief_server + "/")
        page.wait_for_selector("body[data-filters='true']")
        page.fill("#url-input", url)
        page.click("#url-form button[type='submit']")
        page.wait_for_selector("#error:not([hidden])")
        shown = page.locator("#error-text").inner_text()
        assert shown == api["message"] == FETCH_MESSAGE and "169.254" not in shown
    finally:
        context.close()
