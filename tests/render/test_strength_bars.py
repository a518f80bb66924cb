"""The brief and the compare sheet draw the one scale of model/decisions.py (issues 25, 26): each bar's width is
`bar_fraction`, its number `strength_text` (rounded down), its colour the genre's level, the decision line sits at
`LINE_FRACTION`; genres follow the reading's order; "best" is the decided `best`; the target score and the
probabilities live only in the exact numbers. Readings are hand-built with strengths chosen where rounding and order
tell the rules apart (1.47 shows "1.4×", a hint, never the reads-as "1.5×"; Drama is the most probable but not the
strongest genre).
"""

from __future__ import annotations

import re

import pytest
from hostile_pages import reading
from markupsafe import escape

from postergenre.model import decisions
from postergenre.predict.compare import RANKING, SCORING, rank_variants

SHARP = {"Family": 2.6, "Adventure": 1.47, "Comedy": 1.2, "Horror": 0.97, "Music": 0.4, "Drama": 0.3, "War": 0.1}
LOUD = {"Family": 1.8, "Adventure": 1.6, "Comedy": 1.1, "Horror": 2.2, "Music": 0.2, "Drama": 0.6, "War": 0.9}
TARGETS = ["Family", "Adventure"]
BAR = re.compile(
    r'<div class="strength( target)?" data-level="(\w+)"><span class="genre">([^<]*)</span>.*?'
    r'<span class="fill (\w+)"\s+style="width:([\d.]+)%"></span><span class="line"></span></span>'
    r'<span class="value">([^<]*)</span>',
    re.S,
)


def _with_thresholds(strengths: dict[str, float], source: str, *, poster: bool = True):
    """A reading where the most probable genre is not the strongest: Drama's line is high (0.9), the others 0.2."""
    r = reading(source, strengths, poster=poster)
    r.reading.thresholds["Drama"] = 0.9
    r.reading.probabilities["Drama"] = 0.9 * strengths["Drama"]
    r.reading.probabilities = dict(sorted(r.reading.probabilities.items(), key=lambda x: -x[1]))
    return r


def _bars(html: str) -> list[tuple[bool, str, str, str, float, str]]:
    return [
        (bool(t), level, genre, fill, float(width), value) for t, level, genre, fill, width, value in BAR.findall(html)
    ]


def _cards(html: str) -> list[str]:
    return html.split('<div class="card')[1:]


def _assert_drawn_by_the_scale(bars, prediction) -> None:
    levels = prediction.reading.levels
    for _, level, genre, fill, width, value in bars:
        strength = prediction.reading.strength[genre]
        assert level == fill == levels[genre], genre
        assert width == pytest.approx(decisions.bar_fraction(strength) * 100, abs=0.05), genre
        assert value == decisions.strength_text(strength), genre


def test_the_sheet_draws_the_decided_scale_order_and_best() -> None:
    from postergenre.render.sheet import OTHERS, render_sheet

    result = rank_variants([_with_thresholds(LOUD, "/in/loud.jpg"), _with_thresholds(SHARP, "/in/sharp.jpg")], TARGETS)
    html = render_sheet(result)
    assert [v.source for v in result.variants] == ["/in/sharp.jpg", "/in/loud.jpg"] and result.variants[0].best
    assert f":root {{ --decision-line: {decisions.LINE_FRACTION * 100:.1f}%; }}" in html
    assert escape(RANKING) in html and escape(SCORING) in html
    assert all(escape(level.legend) in html for level in decisions.LEVELS)
    cards = _cards(html)
    assert [c.startswith(" best") for c in cards] == [v.best for v in result.variants] == [True, False]
    for card, v in zip(cards, result.variants, strict=True):
        bars = _bars(card)
        _assert_drawn_by_the_scale(bars, v.prediction)
        genres = [b[2] for b in bars]
        order = list(v.prediction.reading.levels)
        unintended = [g for g in order if g in v.unintended]
        others = [g for g in order if g not in TARGETS and g not in unintended][:OTHERS]
        assert genres == TARGETS + unintended + others
        assert [b[0] for b in bars] == [g in TARGETS for g in genres]  # targets in bold
        face, exact = card.split('<div class="exact">')
        assert "target score" not in face.lower() and "%" not in re.sub(r'style="[^"]*"', "", face)
        assert f"Target score {v.score:.2f}" in exact
        assert f"{v.prediction.probabilities['Drama'] * 100:.1f}%" in exact and "90.0%" in exact  # Drama's line
    sharp = _bars(cards[0])
    assert ("hints", "1.4×") in [(b[1], b[5]) for b in sharp if b[2] == "Adventure"]  # rounded down, a hint


def test_the_brief_draws_targets_then_reading_order_and_marks_the_decided_best(core) -> None:
    from postergenre.predict.brief import build_brief
    from postergenre.render.brief import BARS, render_brief

    brief = build_brief(
        core,
        [_with_thresholds(LOUD, "/in/loud.jpg"), _with_thresholds(SHARP, "/in/sharp.jpg")],
        intended="Family, Adventure",
        title="Film",
    )
    html = render_brief(brief)
    cards = _cards(html)
    assert [c.startswith(" best") for c in cards] == [v.score.best for v in brief.variants] == [True, False]
    assert cards[0].count("the one to run") == 1 and "the one to run" not in cards[1]
    assert all(escape(level.legend) in html for level in decisions.LEVELS)
    for card, v in zip(cards, brief.variants, strict=True):
        bars = _bars(card)
        _assert_drawn_by_the_scale(bars, v.score.prediction)
        rest = [g for g in v.score.prediction.reading.levels if g not in TARGETS]
        assert [b[2] for b in bars] == (TARGETS + rest)[:BARS]
        assert [b[0] for b in bars] == [g in TARGETS for g in (TARGETS + rest)[:BARS]]
