"""The one Jinja2 environment every page renders from.

Templates are package data (`render/templates`). HTML templates are autoescaped: a value lands in a page escaped
unless it is markup this package made, so an unescaped title cannot happen. The Markdown template of the model card
is text and not escaped (its HTML view escapes raw HTML: `model_card.card_html`). Undefined names fail loudly.
"""

from __future__ import annotations

import math
import re
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from . import layout


def user_text(value: object) -> Markup:
    """The `user` filter: every user-supplied string a page shows (titles, file names, plots, synopses, catalog
    titles) passes here. Escaped like any value today; the one place to isolate such text from its surroundings
    later (e.g. `Markup("<bdi>{}</bdi>").format(value)` for right-to-left names). In attributes use plain `{{ }}`."""
    return escape(value)


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
ENV.filters.update(user=user_text, fixed=fixed, thousands=thousands, share=share, line=line,
                   strength_width=layout.strength_width)


def render(template: str, **context: Any) -> str:
    """The text of `template` (a file under render/templates) with `context`."""
    return ENV.get_template(template).render(**context)
