"""The decision rules of a reading (model/decisions.py): levels, reading order, the written scale, ranking steps.

Pure functions on plain values, so every case here has a known answer; the faces that use them (core, compare,
brief, CLI, service, page) are tested where they live.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from postergenre.model import decisions as d

SRC = Path(__file__).resolve().parents[2] / "src" / "postergenre"


def test_levels_follow_the_decided_set_then_the_strength() -> None:
    assert d.level(2.0, True) is d.READS and d.level(d.READS_AS, True) is d.READS
    assert d.level(1.49, True) is d.HINTS and d.level(0.8, True) is d.HINTS  # the top-1 fallback decides weak genres
    assert d.level(3.0, False) is d.FAINT  # --top-k can leave a strong genre undecided: it is not "read"
    strengths = {"Drama": 1.2, "Family": 2.4, "Horror": 0.3, "Comedy": 1.9, "Music": 0.9}
    assert d.reads_as(["Drama", "Family", "Comedy"], strengths) == (["Family", "Comedy"], ["Drama"])
    assert d.reading_order(["Drama", "Family"], strengths) == ["Family", "Drama", "Comedy", "Music", "Horror"]
    assert d.levels(["Drama", "Family"], strengths) == {
        "Family": "reads",
        "Drama": "hints",
        "Comedy": "faint",
        "Music": "faint",
        "Horror": "faint",
    }
    assert list(d.levels(["Drama", "Family"], strengths)) == d.reading_order(["Drama", "Family"], strengths)


def test_strength_is_written_rounded_down_so_it_never_shows_a_level_it_has_not_reached() -> None:
    assert d.strength(0.3, 0.2) == pytest.approx(1.5) and d.strength(0.5, 0.0) == pytest.approx(0.5e9)
    assert d.strength_text(1.47) == "1.4×" and d.strength_text(0.999) == "0.9×"
    assert d.strength_text(0.4 / 0.2) == "2.0×" and d.strength_text(0.3 / 0.2) == "1.5×"  # float error is not a step
    assert d.strength_text(0.0) == "0.0×" and d.strength_text(12.34) == "12.3×"


def test_the_bar_scale_puts_the_line_at_one_place_for_every_genre() -> None:
    assert pytest.approx(d.DECISION_LINE / d.SCALE_MAX) == d.LINE_FRACTION
    assert d.bar_fraction(-1) == 0 and d.bar_fraction(d.SCALE_MAX * 4) == 1
    assert d.bar_fraction(d.SCALE_MAX / 2) == pytest.approx(0.5)
    rules = d.rules()
    assert rules["scale"]["max"] == d.SCALE_MAX and rules["scale"]["line_fraction"] == d.LINE_FRACTION
    assert [lv["code"] for lv in rules["scale"]["levels"]] == ["reads", "hints", "faint"]
    assert rules["limits"]["brief_max_variants"] == d.MAX_BRIEF_VARIANTS


def test_heatmaps_follow_the_reading_order() -> None:
    strengths = {"Drama": 1.2, "Family": 2.4, "Comedy": 1.9, "Horror": 3.0, "Music": 1.1}
    decided = ["Drama", "Family", "Comedy", "Music"]  # most probable first, as the core decides
    assert d.heatmap_genres(decided, strengths) == ["Family", "Comedy", "Drama"]
    assert d.heatmap_genres(decided, strengths, ["Horror"]) == ["Horror"]


def _standing(
    index: int, *, poster: bool = True, missed: tuple[str, ...] = (), also: tuple[str, ...] = (), score: float = 1.0
) -> d.Standing:
    return d.Standing(index=index, is_poster=poster, missed=missed, also_reads_as=also, score=score)


def test_the_ranking_steps_in_order_and_the_step_that_decided() -> None:
    photo = _standing(0, poster=False, score=9.0)
    misses = _standing(1, missed=("Family",), score=5.0)
    loud = _standing(2, also=("Drama",), score=4.0)
    clean = _standing(3, score=1.2)
    strong = _standing(4, score=2.0)
    twin = _standing(5, score=2.0)
    standings = [photo, misses, loud, clean, strong, twin]
    assert [standings[i].index for i in d.ranked(standings)] == [4, 5, 3, 2, 1, 0]
    assert d.deciding_step(misses, photo) == "poster" and d.deciding_step(loud, misses) == "missed"
    assert d.deciding_step(clean, loud) == "unintended" and d.deciding_step(strong, clean) == "stronger"
    assert d.deciding_step(strong, twin) == "order"
    assert set(d.STEPS) == {"poster", "missed", "unintended", "stronger", "order"}
    assert d.is_best(1, strong) and not d.is_best(2, twin)
    assert not d.is_best(1, misses) and not d.is_best(1, photo)  # first, but not a fit: never marked
    untargeted = d.Standing(index=0, is_poster=True, missed=(), also_reads_as=("Drama",), score=0.0, has_targets=False)
    assert not untargeted.fits and d.rank_key(untargeted)[2] == 0  # without targets: upload order only


def test_target_score_is_the_geometric_mean_of_the_targets_strengths() -> None:
    assert d.target_score([4.0, 1.0]) == pytest.approx(2.0)
    assert d.target_score([2.0, 0.0]) < 1e-3  # a missing target pulls it down
    assert d.target_score([]) == 0.0


def test_one_function_named_decide_in_src() -> None:
    """Issue 25: the decided set is `model.thresholds.decide`; the core's override of it is `decided_genres`."""
    found = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "decide"
    ]
    assert found == ["model/thresholds.py"]


def test_the_service_limits_are_these() -> None:
    from postergenre.service import MAX_COMPARE_FILES

    assert MAX_COMPARE_FILES == d.MAX_COMPARE_VARIANTS and d.MIN_COMPARE_VARIANTS <= d.MAX_COMPARE_VARIANTS
