"""The page in a real browser: Debian's chromium driven by Playwright, against a real server.

Uploads a shared poster through the file input and checks that genre bars, the threshold marks, comparable
titles with their poster images, the heatmap overlay and the compare view all appear. Skips (with the
reason) when /usr/bin/chromium is absent; `.ci/run` installs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-default-apps", "--disable-extensions"]


@pytest.fixture(scope="module")
def page(server):
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            page.goto(server.url + "/")
            page.js_errors = errors  # type: ignore[attr-defined]
            yield page
        finally:
            browser.close()


def _screenshot(page, name: str) -> None:
    """Keep a picture of what the browser showed when POSTERGENRE_SCREENSHOTS names a folder."""
    folder = os.environ.get("POSTERGENRE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def test_upload_shows_genre_bars_and_comparable_titles(page, predictor, catalog_posters, tmp_path):
    poster = tmp_path / "shared-poster.jpg"
    poster.write_bytes(catalog_posters[0].data)
    page.wait_for_selector("#targets input")  # genres loaded from /v1/genres
    page.set_input_files("#file-input", str(poster))

    page.wait_for_selector("#bars .bar-row")
    rows = page.locator("#bars .bar-row")
    assert rows.count() == len(predictor.genres)
    assert page.locator("#bars .tick").count() == len(predictor.genres)  # each genre's threshold is marked
    first = rows.first.locator(".name").inner_text()
    expected = next(iter(predictor.predict(catalog_posters[0].data).probabilities))
    assert first == expected
    widths = page.eval_on_selector_all("#bars .fill", "els => els.map(e => e.getBoundingClientRect().width)")
    assert widths[0] > 0 and widths == sorted(widths, reverse=True)

    page.wait_for_function("""() => {
        const imgs = [...document.querySelectorAll('#similar li img')];
        return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
    }""")
    titles = page.locator("#similar li .title")
    assert titles.count() >= 5 and titles.first.inner_text().strip()
    assert page.locator("#error").is_hidden()

    # Heatmap toggle: an overlay image appears over the poster.
    page.locator("#heat-buttons button").nth(1).click()
    page.wait_for_function("() => { const o = document.getElementById('overlay'); return !o.hidden && o.naturalWidth > 0; }")
    _screenshot(page, "page-predict.png")
    page.locator("#heat-buttons button").first.click()
    assert page.locator("#overlay").is_hidden()
    assert page.js_errors == []


def test_compare_variants_view(page, predictor, catalog_posters, tmp_path):
    files = []
    for i, poster in enumerate(catalog_posters[:3]):
        path = tmp_path / f"variant-{i}.jpg"
        path.write_bytes(poster.data)
        files.append(str(path))
    page.set_input_files("#file-input", files)
    page.wait_for_selector("#variants button >> nth=2")
    page.wait_for_selector("#bars .bar-row")
    for genre in predictor.genres[:2]:
        page.locator(f"#targets input[value='{genre}']").check()
    button = page.locator("#compare-btn")
    assert button.is_enabled() and "3 variants" in button.inner_text()
    button.click()
    page.wait_for_selector(".variant-card >> nth=2")
    ranks = page.locator(".variant-card .rank").all_inner_texts()
    assert ranks == ["#1", "#2", "#3"]
    assert page.locator(".variant-card.best").count() == 1
    _screenshot(page, "page-compare.png")
    assert page.js_errors == []


def test_non_image_shows_a_clear_error(page, tmp_path):
    fake = tmp_path / "poster.jpg"
    fake.write_bytes(b"this is a text file with a .jpg name")
    page.set_input_files("#file-input", str(fake))
    page.wait_for_selector("#error:not([hidden])")
    message = page.locator("#error-text").inner_text()
    assert "poster.jpg" in message and "not an image" in message.lower()
