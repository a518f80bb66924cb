"""Comparing poster variants: ranking by target genre, unintended genres, target validation, the HTML sheet."""

from __future__ import annotations

from pathlib import Path

import pytest

from postergenre.errors import PosterGenreError
from postergenre.predict.core import match_genres, split_genre_list
from postergenre.render.sheet import write_sheet


def _posters(shared_data: Path, rows: list[dict], want: set[str], avoid: set[str], n: int) -> list[Path]:
    out = []
    for row in rows:
        genres = set(row["genres"].split("|"))
        if want <= genres and not genres & avoid and (shared_data / row["poster"]).is_file():
            out.append(shared_data / row["poster"])
            if len(out) == n:
                break
    return out


def test_genre_typical_posters_rank_above_atypical_ones(
    predictor, shared_data: Path, shared_rows: list[dict], tmp_path: Path
) -> None:
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
    assert f"#1 <bdi>{result.variants[0].source}</bdi>" in page  # user text isolated (issue 26)
    assert page.count('class="card best') == sum(v.best for v in result.variants) <= 1  # the decided "best"


def test_scores_reward_all_targets(predictor, three_posters: list[Path]) -> None:
    from postergenre.predict.compare import score_variant

    pred = predictor.predict(three_posters[0])
    first, last = next(iter(pred.probabilities)), list(pred.probabilities)[-1]
    strong = score_variant(pred, [first]).score
    both = score_variant(pred, [first, last]).score
    assert strong == pytest.approx(pred.probabilities[first] / pred.thresholds[first])
    assert strong == pytest.approx(pred.reading.strength[first])
    assert both < strong  # missing one target pulls the geometric mean down


def test_targets_are_validated_against_the_model(predictor) -> None:
    assert match_genres(split_genre_list(" drama ,COMEDY,drama"), ["Comedy", "Drama"]) == ["Drama", "Comedy"]
    with pytest.raises(PosterGenreError, match=r"'Cartoon'.*this model knows: Comedy, Drama"):
        match_genres(split_genre_list("Cartoon,Drama"), ["Comedy", "Drama"])
    with pytest.raises(PosterGenreError, match="no target genres"):
        predictor.compare([], " , ")
    with pytest.raises(PosterGenreError, match="this model knows"):
        predictor.compare([], "NotAGenre")


# -- the ranking rule on hand-built readings (issue 19: "most clearly and least of anything else") --------------
# The genres below are labels of hand-built readings, not claims about what the bundled model predicts.


def _variant(source: str, strength: dict[str, float], *, poster: bool = True):
    """A poster-only prediction with these strengths (probability ÷ threshold, every threshold 0.2)."""
    from postergenre.model.decisions import READS_AS
    from postergenre.predict.core import summarize
    from postergenre.predict.results import GenreReading, PosterPrediction

    assert READS_AS < 2.0  # the strengths below read as (2.0+) or hint at (1.1-1.3) on either side of it
    probabilities = dict(sorted(((g, 0.2 * s) for g, s in strength.items()), key=lambda x: -x[1]))
    decided = [g for g in probabilities if strength[g] >= 1.0]
    reading = GenreReading(
        probabilities=probabilities,
        thresholds=dict.fromkeys(strength, 0.2),
        strength=dict(strength),
        decided=decided,
        summary=summarize(decided, strength, poster),
        poster_check={"score": 0.9 if poster else 0.1, "is_poster": poster},
    )
    return PosterPrediction(source=source, reading=reading)


TARGETS = ["Family", "Adventure"]
QUIET = {"Drama": 0.3, "Horror": 0.2, "Music": 0.4}


