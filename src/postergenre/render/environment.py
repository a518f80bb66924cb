"""The one Jinja2 environment every page renders from.

Templates are package data (`render/templates`). HTML templates are autoescaped: a value lands in a page escaped
unless it is markup this package made, so an unescaped title cannot happen. The Markdown template of the model card
is text and not escaped (its HTML view escapes raw HTML: `model_card.card_html`). Undefined names fail loudly.

User text is isolated from the text around it: the `user` filter wraps it in `<bdi>`, so a right-to-left name or a
bidirectional control in a title, file name or catalog field cannot reverse the sentence or the layout around it;
where an element cannot go (attributes, `<title>`), the `plain` filter strips the controls instead.

Strength bars draw the one scale of `model/decisions.py` (its bar fraction, decision line, written form and level
words), exposed here as filters and globals so that templates hold no number of it.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..model.decisions import LEVELS, LINE_FRACTION, bar_fraction, strength_text
from ..safe_text import without_bidi_controls


def user_text(value: object) -> Markup:
    """The `user` filter: every user-supplied string a page shows as text (titles, file names, failure messages,
    catalog titles, collections, keywords) passes here: escaped, and isolated in `<bdi>` from what surrounds it."""
    return Markup("<bdi>{}</bdi>").format(value)


def plain_text(value: object) -> str:
    """The `plain` filter: user text where no element can go (attribute values, `<title>`), without bidirectional
    controls (autoescaping still escapes it)."""
    return without_bidi_controls(value)


def bar_percent(strength: float) -> str:
    """The `bar_percent` filter: how much of a strength bar a strength fills, as a CSS percentage."""
    return f"{bar_fraction(strength) * 100:.1f}"


def fixed(value: Any, digits: int = 3, missing: str = "–") -> str:
    """A number with `digits` decimals; `missing` for None or a non-finite number."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return f"{value:.{digits}f}"


def line(text: str) -> str:
    """The `line` filter of Markdown templates: text written over several template lines → one output line (each
    line break with the indentation around it becomes one space), ending in a newline."""
    return re.sub(r"\s*\n\s*", " ", text.strip()) + "\n"


def thousands(value: int) -> str:
    return f"{value:,}"


def share(part: float, whole: float) -> str:
    """`part` as a percentage of `whole`: whole percent from 10 % up, one decimal below ("n/a" for no whole)."""
    if not whole:
        return "n/a"
    percent = 100.0 * part / whole
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"


ENV = Environment(
    loader=PackageLoader("postergenre.render", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True, default=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
ENV.filters.update(
    user=user_text,
    plain=plain_text,
    fixed=fixed,
    thousands=thousands,
    share=share,
    line=line,
    bar_percent=bar_percent,
    strength=strength_text,
)
ENV.globals.update(levels=LEVELS, decision_line=f"{LINE_FRACTION * 100:.1f}")


def render(template: str, **context: Any) -> str:
    """The text of `template` (a file under render/templates) with `context`."""
    return ENV.get_template(template).render(**context)
