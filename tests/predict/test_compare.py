"""Comparing poster variants: ranking by target genre, unintended genres, target validation, the HTML sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from postergenre.errors import PosterGenreError
from postergenre.predict.core import match_genres, split_genre_list
from postergenre.predict.sheet import write_sheet


def _posters(shared_data: Path, rows: list[dict], want: set[str], avoid: set[str], n: int) -> list[Path]:
    out = []
    for row in rows:
        genres = set(row["genres"].split("|"))
        if want <= genres and not genres & avoid and (shared_data / row["poster"]).is_file():
            out.append(shared_data / row["poster"])
            if len(out) == n:
                break
    return out


def test_genre_typical_posters_rank_above_atypical_ones(predictor, shared_data: Path, shared_rows: list[dict],
                                                         tmp_path: Path) -> None:
    recent = [r for r in shared_rows if r["year"] and int(r["year"]) >= 1990]
    typical = _posters(shared_data, recent, {"Horror"}, {"Comedy", "Romance", "Family", "Animation"}, 6)
    atypical = _posters(shared_data, recent, {"Comedy", "Romance"}, {"Horror", "Thriller", "Crime"}, 6)

    result = predictor.compare(typical + atypical, "horror")

    assert result.targets == ["Horror"] and not result.failures
    rank = {Path(v.source): v.rank for v in result.variants}
    mean_typical = sum(rank[p] for p in typical) / len(typical)
    mean_atypical = sum(rank[p] for p in atypical) / len(atypical)
    assert mean_typical < mean_atypical
    assert Path(result.variants[0].source) in typical
    for v in result.variants:
        assert set(v.unintended) == set(v.prediction.decided) - {"Horror"}
        assert v.targets_decided == (["Horror"] if "Horror" in v.prediction.decided else [])
        assert v.heatmaps == {} and v.image is None  # only asked for with heatmaps=True (the CLI's --out)

    sheet = write_sheet(result, tmp_path / "out" / "sheet.html")
    page = sheet.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count('class="card') == len(typical) + len(atypical)
    assert "#1 " + result.variants[0].source in page


def test_scores_reward_all_targets(predictor, three_posters: list[Path]) -> None:
    from postergenre.predict.compare import score_variant

    pred = predictor.predict(three_posters[0])
    first, last = list(pred.probabilities)[0], list(pred.probabilities)[-1]
    strong = score_variant(pred, [first]).score
    both = score_variant(pred, [first, last]).score
    assert strong == pytest.approx(pred.probabilities[first] / pred.thresholds[first])
    assert strong == pytest.approx(pred.reading.strength[first])
    assert both < strong  # missing one target pulls the geometric mean down


def test_targets_are_validated_against_the_model(predictor) -> None:
    assert match_genres(split_genre_list(" drama ,COMEDY,drama"), ["Comedy", "Drama"]) == ["Drama", "Comedy"]
    with pytest.raises(PosterGenreError, match="'Cartoon'.*this model knows: Comedy, Drama"):
        match_genres(split_genre_list("Cartoon,Drama"), ["Comedy", "Drama"])
    with pytest.raises(PosterGenreError, match="no target genres"):
        predictor.compare([], " , ")
    with pytest.raises(PosterGenreError, match="this model knows"):
        predictor.compare([], "NotAGenre")
