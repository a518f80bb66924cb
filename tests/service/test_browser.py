"""The page in a real browser: Debian's chromium driven by Playwright, against a real server on 127.0.0.1.

A marketer's session: drop three poster variants one at a time, compare them, toggle the Family heatmap, filter
comparable titles to G/PG, download the sheet, open the model card. Posters are drawn here with Pillow
(scripts/screens.py draws them), and the server's catalog holds only drawn posters with ratings and collections,
so the filters have something to filter. Every check compares what a person sees with what the API answers for
the same input. Skips (with the reason) when /usr/bin/chromium is absent; `.ci/run` installs it.
"""

from __future__ import annotations

import importlib.util
import io
import os
import sys
from pathlib import Path

import httpx
import pytest

from postergenre.model.decisions import strength_text

REPO = Path(__file__).resolve().parents[2]
UPLOAD_LIMIT = 2_000_000
TARGETS = ["Family", "Animation"]


def _load_screens():
    spec = importlib.util.spec_from_file_location("postergenre_screens", REPO / "scripts" / "screens.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


screens = _load_screens()


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def drawn_server(predictor, serve, tmp_path_factory):
    """A real server whose catalog holds only the drawn posters (studio + general, rated G..R)."""
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    home = screens.build_drawn_home(tmp_path_factory.mktemp("drawn"))
    app = create_app(ServiceSettings(home=home, max_upload_bytes=UPLOAD_LIMIT), predictor=predictor)
    with serve(app) as running:
        yield running


@pytest.fixture(scope="module")
def api(drawn_server):
    with httpx.Client(base_url=drawn_server.url, timeout=120) as client:
        yield client


def _open(browser, url: str, width: int = 1366):
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(90_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(url + "/")
    page.wait_for_selector("body[data-filters='true']")  # genres, limits and filter choices loaded
    page.js_errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> list[Path]:
    """Three drawn variants of one film, and a screenshot that is no poster at all."""
    folder = tmp_path_factory.mktemp("variants")
    drawn = [
        ("pip-sky.png", screens.draw_poster("Pip and the Big Sky", "family", seed=101, tagline="One small friend.")),
        ("pip-night.png", screens.draw_poster("Pip: Night Trip", "horror", seed=102, tagline="Something waits.")),
        ("pip-hearts.png", screens.draw_poster("Pip in Love", "romance", seed=103, tagline="Hearts everywhere.")),
        ("report-screenshot.png", screens.draw_screenshot()),
    ]
    paths = []
    for name, image in drawn:
        path = folder / name
        image.save(path)
        paths.append(path)
    return paths


def _predict(api, path: Path, query: str = "") -> dict:
    response = api.post(f"/v1/predict{query}", files={"file": (path.name, path.read_bytes(), "image/png")})
    assert response.status_code == 200, response.text
    return response.json()


def _screenshot(page, name: str) -> None:
    """Keep a picture of what the browser showed when POSTERGENRE_SCREENSHOTS names a folder."""
    folder = os.environ.get("POSTERGENRE_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _check_reading(page, expected: dict) -> None:
    """The reading on the page is the API's: summary, warning, which genres show, decided styling."""
    flagged = not expected["poster_check"]["is_poster"]
    summary = page.locator("#summary").inner_text()
    assert summary == (f"({expected['summary']['text']})" if flagged else expected["summary"]["text"])
    warning = page.locator("#check-warning")
    if flagged:
        assert warning.is_visible() and warning.inner_text() == expected["poster_check"]["message"]
        assert page.locator(".bar-row.decided:not(.flagged)").count() == 0  # no green "decided" for it
        for genre in expected["decided"]:
            assert page.locator(f"#bars .bar-row[data-genre='{genre}'] .name").inner_text() == f"({genre})"
    else:
        assert warning.is_hidden()
    shown = page.locator("#bars .bar-row").evaluate_all("rows => rows.map(r => r.dataset.genre)")
    folded = page.locator("#bars-more .bar-row").evaluate_all("rows => rows.map(r => r.dataset.genre)")
    assert set(expected["decided"]) <= set(shown) and not set(expected["decided"]) & set(folded)
    assert len(shown) == len(expected["decided"]) + min(3, len(expected["strength"]) - len(expected["decided"]))
    assert sorted(shown + folded) == sorted(expected["probabilities"])
    strengths = [expected["strength"][g] for g in shown[len(expected["decided"]) :] + folded]
    assert strengths == sorted(strengths, reverse=True)  # the strongest undecided genres come first
    assert page.locator("#more-summary").inner_text().startswith(f"{len(folded)} other genre")
    # The decision line sits at the same place on every bar and stays inside its bar (no stray fragments).
    page.locator("#more-genres > summary").click()
    boxes = page.eval_on_selector_all(
        ".results .bar-row .track",
        """tracks => tracks.map(t => {
        const a = t.getBoundingClientRect(), l = t.querySelector('.line').getBoundingClientRect();
        return [(l.left - a.left) / a.width, l.top >= a.top - 0.5 && l.bottom <= a.bottom + 0.5]; })""",
    )
    assert len(boxes) == len(expected["probabilities"])
    assert all(inside for _, inside in boxes)
    assert max(x for x, _ in boxes) - min(x for x, _ in boxes) < 0.01
    page.locator("#more-genres > summary").click()
    # Exact numbers are one click away.
    page.locator("#exact > summary").click()
    first = page.locator("#exact-table tbody tr").first.locator("td").all_inner_texts()
    genre, probability = next(iter(expected["probabilities"].items()))
    assert first[:2] == [genre, f"{probability * 100:.1f}%"]
    page.locator("#exact > summary").click()


def test_marketer_session(browser, drawn_server, api, variants, tmp_path):
    page = _open(browser, drawn_server.url)
    # An open server on 127.0.0.1: no login, nobody to name, nothing to log out of; "Read a poster" shows.
    assert page.locator("#login").is_hidden() and page.locator("#member").is_hidden()
    assert page.locator("#logout").is_hidden() and page.locator("#tab-read").get_attribute("aria-current") == "page"
    assert page.locator("#upload-limit").inner_text().endswith("up to 2 MB each")
    button = page.locator("#compare-btn")
    assert button.is_disabled() and "at least 2" in page.locator("#compare-hint").inner_text()

    # Variants accumulate, one drop at a time.
    for count, path in enumerate(variants[:3], start=1):
        page.set_input_files("#file-input", str(path))
        page.wait_for_function("n => document.querySelectorAll('#variants .variant').length === n", arg=count)
        page.wait_for_selector("#reading:not([hidden])")
        page.wait_for_function("name => document.getElementById('poster-name').textContent === name", arg=path.name)
        assert page.locator("#tray-count").inner_text() == f"{count} variant{'' if count == 1 else 's'} loaded"
        if count == 1:
            _check_reading(page, _predict(api, path))
            assert button.is_disabled() and "drop at least one more" in page.locator("#compare-hint").inner_text()

    # A screenshot is flagged in plain words, then removed from the set.
    page.set_input_files("#file-input", str(variants[3]))
    page.wait_for_function("() => document.querySelectorAll('#variants .variant').length === 4")
    page.wait_for_function("name => document.getElementById('poster-name').textContent === name", arg=variants[3].name)
    page.wait_for_selector("#reading:not([hidden])")
    screenshot = _predict(api, variants[3])
    _check_reading(page, screenshot)
    assert page.locator("#variants .variant.flagged").count() == (0 if screenshot["poster_check"]["is_poster"] else 1)
    page.locator("#variants .variant").nth(3).locator(".remove").click()
    assert page.locator("#tray-count").inner_text() == "3 variants loaded"

    # The Family heatmap on demand, with legend and opacity.
    page.select_option("#heat-any", "Family")
    page.wait_for_function(
        "() => { const o = document.getElementById('overlay'); return !o.hidden && o.naturalWidth > 0; }"
    )
    assert page.locator("#heat-buttons button[aria-pressed='true']").inner_text() == "Family"
    assert page.locator(".legend").inner_text().replace("\n", " ") == "little evidence strong evidence"
    page.locator("#heat-opacity").fill("30")
    assert page.eval_on_selector("#overlay", "o => getComputedStyle(o).opacity") == "0.3"
    page.locator("#heat-buttons button", has_text="off").click()
    assert page.locator("#overlay").is_hidden()

    # Comparable titles filtered to G/PG: what the API answers for the same filter, in its order.
    shown = variants[2]
    page.check("#f-ratings input[value='G']")
    page.check("#f-ratings input[value='PG']")
    expected = api.post(
        "/v1/similar?k=12&rating=G,PG", files={"file": (shown.name, shown.read_bytes(), "image/png")}
    ).json()["titles"]
    labels = [f"{t['title']} ({t['year']})" for t in expected]
    page.wait_for_function(
        "labels => [...document.querySelectorAll('#similar .title')].map(e => e.textContent)"
        ".join('|') === labels.join('|')",
        arg=labels,
    )
    assert expected and all(t["rating"] in ("G", "PG") for t in expected)
    metas = page.locator("#similar .meta").all_inner_texts()
    assert all(m.split(" · ")[0] in ("G", "PG") for m in metas)
    assert page.locator("#similar a.title").first.get_attribute("href") == expected[0]["imdb_url"]
    assert (
        page.locator("#similar .match").first.inner_text()
        == f"{expected[0]['match']} · similarity {expected[0]['similarity']:.2f}"
    )

    # Compare: the ranking is the API's, with targets decided, the scoring explained and target heatmaps.
    for genre in TARGETS:
        page.check(f"#targets input[value='{genre}']")
    assert button.is_enabled() and button.inner_text() == "Compare 3 variants"
    button.click()
    page.wait_for_selector(".variant-card >> nth=2")
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in variants[:3]]
    ticked = page.locator("#targets input:checked").evaluate_all("xs => xs.map(x => x.value)")  # the page's order
    result = api.post("/v1/compare", files=files, data={"targets": ",".join(ticked), "heatmaps": "false"}).json()
    cards = page.locator(".variant-card")
    assert cards.count() == 3
    assert [int(i) for i in cards.evaluate_all("cs => cs.map(c => c.dataset.index)")] == [
        v["index"] for v in result["variants"]
    ]
    assert cards.locator(".rank").all_inner_texts() == ["#1", "#2", "#3"]
    # One sentence says which variant to run and why; the arithmetic is one click away.
    assert page.locator("#compare-headline").inner_text() == result["headline"]
    assert page.locator("#compare-scoring").is_hidden()
    page.locator("#compare-how > summary").click()
    assert page.locator("#compare-ranking").inner_text() == result["ranking"]
    assert page.locator("#compare-scoring").inner_text() == result["scoring"]
    for card, variant in zip(cards.all(), result["variants"], strict=True):
        yes = [t.removeprefix("✓ ") for t in card.locator(".targets-decided .chip.yes").all_inner_texts()]
        assert yes == [g for g in result["targets"] if g in variant["targets_decided"]]
        assert ("best" in card.get_attribute("class").split()) == variant["best"]  # the API's, not the page's
        assert card.locator(".target-score").is_hidden()
        card.locator(".exact-card > summary").click()
        assert card.locator(".target-score").inner_text() == f"Target score {variant['target_score']:.2f}"
        assert card.locator(".bar-row").count() == len(TARGETS)
    best = cards.first
    best.locator(".chips button", has_text="Family").click()
    assert best.locator("img.overlay").is_visible()
    _screenshot(page, "page-compare.png")

    # The sheet downloads from the page.
    with page.expect_download() as download_info:
        page.click("#sheet-btn")
    download = download_info.value
    sheet = tmp_path / download.suggested_filename
    download.save_as(sheet)
    assert sheet.suffix == ".html" and "<html" in sheet.read_text(encoding="utf-8").lower()

    # The model card is rendered HTML, not Markdown.
    page.click("#show-card")
    page.wait_for_selector("#card-dialog[open]")
    assert page.locator("#card-body h1, #card-body h2").count() >= 2
    assert page.locator("#card-body table").count() >= 1
    assert "## " not in page.locator("#card-body").inner_text()
    assert page.locator("#card-body script, #card-body style").count() == 0
    assert page.js_errors == []


def test_errors_are_shown_as_the_server_words_them(browser, drawn_server, api, tmp_path):
    page = _open(browser, drawn_server.url)
    fake = tmp_path / "poster.jpg"
    fake.write_bytes(b"this is a text file with a .jpg name")
    expected = api.post("/v1/predict", files={"file": (fake.name, fake.read_bytes(), "image/jpeg")})
    assert expected.status_code == 415
    page.set_input_files("#file-input", str(fake))
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error-text").inner_text() == expected.json()["error"]
    assert page.locator("#variants .variant").count() == 0  # nothing to compare was added

    big = tmp_path / "huge.png"
    big.write_bytes(b"\x89PNG" + bytes(UPLOAD_LIMIT + 10))
    page.locator("#error-close").click()
    page.set_input_files("#file-input", str(big))
    page.wait_for_selector("#error:not([hidden])")
    assert "over the upload limit of 2 MB" in page.locator("#error-text").inner_text()
    # The browser logs the refused requests themselves; the page's own code raised nothing.
    assert [e for e in page.js_errors if not e.startswith("Failed to load resource")] == []


def test_narrow_window_keeps_links_and_bars_inside(browser, drawn_server, variants):
    page = _open(browser, drawn_server.url, width=420)
    page.set_input_files("#file-input", str(variants[0]))
    page.wait_for_selector("#similar .title")
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    for selector in ("#show-card", "a[href='/docs']", "#clear-all", "#similar a.title >> nth=0"):
        box = page.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 420, selector
    _screenshot(page, "page-420.png")
    assert page.js_errors == []


def test_shared_poster_reads_as_the_api_says(browser, drawn_server, api, catalog_posters, tmp_path):
    """A real poster, for realism: the page's reading is the API's (shared posters are never committed)."""
    poster = tmp_path / "shared-poster.jpg"
    poster.write_bytes(catalog_posters[0].data)
    page = _open(browser, drawn_server.url)
    page.set_input_files("#file-input", str(poster))
    page.wait_for_selector("#reading:not([hidden])")
    _check_reading(page, _predict(api, poster))
    assert page.js_errors == []


def test_synopsis_shows_the_combined_reading_and_each_signal(browser, drawn_server, api, variants, tmp_path):
    """With the synopsis box filled, the page shows the API's combined reading and the poster and synopsis alone."""
    health = api.get("/healthz").json()
    if not health["synopsis_available"]:
        pytest.skip("the model under test has no synopsis head")
    synopsis = "A shy young bird and her grandmother fly across the valley to bring the spring festival home."
    poster = variants[0]
    response = api.post(
        "/v1/predict", files={"file": (poster.name, poster.read_bytes(), "image/png")}, data={"synopsis": synopsis}
    )
    expected = response.json()
    assert (
        expected["signal"] == "poster+synopsis"
        and expected["poster_probabilities"]
        and expected["synopsis_probabilities"]
    )
    page = _open(browser, drawn_server.url)
    page.locator("#synopsis-box > summary").click()
    page.fill("#synopsis", synopsis)
    page.locator("#synopsis").dispatch_event("change")
    page.set_input_files("#file-input", str(poster))
    page.wait_for_selector("#signal-split:not([hidden])")
    assert page.locator("#summary").inner_text().strip("()") == expected["summary"]["text"]
    header = page.locator("#signal-split th").all_inner_texts()
    assert header == ["Genre", "Combined", "Poster alone", "Synopsis alone"]
    first = page.locator("#signal-split tbody tr").first.locator("td").all_inner_texts()
    genre = first[0]
    shown = [strength_text(expected[k][genre]) for k in ("strength", "poster_strength", "synopsis_strength")]
    assert genre == next(iter(expected["levels"])) and first[1:] == shown  # the API's strength of each signal
    _screenshot(page, "synopsis.png")
    assert page.js_errors == []


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _percent_free(texts: list[str]) -> bool:
    return all("%" not in t for t in texts)


def test_one_scale_for_a_genre_in_table_bars_and_compare(browser, drawn_server, api, variants):
    """Issue 26: one way to say how strongly a poster signals a genre. For the same genre the signal table, the bars
    and the compare card show strength × the decision line, the same number where they mean the same signal (the
    table's "Combined" is the bars'; its "Poster alone" is the compare card's, which ranks posters alone), and no
    percentage outside the exact numbers. Heatmap buttons come in the order of the reading shown (with the synopsis)."""
    if not api.get("/healthz").json()["synopsis_available"]:
        pytest.skip("the model under test has no synopsis head")
    synopsis = "A shy young bird and her grandmother fly across the valley to bring the spring festival home."
    first, shown = variants[0], variants[1]
    expected = api.post(
        "/v1/predict", files={"file": (shown.name, shown.read_bytes(), "image/png")}, data={"synopsis": synopsis}
    ).json()
    genre = next(iter(expected["levels"]))  # the reading leads with it
    page = _open(browser, drawn_server.url)
    page.locator("#synopsis-box > summary").click()
    page.fill("#synopsis", synopsis)
    page.locator("#synopsis").dispatch_event("change")
    for count, path in enumerate((first, shown), start=1):
        page.set_input_files("#file-input", str(path))
        page.wait_for_function("n => document.querySelectorAll('#variants .variant').length === n", arg=count)
    page.wait_for_function("name => document.getElementById('poster-name').textContent === name", arg=shown.name)
    page.wait_for_selector("#signal-split:not([hidden])")

    combined, poster_alone = (
        strength_text(expected["strength"][genre]),
        strength_text(expected["poster_strength"][genre]),
    )
    bar = page.locator(f"#bars .bar-row[data-genre='{genre}']")
    assert (
        bar.locator(".value").inner_text() == combined and bar.get_attribute("data-level") == expected["levels"][genre]
    )
    row = page.locator(f"#signal-split tr[data-genre='{genre}'] td").all_inner_texts()
    assert row == [genre, combined, poster_alone, strength_text(expected["synopsis_strength"][genre])]
    assert _percent_free(page.locator("#bars, #bars-more, #signal-split, #summary").all_inner_texts())
    legend = page.locator("#levels-legend li").all_inner_texts()
    rules = api.get("/v1/rules").json()
    assert [t.strip() for t in legend] == [level["legend"] for level in rules["scale"]["levels"]]

    # Heatmaps are offered in the order of the reading shown (combined), not the poster-only order.
    page.click("#heat-show")
    page.wait_for_selector("#heat-buttons button[aria-pressed='true']")
    offered = [b for b in page.locator("#heat-buttons button").all_inner_texts() if b != "off"]
    decided = [g for g in expected["levels"] if g in expected["decided"]]
    assert offered == decided[: rules["limits"]["default_heatmaps"]]

    page.check(f"#targets input[value='{genre}']")
    page.click("#compare-btn")
    page.wait_for_selector(".variant-card >> nth=1")
    card = page.locator(".variant-card[data-index='1']")
    assert card.locator(f".bar-row[data-genre='{genre}'] .value").inner_text() == poster_alone
    outside_exact = card.evaluate("c => [...c.children].filter(e => !e.matches('details')).map(e => e.innerText)")
    assert _percent_free(outside_exact) and _percent_free([page.locator("#compare-headline").inner_text()])
    card.locator(".exact-card > summary").click()
    assert "%" in card.locator(".exact-card").inner_text()  # the probabilities are there, a click away
    _screenshot(page, "page-one-scale.png")
    assert page.js_errors == []


def test_bidi_controls_in_user_text_stay_inside_it(browser, drawn_server, api, variants, tmp_path):
    """Issue 26: bidirectional controls in a file name never reorder what is around it. The page shows user text in
    <bdi> (isolated, the name itself untouched); sentences the service composes around a name leave them out."""
    names = ["pip\u202egnp.yks.png", "\u2067pip\u2069 night\u202b.png"]
    paths = []
    for name, source in zip(names, variants[:2], strict=True):
        path = tmp_path / name
        path.write_bytes(source.read_bytes())
        paths.append(path)
    page = _open(browser, drawn_server.url)
    for count, path in enumerate(paths, start=1):
        page.set_input_files("#file-input", str(path))
        page.wait_for_function("n => document.querySelectorAll('#variants .variant').length === n", arg=count)
        page.wait_for_selector("#reading:not([hidden])")
    caption = page.locator("#poster-name bdi")
    assert caption.text_content() == names[1]
    assert caption.evaluate("b => getComputedStyle(b).unicodeBidi") == "isolate"

    page.check("#targets input[value='Family']")
    page.click("#compare-btn")
    page.wait_for_selector(".variant-card >> nth=1")
    files = [("files", (p.name, p.read_bytes(), "image/png")) for p in paths]
    result = api.post("/v1/compare", files=files, data={"targets": "Family", "heatmaps": "false"}).json()
    headline = page.locator("#compare-headline").inner_text()
    assert headline == result["headline"] and not set(headline) & set(BIDI)
    assert "pipgnp.yks.png" in headline or "pip night.png" in headline  # the names, their controls left out
    sources = page.locator(".variant-card .source bdi").all()
    assert sorted(s.text_content() for s in sources) == sorted(names)  # the exact names, isolated
    assert all(s.evaluate("b => getComputedStyle(b).unicodeBidi") == "isolate" for s in sources)

    bad = tmp_path / "notes\u202etxt.jpg"
    bad.write_bytes(b"not an image at all")
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#error:not([hidden])")
    message = page.locator("#error-text").inner_text()
    error = api.post("/v1/predict", files={"file": (bad.name, bad.read_bytes(), "image/jpeg")}).json()["error"]
    assert message == error and "notestxt.jpg" in message and not set(message) & set(BIDI)
    assert page.locator("#error-text bdi").count() == 1
    assert [e for e in page.js_errors if not e.startswith("Failed to load resource")] == []


def test_a_newer_poster_cancels_the_questions_still_asked_for_the_older_one(browser, drawn_server, variants):
    """Issue 25: fetches a newer action replaces are cancelled (AbortController). The first poster's comparable
    titles are held unanswered; dropping a second poster cancels that request in the browser, shows the second
    poster's reading, and reports nothing as an error (the first stays loaded, asked again when chosen)."""
    page = _open(browser, drawn_server.url)
    held: list = []
    failed: list[tuple[str, bytes]] = []

    def hold_the_first(route) -> None:
        if not held:
            held.append(route)  # never answered: the page must give up on it itself
        else:
            route.continue_()

    page.route("**/v1/similar*", hold_the_first)
    page.on("requestfailed", lambda r: failed.append((r.failure or "", r.post_data_buffer or b"")))
    first, second = variants[0], variants[1]
    page.set_input_files("#file-input", str(first))
    page.wait_for_function("() => document.querySelectorAll('#variants .variant').length === 1")
    page.wait_for_timeout(300)
    assert held and page.locator("#busy").is_visible()  # the first poster's questions are still open
    page.set_input_files("#file-input", str(second))
    page.wait_for_function("name => document.getElementById('poster-name').textContent === name", arg=second.name)
    page.wait_for_selector("#reading:not([hidden])")
    page.wait_for_selector("#similar .title")
    assert any("ABORTED" in why.upper() and first.name.encode() in body for why, body in failed), failed
    assert page.locator("#error").is_hidden() and page.locator("#variants .variant").count() == 2
    page.locator("#variants .variant").first.locator(".thumb").click()  # asked again, now answered
    page.wait_for_function("name => document.getElementById('poster-name').textContent === name", arg=first.name)
    page.wait_for_selector("#similar .title")
    assert page.locator("#reading").is_visible() and page.js_errors == []
