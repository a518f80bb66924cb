"""Match words stay honest on odd inputs and tiny catalogs, and a tiny catalog's titles from outside the studio
reach CSV and the terminal safely (issue 20)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def tiny_home(shared_rows: list[dict], make_poster_home, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-film catalog, embedded; titles an agency export could hold (formulas, escape sequences)."""
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.features.embed import embed_catalog
    from postergenre.features.registry import get_backbone
    from postergenre.posters.store import PosterStore

    titles = ['=HYPERLINK("http://evil.example","x")', "@SUM(1+1)", "\x1b[2JClear", "Plain"]
    rows = [{**row, "title": title} for row, title in zip(shared_rows[1000:4000:750], titles, strict=False)]
    home = make_poster_home(tmp_path_factory.mktemp("tiny"), rows)
    with Catalog(get_paths(home).db) as catalog:
        assert embed_catalog(catalog, PosterStore(get_paths(home).posters), get_backbone()).complete
    return home


def test_a_tiny_catalog_calls_nothing_very_close_below_a_large_catalogs_bar(
    predictor, tiny_home: Path, poster_paths: dict[str, Path]
) -> None:
    scale = predictor.similarity(tiny_home).scale
    assert scale.words(0.34) == "loose" and scale.words(0.5) == "loose"
    result = predictor.similar(next(iter(poster_paths.values())), k=4, home=tiny_home)
    assert all(t.match == "loose" or t.score >= 0.7 for t in result), [(t.score, t.match) for t in result]


def test_a_noise_image_has_no_close_neighbours(predictor, small_home: Path) -> None:
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (600, 400, 3), dtype=np.uint8))
    result = predictor.similar(noise, k=5, home=small_home)
    assert not result.query_is_poster
    assert [t.match for t in result] == ["loose"] * 5, [(t.score, t.match) for t in result]


def test_an_input_that_is_no_poster_gets_no_close_words_however_high_its_score(predictor, small_home: Path) -> None:
    """On the 18,869-poster catalog a noise image's best cosine (0.77) beats the median best match between posters
    (0.75): the score alone would say "very close". Here: a catalog poster's own vector, flagged as no poster."""
    from postergenre.catalog.store import Catalog
    from postergenre.posters.images import decode_image
    from postergenre.posters.store import PosterStore

    with Catalog(small_home / "catalog.sqlite") as catalog:
        sha = next(m.poster_sha256 for m in catalog.movies() if m.poster_status == "ok")
    vector = predictor.core.embed([decode_image(PosterStore(small_home / "posters").path(sha))])[0]
    finder = predictor.similarity(small_home)
    assert finder.search(vector, 3, query_is_poster=True)[0].match == "very close"
    assert [t.match for t in finder.search(vector, 3, query_is_poster=False)] == ["loose"] * 3


def test_similar_csv_and_table_show_catalog_titles_safely(
    run_cli, model_dir: Path, tiny_home: Path, poster_paths: dict[str, Path]
) -> None:
    poster = next(iter(poster_paths.values()))
    code, out, err = run_cli(
        "similar", poster, "--k", "4", "--format", "csv", "--model", model_dir, "--home", tiny_home
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    titles = sorted(r["title"] for r in rows)
    assert titles == sorted(['\'=HYPERLINK("http://evil.example","x")', "'@SUM(1+1)", "\x1b[2JClear", "Plain"])
    assert all(-1.0 <= float(r["similarity"]) <= 1.0 for r in rows)  # numbers, never quoted

    code, out, err = run_cli("similar", poster, "--k", "4", "--model", model_dir, "--home", tiny_home)
    assert code == 0, err
    assert "\x1b" not in out and "\\x1b[2JClear" in out