def test_a_variant_that_also_reads_as_another_genre_ranks_below_a_clean_one() -> None:
    from postergenre.predict.compare import rank_variants

    loud = _variant("A", {**QUIET, "Family": 4.0, "Adventure": 3.5, "Drama": 2.6})  # stronger targets, + Drama
    clean = _variant("B", {**QUIET, "Family": 2.2, "Adventure": 2.0, "Music": 1.2})  # only hints at Music
    result = rank_variants([loud, clean], TARGETS)

    assert [v.source for v in result.variants] == ["B", "A"]  # a higher target score does not buy an extra genre
    assert result.variants[1].score > result.variants[0].score and all(v.fits for v in result.variants)
    assert result.variants[1].also_reads_as == ["Drama"] and result.variants[0].also_reads_as == []
    assert set(result.variants[0].unintended) == {"Music"}  # a hint is unintended but does not count
    assert result.reason() == (
        "B reads as Family and Adventure and hints at Music; A reads as Family, Adventure "
        "and Drama. B comes first: A also reads as Drama, B as no genre outside the targets."
    )
    assert result.headline == "Run B: it reads as Family and Adventure, while A also reads as Drama."
    assert result.variants[0].best and not result.variants[1].best and result.decided_by == "unintended"
    assert result.to_dict()["reason"] == result.reason() and result.to_dict()["decided_by"] == "unintended"
    assert result.to_dict()["variants"][1]["also_reads_as"] == ["Drama"]


def test_missing_a_target_weighs_more_than_an_unintended_genre_and_posters_come_first() -> None:
    from postergenre.predict.compare import rank_variants

    misses = _variant("A", {**QUIET, "Family": 0.6, "Adventure": 1.1, "Drama": 3.0})
    loud = _variant("B", {**QUIET, "Family": 1.6, "Adventure": 1.7, "Horror": 2.5, "Drama": 2.1})
    photo = _variant("C", {**QUIET, "Family": 5.0, "Adventure": 5.0}, poster=False)
    result = rank_variants([misses, photo, loud], TARGETS)

    assert [v.source for v in result.variants] == ["B", "A", "C"]
    assert result.reason() == (
        "B reads mostly as Horror, Drama, Adventure and Family; A reads mostly as Drama and "
        "hints at Adventure. "
        "B comes first: it misses fewer of the targets (0 against 1)."
    )
    assert result.headline == (
        "Run B: it reads as Family and Adventure (it also reads as Horror and Drama), while A "
        "hints at Adventure but does not read as Family (it also reads as Drama)."
    )
    assert result.to_dict()["flagged"] == "1 variant does not look like a movie poster; its ranking is uncertain."
    only_misses = rank_variants([misses, photo], TARGETS)
    assert only_misses.reason().endswith("A comes first: C does not look like a movie poster.")
    assert only_misses.headline == (
        "No variant reads as all of Family and Adventure; the closest is A, which hints "
        "at Adventure but does not read as Family (it also reads as Drama), while C does "
        "not look like a movie poster."
    )
    assert not any(v.best for v in only_misses.variants)  # a variant that misses a target is never marked
    photos = rank_variants([photo], TARGETS)
    assert photos.headline == (
        "None of the images looks like a movie poster, so what they signal is unreliable; "
        "closest to Family and Adventure: C, which reads as Family and Adventure."
    )


def test_with_as_many_unintended_genres_the_stronger_targets_win() -> None:
    from postergenre.predict.compare import rank_variants

    weaker = _variant("A", {**QUIET, "Family": 1.6, "Adventure": 1.6, "Drama": 2.0})
    stronger = _variant("B", {**QUIET, "Family": 3.0, "Adventure": 2.5, "Horror": 1.9})
    result = rank_variants([weaker, stronger], TARGETS)

    assert [v.source for v in result.variants] == ["B", "A"]
    assert result.reason().endswith(
        f"B comes first: it signals the targets more strongly (target score "
        f"{result.variants[0].score:.2f} against {result.variants[1].score:.2f})."
    )
    assert (
        result.headline == "Run B: it reads as Family and Adventure (it also reads as Horror), and signals them "
        "more strongly than A."
    )
    assert "target score" not in result.headline and "geometric" not in result.headline  # arithmetic: exact numbers
    same = rank_variants([weaker, _variant("B", dict(weaker.reading.strength))], TARGETS)
    assert [v.source for v in same.variants] == ["A", "B"] and same.reason().endswith("it was given first.")
    assert same.headline.endswith(", and B reads alike (A was given first).")


