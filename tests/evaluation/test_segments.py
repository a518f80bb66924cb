"""`evaluate` by segment (collections, G/PG; poster only and with synopsis) and the family confusion view, on real
general and studio posters (the studio_setup fixture), computed as the model core computes predictions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from postergenre.catalog.filters import MovieFilter
from postergenre.catalog.store import Catalog
from postergenre.cli import app
from postergenre.config import get_paths
from postergenre.evaluation.evaluate import evaluate_model
from postergenre.model.artifact import ModelArtifact
from postergenre.model.synopsis import has_text

runner = CliRunner()


def _segments(result: dict) -> dict[str, dict]:
    """Segments by each of their names ("rated G/PG = collection studio, rated G/PG" is one segment, two names)."""
    return {name: s for s in result["segments"] for name in s["segment"].split(" = ")}


def _studio_films(home: Path, genres: list[str]) -> list:
    """Studio films evaluate can score: a stored, embedded poster and at least one of the model's genres."""
    with Catalog(get_paths(home).db) as catalog:
        return [
            m
            for m in catalog.movies(MovieFilter(collections=frozenset({"studio"})))
            if m.poster_status == "ok" and set(m.genres) & set(genres)
        ]


def test_segments_per_collection_and_rating_poster_only_and_with_synopsis(studio_setup) -> None:
    art = ModelArtifact.load(studio_setup.studio_model)
    with Catalog(get_paths(studio_setup.home).db) as catalog:
        result, ds, _probs = evaluate_model(art, catalog, bootstrap=30)
    seg = _segments(result)
    assert {"all evaluated movies", "collection general", "collection studio", "rated G/PG"} <= set(seg)
    assert result["model"]["studio_extensions"] is True

    studio = _studio_films(studio_setup.home, art.genres)
    with_plot = [m for m in studio if m.plot and m.plot.strip()]
    assert seg["collection studio"]["n_movies"] == len(studio) > 50
    assert seg["collection studio"]["with_plot"] == len(with_plot)
    assert seg["collection studio"]["signals"]["poster + synopsis"]["n_movies"] == len(with_plot)
    rated = sum(m.content_rating in ("G", "PG") for m in studio)  # the general sample carries no ratings
    assert seg["rated G/PG"]["n_movies"] == rated
    assert seg["all evaluated movies"]["n_movies"] == len(ds.ids) == seg["collection general"]["n_movies"] + len(studio)
    # The general films have no plot here: poster only, and no synopsis row for them.
    assert set(seg["collection general"]["signals"]) == {"poster"}
    for s in result["segments"]:
        for q in s["signals"].values():
            auc = q["macro_auc"]
            assert auc["ci_low"] <= auc["value"] <= auc["ci_high"]
            assert 0 <= q["micro_f1"]["value"] <= 1 and q["family_auc"] is not None

    # The headline is the poster signal on every movie, as a user gets it without a synopsis.
    assert result["headline"]["macro_auc"]["value"] == pytest.approx(
        seg["all evaluated movies"]["signals"]["poster"]["macro_auc"]["value"]
    )
    # Everything evaluated trained something (the general head on the general films, the studio extensions on the
    # studio films): each segment says its numbers are memory, and so does the relation.
    assert {s["measures"] for s in result["segments"]} == {"memory"}
    assert "`general` collection" in result["model"]["relation"] and "studio extensions" in result["model"]["relation"]


