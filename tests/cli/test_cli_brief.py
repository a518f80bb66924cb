"""`postergenre brief` through the real entry point: stdout holds only the brief, errors and exit codes as compare's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # the studio home and the heatmaps take a while

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."


@pytest.fixture(scope="module")
def variants(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))[100:102]


def test_brief_json_on_stdout(run_cli, model_dir: Path, studio_home: Path, variants: list[Path]) -> None:
    code, out, err = run_cli(
        "brief",
        *variants,
        "--synopsis",
        SYNOPSIS,
        "--intended",
        "family, comedy",
        "--title",
        "Home Alone",
        "--format",
        "json",
        "--model",
        model_dir,
        "--home",
        studio_home,
    )
    assert code == 0, err
    data = json.loads(out)  # nothing but the JSON on stdout
    assert data["targets"] == ["Family", "Comedy"] and data["title"] == "Home Alone"
    assert sorted(v["name"] for v in data["variants"]) == sorted(p.name for p in variants)
    assert data["recommendation"]["label"] == data["variants"][0]["label"]
    assert data["story"]["genres"] and data["audiences"]["available"]
    assert "reading 2 variants" in err


def test_brief_takes_the_film_from_the_catalog(
    run_cli, model_dir: Path, studio_home: Path, variants: list[Path]
) -> None:
    film = variants[0].stem  # the studio's posters are named by their film's id
    code, out, err = run_cli(
        "brief", *variants, "--film", film, "--format", "json", "--model", model_dir, "--home", studio_home
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["film"]["imdb_id"] == film and data["title"] == data["film"]["title"]
    assert data["story"]["from_catalog"] and data["story"]["text"].startswith("The catalog's plot, read alone,")


def test_brief_html_to_a_file(
    run_cli, model_dir: Path, studio_home: Path, variants: list[Path], tmp_path: Path
) -> None:
    out_file = tmp_path / "out" / "brief.html"
    code, out, err = run_cli(
        "brief", *variants, "--intended", "Family", "--out", out_file, "--model", model_dir, "--home", studio_home
    )
    assert code == 0, err
    assert out == "" and f"brief written to {out_file}" in err
    page = out_file.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and "Campaign brief" in page
    assert page.count('class="poster"') == 2 and page.count("<figcaption>Family</figcaption>") == 2
    assert "<script" not in page and not any(f'src="{s}' in page for s in ("http:", "https:", "//"))


def test_brief_errors_and_exit_codes(
    run_cli, model_dir: Path, studio_home: Path, variants: list[Path], tmp_path: Path
) -> None:
    code, out, err = run_cli(
        "brief", variants[0], "--intended", "Family, Cartoon", "--model", model_dir, "--home", studio_home
    )
    assert code == 2 and out == "" and "unknown genre 'Cartoon'" in err
    code, out, err = run_cli("brief", variants[0], "--format", "pdf", "--model", model_dir, "--home", studio_home)
    assert code == 2 and "--format must be one of html, json" in err
    code, out, err = run_cli("brief", *([variants[0]] * 7), "--model", model_dir, "--home", studio_home)
    assert code == 2 and "1 to 6 poster variants, got 7" in err
    code, out, err = run_cli("brief", variants[0], "--film", "tt9999998", "--model", model_dir, "--home", studio_home)
    # one line, no trace
    assert (
        code == 2
        and out == ""
        and [ln for ln in err.splitlines() if ln.startswith("error:")]
        == [next(ln for ln in err.splitlines() if "film tt9999998 is not in the catalog" in ln)]
    )
    missing = tmp_path / "missing.jpg"
    code, out, err = run_cli(
        "brief",
        variants[0],
        missing,
        "--intended",
        "Family",
        "--format",
        "json",
        "--model",
        model_dir,
        "--home",
        studio_home,
    )
    assert code == 1 and f"{missing}" in err  # one failed: reported on stderr, the brief still written
    data = json.loads(out)
    assert len(data["variants"]) == 1 and data["failures"][0]["source"] == str(missing)


def test_rating_option_is_read_like_every_filter(run_cli, model_dir: Path, studio_home: Path, variants) -> None:
    code, out, err = run_cli(
        "brief",
        variants[0],
        "--intended",
        "Family",
        "--rating",
        "pg",
        "--format",
        "json",
        "--model",
        model_dir,
        "--home",
        studio_home,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["audiences"]["ratings"] == ["PG"] and "as asked" in data["audiences"]["note"]
    assert all(t["rating"] == "PG" for g in data["audiences"]["groups"] for t in g["titles"])
    code, out, err = run_cli(
        "brief",
        variants[0],
        "--intended",
        "Family",
        "--rating",
        "all",
        "--format",
        "json",
        "--model",
        model_dir,
        "--home",
        studio_home,
    )
    data = json.loads(out)
    assert data["audiences"]["ratings"] == [] and any(
        t["rating"] is None for g in data["audiences"]["groups"] for t in g["titles"]
    )


def test_help_tells_the_exit_codes_brief_gives(run_cli, model_dir: Path, variants: list[Path], tmp_path: Path) -> None:
    code, out, _ = run_cli("brief", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "no catalog embeddings" not in text  # a usage error for similar, not for brief
    assert "0 the brief was written (also from a home without a catalog" in text
    # ... and it is: a home without a catalog gets the brief, exit 0, with a note on stderr
    code, out, err = run_cli(
        "brief", variants[0], "--format", "json", "--model", model_dir, "--home", tmp_path / "empty-home"
    )
    assert code == 0, err
    data = json.loads(out)
    assert not data["audiences"]["available"] and "postergenre catalog import" in data["audiences"]["note"]
    assert "note: no comparable titles" in " ".join(err.split())


def test_json_brief_draws_no_heatmaps_and_never_loads_torch(
    run_cli, model_dir: Path, studio_home: Path, variants: list[Path]
) -> None:
    """Grad-CAM (the PyTorch backbone) is drawn for the HTML page only: a JSON brief has no maps to carry."""
    args = [
        "brief",
        *map(str, variants),
        "--synopsis",
        SYNOPSIS,
        "--intended",
        "Family",
        "--format",
        "json",
        "--model",
        str(model_dir),
        "--home",
        str(studio_home),
    ]
    code, out, err = run_cli(*args)  # also caches the home's ONNX graph, whose first export needs torch
    assert code == 0, err
    assert "heatmaps" not in err and all("heatmap_genres" not in v for v in json.loads(out)["variants"])
    probe = (
        "import json, sys\nfrom postergenre.cli import main\nsys.argv = ['postergenre', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["targets"] == ["Family"]
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == ["onnxruntime"]  # the model ran, torch never loaded


def test_brief_refuses_private_urls_unless_allowed_and_caps_file_size(
    run_cli, model_dir: Path, studio_home: Path, http_root, tmp_path: Path
) -> None:
    base, _root = http_root  # a real server on 127.0.0.1
    url = f"{base}/poster.jpg"
    common = ["--intended", "Family", "--format", "json", "--model", model_dir, "--home", studio_home]
    code, out, err = run_cli("brief", url, *common)
    assert code == 1 and out == "" and url in err and "--allow-private-urls" in err  # none could be read
    code, out, err = run_cli("brief", url, *common, "--allow-private-urls")
    assert code == 0, err
    assert [v["source"] for v in json.loads(out)["variants"]] == [url]

    big = tmp_path / "big.png"  # ~1.6 MB of noise: a valid image over a 1 MB cap
    Image.frombytes(
        "RGB", (600, 900), np.random.default_rng(0).integers(0, 256, 600 * 900 * 3, np.uint8).tobytes()
    ).save(big)
    assert big.stat().st_size > 1_000_000
    code, out, err = run_cli("brief", big, url, *common, "--allow-private-urls", "--max-file-mb", "1")
    assert code == 1 and "too large" in err and "big.png" in err  # that one failed alone
    data = json.loads(out)
    assert [v["source"] for v in data["variants"]] == [url] and data["failures"][0]["source"] == str(big)


def test_notes_and_paths_print_as_text_not_markup(
    run_cli, model_dir: Path, variants: list[Path], tmp_path: Path
) -> None:
    """A home or --out path with Rich markup or a terminal escape in it prints as plain, escaped text."""
    home = tmp_path / "home[/x]"  # no catalog: the note names the path
    out_file = tmp_path / "out[/bold]\x1b[2J" / "brief.json"
    code, _out, err = run_cli(
        "brief", variants[0], "--format", "json", "--out", out_file, "--model", model_dir, "--home", home
    )
    assert code == 0, err
    assert json.loads(out_file.read_text(encoding="utf-8"))["variants"]
    text = " ".join(err.split())
    assert f"no catalog at {home}" in text and "\x1b" not in err
    assert f"brief written to {tmp_path}/out[/bold]" in text
