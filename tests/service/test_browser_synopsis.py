"""The page reads a synopsis alone, before a poster exists: real Chromium (Playwright) against a real server on
127.0.0.1. What the page shows must be what the API answers for the same synopsis. Skips (with the reason) when
/usr/bin/chromium is absent; `.ci/run` installs it."""

from __future__ import annotations

import httpx
import pytest

PLOT = "A shy young dragon and a farm girl set out across the mountains to find his lost family."


@pytest.mark.slow
def test_the_synopsis_box_reads_the_story_without_a_poster(browser, server, predictor):
    if not predictor.has_synopsis:
        pytest.skip("the model under test has no synopsis head")
    with httpx.Client(base_url=server.url, timeout=120) as api:
        response = api.post("/v1/predict", json={"synopsis": PLOT})
    assert response.status_code == 200, response.text
    expected = response.json()

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(90_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='true']")
    page.locator("#synopsis-box summary").click()
    page.locator("#synopsis").fill(PLOT)
    page.locator("#synopsis-read").click()
    page.wait_for_selector("#reading:not([hidden])")

    summary = page.locator("#summary").inner_text()
    assert summary == expected["summary"]["text"] and summary.startswith("From the synopsis only: ")
    assert page.locator("#check-warning").is_hidden() and page.locator("#viewer").is_hidden()
    decided_rows = page.locator("#bars .bar-row.decided")
    # Bars are ordered by strength (probability ÷ threshold), the API's decided list by probability.
    assert sorted(decided_rows.nth(i).get_attribute("data-genre") for i in range(decided_rows.count())) == sorted(
        expected["decided"]
    )
    assert page.locator("#signal-split").is_hidden()  # nothing to set side by side without a poster
    assert page.locator("#placeholder").is_hidden()
    assert not errors, errors
    context.close()