def test_cli_evaluate_studio_collection_html_json_and_confusion(studio_setup, tmp_path: Path) -> None:
    html, js = tmp_path / "studio.html", tmp_path / "studio.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(studio_setup.studio_model),
            "--home",
            str(studio_setup.home),
            "--collection",
            "studio",
            "--bootstrap",
            "30",
            "--gallery",
            "0",
            "--out",
            str(html),
            "--json",
            str(js),
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    result = json.loads(js.read_text())
    art = ModelArtifact.load(studio_setup.studio_model)
    studio = _studio_films(studio_setup.home, art.genres)
    # --collection studio: only studio films (the whole selection is the studio segment).
    assert result["n_movies"] == len(studio)
    first = result["segments"][0]
    assert first["segment"] == "all evaluated movies = collection studio" and first["n_movies"] == len(studio)
    assert "By segment" in res.output and "poster + synopsis" in res.output
    assert "warning" in res.output and "studio extensions" in res.output  # studio films trained the extensions

    # The confusion view: rows are true family genres, the diagonal are hits that agree with the metrics' own count.
    conf = result["confusion"]
    fam = [g for g in ("Family", "Animation", "Adventure", "Fantasy", "Comedy", "Music") if g in art.genres]
    assert conf["genres"] == fam
    poster = conf["signals"]["poster"]
    per = {p["genre"]: p for p in result["per_genre"]}
    for i, g in enumerate(fam):
        assert poster["true_counts"][i] == per[g]["support"]
        assert poster["decided"][i][i] == round(per[g]["recall"] * per[g]["support"])  # hits = true positives
        assert all(0 <= c <= poster["true_counts"][i] for c in poster["decided"][i])
    with_text = sum(1 for m in studio if has_text([m.plot])[0])
    assert conf["signals"]["poster + synopsis"]["n_movies"] == with_text

    text = html.read_text()
    assert 'id="memory-warning"' in text  # studio films trained the studio extensions
    assert 'id="segments"' in text and 'id="segment-table"' in text and 'id="confusion"' in text
    assert 'data-signal="poster"' in text and 'data-signal="poster + synopsis"' in text
    auc = first["signals"]["poster + synopsis"]["macro_auc"]
    assert f"{auc['value']:.3f}" in text and f"{auc['ci_low']:.3f} – {auc['ci_high']:.3f}" in text
    assert not re.search(r'(src|href)="(?!data:)', text)  # still self-contained
    assert len(re.findall(r'src="data:image/png;base64,', text)) == 4 + 2  # + one heatmap per signal


def test_cli_evaluate_poster_only_model_on_both_collections(studio_setup, tmp_path: Path) -> None:
    """A model without studio extensions (like the bundled one): poster-only segments; the general head was
    trained on the general films only, so the studio segment measures skill and the general one memory."""
    js = tmp_path / "p.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(studio_setup.poster_model),
            "--home",
            str(studio_setup.home),
            "--bootstrap",
            "30",
            "--gallery",
            "0",
            "--out",
            str(tmp_path / "p.html"),
            "--json",
            str(js),
        ],
        env={"COLUMNS": "200"},
    )
    assert res.exit_code == 0, res.output
    result = json.loads(js.read_text())
    seg = _segments(result)
    assert result["model"]["studio_extensions"] is False
    assert all(set(s["signals"]) == {"poster"} for s in result["segments"])
    assert seg["collection general"]["measures"] == "memory"
    assert seg["collection studio"]["measures"] == "skill" and seg["rated G/PG"]["measures"] == "skill"
    assert "`general` collection" in result["model"]["relation"]
    text = (tmp_path / "p.html").read_text()
    assert "no synopsis head" in text and 'data-signal="poster + synopsis"' not in text


def test_model_card_states_the_studio_cv_numbers(studio_setup) -> None:
    art = ModelArtifact.load(studio_setup.studio_model)
    card = (studio_setup.studio_model / "MODEL_CARD.md").read_text()
    studio = art.metrics["studio"]
    assert "## The studio's own films (G/PG)" in card
    fused = studio["studio_fused"]
    row = next(line for line in card.splitlines() if line.startswith("| poster + synopsis"))
    assert f"| {fused['headline']['macro_auc']['value']:.3f} |" in row and f"| {fused['family_auc']:.3f} |" in row
    assert f"Scope: {studio['folds']}-fold cross-validation on the studio's films only" in card
    assert "## The studio's own films" not in (studio_setup.poster_model / "MODEL_CARD.md").read_text()


def test_no_studio_option_trains_a_poster_only_model(studio_setup) -> None:
    """`train --no-studio` (TrainOptions.studio=False) is read by training: no studio extensions even with studio
    films in the catalog (issue 18, defect 3: the option was saved but never read)."""
    from postergenre.labelled.datasets import assemble_dataset
    from postergenre.training.options import TrainOptions
    from postergenre.training.train import train

    opts = TrainOptions(
        head="logreg", folds=3, min_examples=5, bootstrap=10, threads=1, params={"l2": [3e-3]}, studio=False
    )
    with Catalog(get_paths(studio_setup.home).db) as catalog:
        ds = assemble_dataset(catalog, min_examples=opts.min_examples)
        movies = catalog.movies()
    assert any("studio" in cs for cs in ds.collections)
    result = train(ds, opts, movies=movies)
    assert result.studio is None and "studio" not in result.artifact.head_config
    assert (
        result.artifact.training_options["studio"] is False
        and "--no-studio" in result.artifact.training_options["command"]
    )