def test_without_targets_variants_keep_upload_order() -> None:
    from postergenre.predict.compare import rank_variants

    result = rank_variants([_variant("A", {**QUIET, "Drama": 3.0, "Horror": 2.0}), _variant("B", dict(QUIET))], [])
    assert [v.source for v in result.variants] == ["A", "B"] and result.reason() is None


def test_variants_without_distinct_sources_are_named_by_upload_order() -> None:
    from postergenre.predict.compare import rank_variants

    result = rank_variants(
        [
            _variant("<image>", {**QUIET, "Family": 1.2, "Adventure": 1.1}),
            _variant("<image>", {**QUIET, "Family": 3.0, "Adventure": 2.0}),
        ],
        TARGETS,
    )
    assert result.headline.startswith("Run Variant 2: it reads as Family and Adventure, and signals them more")
    assert result.reason().endswith(
        "Variant 2 comes first: it signals the targets more strongly (target score "
        f"{result.variants[0].score:.2f} against {result.variants[1].score:.2f})."
    )
    by_file = rank_variants(
        [
            _variant("/in/a/poster.jpg", {**QUIET, "Family": 1.2, "Adventure": 1.1}),
            _variant("/in/b/other.jpg", {**QUIET, "Family": 3.0, "Adventure": 2.0}),
        ],
        TARGETS,
    )
    assert by_file.reason().startswith("other.jpg reads as Family and Adventure; poster.jpg reads as no genre clearly")
    same_file = rank_variants(
        [
            _variant("/in/a/poster.jpg", {**QUIET, "Family": 1.2, "Adventure": 1.1}),
            _variant("/in/b/poster.jpg", {**QUIET, "Family": 3.0, "Adventure": 2.0}),
        ],
        TARGETS,
    )
    assert same_file.reason().startswith("/in/b/poster.jpg reads as Family and Adventure; /in/a/poster.jpg reads")


def test_reading_summary_and_compare_words_use_one_reads_as_rule() -> None:
    """A reading whose decided genres are all below READS_AS reads as no genre clearly in its summary, in
    compare's words and verdicts alike (the summary used to fall back to "Reads as: <top decided>")."""
    from postergenre.predict.compare import rank_variants

    weak = _variant("weak.jpg", {"Drama": 1.3, "Family": 1.2, **{g: s for g, s in QUIET.items() if g != "Drama"}})
    mixed = _variant("mixed.jpg", {"Family": 2.4, "Adventure": 1.1, "Drama": 3.0, "Horror": 0.2, "Music": 0.4})

    assert weak.summary["reads_as"] == [] and weak.summary["hints_at"] == ["Drama", "Family"]
    assert weak.summary["text"] == "Reads as no genre clearly. Hints at: Drama, Family."
    assert mixed.summary["reads_as"] == ["Drama", "Family"] and mixed.summary["hints_at"] == ["Adventure"]
    result = rank_variants([weak, mixed], ["Family"])
    by_name = {v.source: v for v in result.variants}
    assert by_name["weak.jpg"].reads_as_words == "reads as no genre clearly (hints at Drama and Family)"
    assert by_name["weak.jpg"].verdicts[0]["level"] == "hints"
    assert by_name["mixed.jpg"].reads_as_words == "reads mostly as Drama and Family and hints at Adventure"
    for v in result.variants:
        strong = v.prediction.summary["reads_as"]
        assert v.also_reads_as == [g for g in strong if g != "Family"]
        assert (v.verdicts[0]["level"] == "reads") == ("Family" in strong)
