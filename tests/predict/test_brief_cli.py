"""`postergenre brief` through the real entry point: stdout holds only the brief, errors and exit codes as compare's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the studio home and the heatmaps take a while

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."


@pytest.fixture(scope="module")
def variants(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))[100:102]


def test_brief_json_on_stdout(run_cli, model_dir: Path, studio_home: Path, variants: list[Path]) -> None:
    code, out, err = run_cli("brief", *variants, "--synopsis", SYNOPSIS, "--intended", "family, comedy",
                             "--title", "Home Alone", "--format", "json", "--model", model_dir, "--home", studio_home)
    assert code == 0, err
    data = json.loads(out)  # nothing but the JSON on stdout
    assert data["targets"] == ["Family", "Comedy"] and data["title"] == "Home Alone"
    assert sorted(v["name"] for v in data["variants"]) == sorted(p.name for p in variants)
    assert data["recommendation"]["label"] == data["variants"][0]["label"]
    assert data["story"]["genres"] and data["audiences"]["available"]
    assert "reading 2 variants" in err


def test_brief_html_to_a_file(run_cli, model_dir: Path, studio_home: Path, variants: list[Path], tmp_path: Path) -> None:
    out_file = tmp_path / "out" / "brief.html"
    code, out, err = run_cli("brief", *variants, "--intended", "Family", "--out", out_file, "--model", model_dir,
                             "--home", studio_home)
    assert code == 0, err
    assert out == "" and f"brief written to {out_file}" in err
    page = out_file.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Campaign brief" in page
    assert page.count('class="poster"') == 2 and page.count("<figcaption>Family</figcaption>") == 2
    assert "<script" not in page and not any(f'src="{s}' in page for s in ("http:", "https:", "//"))


def test_brief_errors_and_exit_codes(run_cli, model_dir: Path, studio_home: Path, variants: list[Path],
                                     tmp_path: Path) -> None:
    code, out, err = run_cli("brief", variants[0], "--intended", "Family, Cartoon", "--model", model_dir,
                             "--home", studio_home)
    assert code == 2 and out == "" and "unknown genre 'Cartoon'" in err
    code, out, err = run_cli("brief", variants[0], "--format", "pdf", "--model", model_dir, "--home", studio_home)
    assert code == 2 and "--format must be one of html, json" in err
    code, out, err = run_cli("brief", *([variants[0]] * 7), "--model", model_dir, "--home", studio_home)
    assert code == 2 and "1 to 6 poster variants, got 7" in err
    missing = tmp_path / "missing.jpg"
    code, out, err = run_cli("brief", variants[0], missing, "--intended", "Family", "--format", "json",
                             "--model", model_dir, "--home", studio_home)
    assert code == 1 and f"{missing}" in err  # one failed: reported on stderr, the brief still written
    data = json.loads(out)
    assert len(data["variants"]) == 1 and data["failures"][0]["source"] == str(missing)


def test_rating_option_is_read_like_every_filter(run_cli, model_dir: Path, studio_home: Path, variants) -> None:
    code, out, err = run_cli("brief", variants[0], "--intended", "Family", "--rating", "pg", "--format", "json",
                             "--model", model_dir, "--home", studio_home)
    assert code == 0, err
    data = json.loads(out)
    assert data["audiences"]["ratings"] == ["PG"] and "as asked" in data["audiences"]["note"]
    assert all(t["rating"] == "PG" for g in data["audiences"]["groups"] for t in g["titles"])
    code, out, err = run_cli("brief", variants[0], "--intended", "Family", "--rating", "all", "--format", "json",
                             "--model", model_dir, "--home", studio_home)
    data = json.loads(out)
    assert data["audiences"]["ratings"] == [] and any(t["rating"] is None for g in data["audiences"]["groups"]
                                                      for t in g["titles"])


def test_help_tells_the_exit_codes_brief_gives(run_cli, model_dir: Path, variants: list[Path], tmp_path: Path) -> None:
    code, out, _ = run_cli("brief", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "no catalog embeddings" not in text  # a usage error for similar, not for brief
    assert "0 the brief was written (also from a home without a catalog" in text
    # ... and it is: a home without a catalog gets the brief, exit 0, with a note on stderr
    code, out, err = run_cli("brief", variants[0], "--format", "json", "--model", model_dir,
                             "--home", tmp_path / "empty-home")
    assert code == 0, err
    data = json.loads(out)
    assert not data["audiences"]["available"] and "postergenre catalog import" in data["audiences"]["note"]
    assert "note: no comparable titles" in " ".join(err.split())
