"""Every page escapes every user-controlled string, loads nothing from anywhere, and routes user text through the one
`user` filter. The pages (fixtures in conftest.py) carry a hostile string in each field a user or a catalog controls:
file names, the film's title, catalog titles, collections, plot keywords, genres, ratings, notes, segment names.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hostile_pages import HOSTILE, Page, write_pages
from markupsafe import Markup

from postergenre.render import environment
from postergenre.render.environment import ENV

SRC = Path(__file__).resolve().parents[2] / "src" / "postergenre"
IMDB_TITLE = re.compile(r"^https://www\.imdb\.com/title/tt\d+/$")


class _Parsed(HTMLParser):
    """Elements, decoded text (with the elements it sits in), and every URL-valued attribute of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.text: list[tuple[str, tuple[str, ...]]] = []
        self.urls: list[tuple[str, str]] = []
        self.attributes: list[str] = []
        self.styles: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ("img", "meta", "br", "link", "input"):
            self.open.append(tag)
        for name, value in attrs:
            self.attributes.append(value or "")
            if name in ("src", "href", "srcset", "action", "data", "poster", "background"):
                self.urls.append((tag, value or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] == "style":
            self.styles.append(data)
        self.text.append((data, tuple(self.open)))

    def joined(self) -> str:
        return "".join(t for t, _ in self.text)


def _page_names(pages: list[Page]) -> list[str]:
    return [p.name for p in pages]


def test_every_user_string_is_escaped_on_every_page(pages: list[Page]) -> None:
    assert _page_names(pages) == ["brief", "sheet", "dataset", "evaluation", "card"]
    for page in pages:
        parsed = _Parsed(page.html)
        assert HOSTILE not in page.html, page.name  # never as markup
        assert "script" not in parsed.tags, page.name  # no element came from a user string
        assert [u for tag, u in parsed.urls if u == "x"] == [], page.name
        text = parsed.joined()
        assert HOSTILE in text or any(HOSTILE in a for a in parsed.attributes), page.name  # shown as text
        for value in page.user_values:
            assert value in text, (page.name, value)


def test_every_page_loads_nothing_from_anywhere(pages: list[Page]) -> None:
    for page in pages:
        parsed = _Parsed(page.html)
        assert not {"script", "link", "iframe", "object", "embed", "base", "frame"} & set(parsed.tags), page.name
        for tag, url in parsed.urls:
            if tag == "a":  # the only links: IMDb title pages, followed only when clicked
                assert IMDB_TITLE.match(url), (page.name, url)
            else:
                assert url.startswith("data:image/"), (page.name, tag, url[:60])
        for css in parsed.styles:
            assert "@import" not in css and "url(" not in css, page.name
    brief = next(p for p in pages if p.name == "brief")
    assert 'href="https://www.imdb.com/title/tt0000001/"' in brief.html


def test_user_values_are_isolated_in_bdi(pages: list[Page]) -> None:
    """Every user value a page shows as such comes out escaped and isolated in <bdi> by the one `user` filter, so a
    right-to-left name cannot reorder the text around it."""
    for page in pages:
        parsed = _Parsed(page.html)
        isolated = {t for t, open_tags in parsed.text if open_tags and open_tags[-1] == "bdi"}
        for value in page.user_values:
            assert value in isolated, (page.name, value)


def test_templates_cannot_turn_escaping_off() -> None:
    templates = SRC / "render" / "templates"
    for path in templates.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\|\s*safe\b|{%-?\s*autoescape|Markup", text), path.name
        assert ENV.autoescape(path.name) is (path.suffix == ".html"), path.name  # Markdown and CSS are not HTML
    assert ENV.autoescape(None) is True  # a template from a string is escaped too


def test_no_hand_written_escaping_outside_the_rendering_package() -> None:
    pattern = re.compile(r"html\.escape|from html import escape|markupsafe\.escape|import html$", re.M)
    found = [str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert found == []
    assert environment.user_text(HOSTILE) == Markup(f"<bdi>{Markup.escape(HOSTILE)}</bdi>")  # escapes, isolates


@pytest.mark.slow
def test_pages_in_chromium_request_nothing_and_draw_every_image(pages: list[Page], browser, tmp_path: Path) -> None:
    files = write_pages(pages, tmp_path)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    requests: list[str] = []
    dialogs: list[str] = []
    try:
        allowed = {path.as_uri() for path in files}

        def route(r) -> None:  # every request passes here: only the page files themselves are served
            if r.request.url in allowed:
                r.continue_()
            else:
                requests.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        for path in files:
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            drawn = page.eval_on_selector_all("img", "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
            assert all(drawn), path.name
            assert page.evaluate("document.scripts.length") == 0, path.name
            assert len(page.pdf(format="A4")) > 1000, path.name  # prints
        assert requests == [] and dialogs == []
    finally:
        context.close()
