"""Bidirectional controls in user text (issue 26): a title, file name, synopsis or catalog field holding U+202E
(right-to-left override) or U+2067 (right-to-left isolate) cannot reverse the rest of a page. Every page is built from
real data objects (hostile_pages) with such a string in every field a user or a catalog controls; once every
<bdi>…</bdi> (where the `user` filter isolates user text) is cut out, no bidirectional control may remain anywhere in
the HTML: not in <title>, attributes, composed sentences, nor the model card's Markdown view.
"""

from __future__ import annotations

import re
from pathlib import Path

import hostile_pages
import pytest
from hostile_pages import HOSTILE

BIDI = f"Tale \u202eelat \u2067{HOSTILE}\u2069 \u202bx\u202c"
"""An override, an isolate and an embedding around the markup string: each field's text holds all three."""
CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
ISOLATE = re.compile(r"(?s)<bdi\b.*?</bdi>")
# The evaluation report's charts cannot fit genre names this long beside their axes (matplotlib says so): not this
# test's subject.
pytestmark = pytest.mark.filterwarnings("ignore:Tight layout not applied:UserWarning")


def _outside_isolates(html: str) -> list[str]:
    """Each bidirectional control left once the isolated user text is cut out, with 40 characters around it."""
    rest = ISOLATE.sub("", html)
    return [rest[max(0, m.start() - 40) : m.end() + 40] for m in CONTROLS.finditer(rest)]


@pytest.fixture(scope="module")
def bidi_pages(core, tmp_path_factory: pytest.TempPathFactory) -> list[hostile_pages.Page]:
    folder: Path = tmp_path_factory.mktemp("bidi")
    return [
        hostile_pages.brief_page(core, BIDI),
        hostile_pages.sheet_page(BIDI),
        hostile_pages.dataset_page(BIDI),
        hostile_pages.evaluation_page(folder, BIDI),
        hostile_pages.card_page(BIDI),
    ]


def test_no_bidi_control_outside_an_isolate_on_any_page(bidi_pages: list[hostile_pages.Page]) -> None:
    for page in bidi_pages:
        assert _outside_isolates(page.html) == [], page.name
        assert HOSTILE not in page.html, page.name  # escaped as ever


def test_the_user_text_is_kept_exactly_inside_its_isolate(bidi_pages: list[hostile_pages.Page]) -> None:
    """Isolation keeps the exact text (the controls act only inside their <bdi>): the film's title and the
    failed file's message come out whole."""
    brief, sheet = bidi_pages[0].html, bidi_pages[1].html
    escaped = (
        BIDI.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
    )
    assert f"<h1>Campaign brief: <bdi>Film {escaped}</bdi></h1>" in brief
    failure = f"<bdi>/in/{escaped}.gif: not an image</bdi>"
    assert failure in brief and failure in sheet
    title = re.search(r"<title>(.*?)</title>", brief, re.S)
    assert title and "<bdi>" not in title.group(1) and "Campaign brief: Film Tale elat" in title.group(1)
