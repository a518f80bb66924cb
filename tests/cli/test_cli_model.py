"""`postergenre train` and `postergenre evaluate` end to end on real embedded posters (the small_home fixture)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from postergenre.cli import app
from postergenre.model.artifact import ModelArtifact
from postergenre.render.model_card import model_card

runner = CliRunner()


@pytest.fixture(scope="module")
def home_copy(small_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of small_home (tests must not write into the shared one)."""
    target = tmp_path_factory.mktemp("train") / "home"
    shutil.copytree(small_home, target, symlinks=True)
    return target


@pytest.fixture(scope="module")
def trained(home_copy: Path) -> tuple[Path, str]:
    out = home_copy.parent / "model"
    res = runner.invoke(
        app,
        [
            "train",
            "--home",
            str(home_copy),
            "--head",
            "logreg",
            "--param",
            "l2=1e-3,1e-1",
            "--min-examples",
            "20",
            "--folds",
            "3",
            "--inner-folds",
            "2",
            "--holdout",
            "0.25",
            "--bootstrap",
            "50",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    return out, res.output


def test_train_writes_a_loadable_artifact_with_honest_metrics(trained: tuple[Path, str], home_copy: Path) -> None:
    out, output = trained
    assert "genres left out with fewer than 20 examples" in output  # rare genres are reported, not silently dropped
    assert "logreg(l2=0.001)" in output and "logreg(l2=0.1)" in output  # the table of tried settings
    assert "studio extensions included" not in output  # small_home has no studio films: none were trained
    art = ModelArtifact.load(out)
    counts = art.data_fingerprint["genre_counts"]
    assert art.genres == sorted(counts) and "Drama" in art.genres
    assert art.metrics["estimate"] == "nested CV of the search" and len(art.metrics["chosen_per_outer_fold"]) == 3
    auc = art.metrics["cv"]["headline"]["macro_auc"]
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"] and auc["prior"] == pytest.approx(0.5)
    assert art.training_options["holdout"] == 0.25
    assert art.data_fingerprint["movies"] < 164  # the hold-out part was kept out of training
    assert "--holdout 0.25" in art.training_options["command"]
    assert "--bootstrap 50" in art.training_options["command"] and "--home" not in art.training_options["command"]
    card = (out / "MODEL_CARD.md").read_text()
    assert card == model_card(json.loads((out / "model.json").read_text()))  # the card of this model, saved with it
    assert "## Reproduce" in card and art.training_options["command"] in card
    assert str(home_copy) not in card  # no developer paths in a card that gets committed
    assert np.all((art.thresholds > 0) & (art.thresholds <= 1))


def test_evaluate_holdout_writes_html_and_json(trained: tuple[Path, str], home_copy: Path, tmp_path: Path) -> None:
    out, _ = trained
    html, js = tmp_path / "r.html", tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            "--home",
            str(home_copy),
            "--holdout",
            "0.25",
            "--bootstrap",
            "50",
            "--out",
            str(html),
            "--json",
            str(js),
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(js.read_text())
    art = ModelArtifact.load(out)
    assert result["genres"] == art.genres
    # The hold-out is the quarter of the selection that `train --holdout 0.25` kept out of training.
    assert result["n_movies"] / (result["n_movies"] + art.data_fingerprint["movies"]) == pytest.approx(0.25, abs=0.03)
    assert result["headline"]["macro_auc"]["value"] is not None
    assert result["model"]["held_out"] and result["model"]["relation_kind"] == "held out", result["model"]["relation"]
    assert "warning" not in res.output
    text = html.read_text()
    assert text.startswith("<!doctype html>") and "data:image/png;base64" in text  # the shared page layout
    assert 'id="memory-warning"' not in text
    assert 'id="gallery"' in text and "Best and worst held-out posters" in text and "data:image/jpeg;base64" in text


def test_evaluate_warns_when_the_movies_were_used_in_training(
    trained: tuple[Path, str], home_copy: Path, tmp_path: Path
) -> None:
    out, _ = trained
    js = tmp_path / "all.json"
    # Without --holdout the selection includes the 75% the model was trained on.
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            "--home",
            str(home_copy),
            "--bootstrap",
            "20",
            "--out",
            str(tmp_path / "all.html"),
            "--json",
            str(js),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "--holdout 0.25" in res.output
    assert 'id="memory-warning"' in (tmp_path / "all.html").read_text()
    assert not json.loads(js.read_text())["model"]["held_out"]


def test_evaluate_refuses_a_model_of_another_preprocessing(
    trained: tuple[Path, str], home_copy: Path, tmp_path: Path
) -> None:
    out, _ = trained
    other = tmp_path / "other"
    shutil.copytree(out, other)
    meta = json.loads((other / "model.json").read_text())
    meta["preprocess_version"] = "letterbox-something-else"
    (other / "model.json").write_text(json.dumps(meta))
    res = runner.invoke(app, ["evaluate", str(other), "--home", str(home_copy), "--out", str(tmp_path / "x.html")])
    assert res.exit_code != 0
    assert "preprocessing letterbox-something-else" in str(res.exception)


def test_default_train_is_the_measured_winner_and_records_what_it_used(home_copy: Path, tmp_path: Path) -> None:
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths

    out = tmp_path / "default"
    res = runner.invoke(
        app,
        [
            "train",
            "--home",
            str(home_copy),
            "--min-examples",
            "20",
            "--folds",
            "3",
            "--bootstrap",
            "30",
            "--threads",
            "1",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    # Progress lines on stderr (3 folds + final fit).
    assert "training: 4/4" in res.stderr and "training:" not in res.stdout
    assert f"--out {out}" in res.stdout.replace("\n", "")  # the printed reproduce command writes the same folder
    art = ModelArtifact.load(out)
    assert (art.head_type, art.head_config["settings"], art.feature_set) == ("logreg", {"l2": 0.003}, "pooled+allstats")
    assert art.metrics["estimate"] == "3-fold CV of fixed settings" and art.metrics["inner_folds"] is None
    opts = art.training_options
    assert opts["backbone"] == art.backbone == "efficientnet-lite0"  # resolved, not None
    assert (opts["head"], opts["search"], opts["folds"], opts["bootstrap"]) == ("logreg", False, 3, 30)
    assert opts["inner_folds"] is None and opts["params"] == {} and opts["threads"] == 1
    assert opts["command"] == (
        "postergenre train --backbone efficientnet-lite0 --feature-set pooled+allstats "
        "--views poster,mirror --head logreg --folds 3 --min-examples 20 --bootstrap 30 "
        "--threads 1"
    )
    # The default reads each poster and its mirror image (the home's embedding computed both).
    assert art.head_config["views"] == ["poster", "mirror"] and art.data_fingerprint["views"] == ["poster", "mirror"]
    # The card's statements about the data are computed from the movies trained on.
    with Catalog(get_paths(home_copy).db) as catalog:
        movies = {m.imdb_id: m for m in catalog.movies()}
    profile = art.data_fingerprint["profile"]
    years = sorted(y for y in (movies[i].year for i in movies) if y is not None)
    assert profile["movies"] == art.data_fingerprint["movies"]
    assert years[0] <= profile["year_min"] <= profile["year_max"] <= years[-1]
    card = (out / "MODEL_CARD.md").read_text()
    assert f"Release years {profile['year_min']}–{profile['year_max']}" in card
    top = max(art.data_fingerprint["genre_counts"].items(), key=lambda kv: kv[1])[0]
    assert f"the most common, {top}, is on" in card
    assert "Drama is about half" not in card and "older and international" not in card


def test_bad_head_setting_is_one_clear_error(home_copy: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app,
        [
            "train",
            "--home",
            str(home_copy),
            "--head",
            "mlp",
            "--param",
            "max_epochs=0",
            "--min-examples",
            "20",
            "--out",
            str(tmp_path / "m"),
        ],
    )
    assert res.exit_code != 0
    assert "max_epochs=0 is invalid: must be an integer >= 1" in str(res.exception)
    res = runner.invoke(
        app, ["train", "--home", str(home_copy), "--param", "max_epochz=3", "--out", str(tmp_path / "m")]
    )
    assert "max_epochz: not a logreg setting" in str(res.exception)


def test_interrupted_search_resumes_from_the_kept_folds(home_copy: Path, tmp_path: Path) -> None:
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.training.options import TrainOptions
    from postergenre.training.train import train as train_model

    # 1 thread: several times faster on a busy machine
    opts = TrainOptions(
        head="logreg", params={"l2": [1e-3, 1e-1]}, folds=3, inner_folds=2, min_examples=20, bootstrap=20, threads=1
    )
    with Catalog(get_paths(home_copy).db) as catalog:
        ds = opts.dataset(catalog)
    seen = []

    def interrupt_after_five(p) -> None:  # what Ctrl+C does between two fold fits
        seen.append(p)
        if p.done == 5:
            raise KeyboardInterrupt

    cache = tmp_path / "folds"
    with pytest.raises(KeyboardInterrupt):
        train_model(ds, opts, progress=interrupt_after_five, cache_dir=cache)
    assert len(list(cache.rglob("*.npy"))) == 5 and seen[-1].total == 2 * 3 + 3 * (2 * 2 + 1) + 1
    resumed = train_model(ds, opts, cache_dir=cache)
    fresh = train_model(ds, opts)
    assert resumed.reused_folds >= 5 and fresh.reused_folds == 0
    np.testing.assert_array_equal(resumed.nested.oof, fresh.nested.oof)
    assert resumed.artifact.thresholds.tolist() == fresh.artifact.thresholds.tolist()
    resumed.fold_cache.clear()
    assert not list(cache.rglob("*.npy"))


def test_empty_selection_names_the_filter(home_copy: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["train", "--home", str(home_copy), "--year-min", "2100", "--out", str(tmp_path / "m")])
    assert res.exit_code != 0
    assert "--year-min 2100" in str(res.exception)
    assert not (tmp_path / "m").exists()


def test_train_embeds_the_mirror_images_a_serving_data_folder_lacks(small_home: Path, tmp_path: Path) -> None:
    """A data folder embedded for serving holds the posters' own vectors only (what `postergenre embed` computes by
    default): the default `train` (two views) embeds the mirror images first, says so on stderr, and trains; `embed`
    then finds nothing left of its default view."""
    import sqlite3
    import subprocess
    import sys

    from postergenre.config import get_paths

    home = tmp_path / "home"
    shutil.copytree(small_home, home, symlinks=True)
    mirrors = "SELECT count(*) FROM embeddings WHERE backbone LIKE '%+mirror'"
    with sqlite3.connect(get_paths(home).db) as conn:
        posters = conn.execute("SELECT count(*) FROM embeddings WHERE backbone NOT LIKE '%+mirror'").fetchone()[0]
        conn.execute("DELETE FROM embeddings WHERE backbone LIKE '%+mirror'")
    cli = str(Path(sys.executable).with_name("postergenre"))
    flags = ["--min-examples", "20", "--folds", "2", "--bootstrap", "0", "--threads", "1"]
    run = subprocess.run(
        [cli, "train", "--home", str(home), *flags, "--out", str(tmp_path / "two-views")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr
    said = " ".join(run.stderr.split())
    assert f"(poster + mirror): embedded {posters} " in said and "already cached 0," in said
    assert "(poster + mirror)" not in run.stdout  # the embedding note is not part of train's tables
    with sqlite3.connect(get_paths(home).db) as conn:
        assert conn.execute(mirrors).fetchone()[0] == posters
    assert ModelArtifact.load(tmp_path / "two-views").head_config["views"] == ["poster", "mirror"]
    res = runner.invoke(app, ["embed", "--home", str(home)])
    assert res.exit_code == 0, res.output
    said = " ".join(res.stdout.split())
    assert f"(poster): embedded 0, already cached {posters}" in said
