"""One filter parser for every command and route: `--rating pg --collection Studio` selects what `--rating PG
--collection studio` selects, in `similar` (CLI) and `/v1/similar` (service) as in `train` (issue 18, defect 2)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from postergenre.catalog.filters import MovieFilter
from postergenre.catalog.formats import read_catalog
from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.features.embed import embed_catalog
from postergenre.features.registry import get_backbone
from postergenre.posters.attach import attach_folder
from postergenre.posters.store import PosterStore
from postergenre.predict.similar import SimilarFilter

SPELLINGS = [("pg", "Studio"), ("PG", "studio"), (" Pg ", "STUDIO")]


@pytest.fixture(scope="module")
def studio_home(small_home: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small home plus 30 of the studio's films (rated, with posters) in the `studio` collection, embedded."""
    source = shared_data / "studio-catalog" / "imdb_api_export.csv"
    if not source.is_file():
        pytest.skip(f"studio export not found at {source}")
    root = tmp_path_factory.mktemp("filters")
    home = root / "home"
    shutil.copytree(small_home, home, symlinks=True)
    with open(source, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    posters = source.parent / "posters"
    rows = [r for r in rows if (posters / f"{r['id']}.jpg").is_file()][::7][:30]
    (root / "posters").mkdir()
    for r in rows:
        (root / "posters" / f"{r['id']}.jpg").symlink_to(posters / f"{r['id']}.jpg")
    with open(root / "studio.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    paths = get_paths(home)
    read = read_catalog(root / "studio.csv")
    with Catalog(paths.db) as catalog:
        catalog.upsert_movies(read.records, collection="studio", source=str(root / "studio.csv"), fmt=read.fmt)
        attach_folder(catalog, PosterStore(paths.posters), root / "posters")
        assert embed_catalog(catalog, PosterStore(paths.posters), get_backbone(), threads=1).complete
        rated = list(MovieFilter.parse(rating="PG", collection="studio").apply(catalog.movies()))
    assert len(rated) >= 3, "the studio subset should hold PG films"
    return home


def test_every_spelling_parses_to_the_same_filter() -> None:
    movie_filters = {MovieFilter.parse(rating=r, collection=c) for r, c in SPELLINGS}
    similar_filters = {
        SimilarFilter.parse(rating=r, collection=c, genre=g)
        for (r, c), g in zip(SPELLINGS, ["family", "Family", " FAMILY"], strict=True)
    }
    assert len(movie_filters) == 1 and len(similar_filters) == 1
    assert next(iter(similar_filters)).ratings == frozenset({"PG"})


@pytest.mark.slow
def test_similar_cli_and_route_keep_the_same_titles_for_any_spelling(studio_home: Path, serve, shared_data: Path):
    from postergenre.cli import app as cli_app
    from postergenre.predict.predictor import Predictor
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    poster = next((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))
    cli = []
    for rating, collection in SPELLINGS:
        result = CliRunner().invoke(
            cli_app,
            [
                "similar",
                str(poster),
                "--rating",
                rating,
                "--collection",
                collection,
                "--home",
                str(studio_home),
                "--format",
                "json",
                "--k",
                "5",
            ],
        )
        assert result.exit_code == 0, result.output
        cli.append(json.loads(result.stdout))
    assert cli[0] == cli[1] == cli[2]
    titles = cli[0]["titles"] if isinstance(cli[0], dict) else cli[0]
    assert titles, "the filters should keep the studio's PG films"

    service = create_app(ServiceSettings(home=studio_home), predictor=Predictor.load(home=studio_home))
    with serve(service) as running, httpx.Client(base_url=running.url, timeout=120) as client:
        answers = []
        for rating, collection in SPELLINGS:
            r = client.post(
                "/v1/similar",
                params={"k": 5, "rating": rating, "collection": collection},
                files={"file": (poster.name, poster.read_bytes(), "image/jpeg")},
            )
            assert r.status_code == 200, r.text
            answers.append([t["imdb_id"] for t in r.json()["titles"]])
    assert answers[0] == answers[1] == answers[2] and answers[0]


def test_all_keeps_every_rating_and_an_unknown_rating_is_named() -> None:
    """One rating parser (the brief's copy is gone): "all" is every rating, a rating nobody knows raises, naming it
    and listing the known ones, where it used to keep nothing silently ("PGX")."""
    from postergenre.catalog.filters import parse_ratings
    from postergenre.errors import PosterGenreError

    assert parse_ratings("all") == parse_ratings(" ALL ") == frozenset()  # asked for: every rating
    assert parse_ratings(None) is None and parse_ratings(" , ") is None  # not asked (the brief's studio default)
    assert parse_ratings("rated pg-13, g, G") == frozenset({"PG-13", "G"})
    assert MovieFilter.parse(rating="all")._steps() == []  # no rating step: every movie kept
    with pytest.raises(PosterGenreError, match=r"unknown content rating 'PGX'; known ratings: G, PG, PG-13, R"):
        MovieFilter.parse(rating="g,PGX")
    with pytest.raises(PosterGenreError, match=r"unknown content ratings 'PGX', 'zz'"):
        SimilarFilter.parse(rating="PGX, zz")
    assert parse_ratings("pd, g", held=["PD"]) == frozenset({"PD", "G"})  # a rating the catalog holds as written


def test_an_unknown_rating_fails_the_cli_and_the_route(
    small_home: Path, client, catalog_posters, tmp_path: Path
) -> None:
    from postergenre.cli import app as cli_app

    poster = catalog_posters[0]
    (tmp_path / "poster.jpg").write_bytes(poster.data)
    result = CliRunner().invoke(
        cli_app, ["similar", str(tmp_path / "poster.jpg"), "--rating", "PGX", "--home", str(small_home)]
    )
    assert result.exit_code != 0 and "PGX" in str(result.exception) and "known ratings" in str(result.exception)
    answer = client.post(
        "/v1/similar", params={"rating": "PGX"}, files={"file": ("poster.jpg", poster.data, "image/jpeg")}
    )
    assert answer.status_code == 422 and "unknown content rating 'PGX'" in answer.json()["error"], answer.text
    every = client.post(
        "/v1/similar", params={"rating": "all", "k": 3}, files={"file": ("poster.jpg", poster.data, "image/jpeg")}
    )
    assert every.status_code == 200 and len(every.json()["titles"]) == 3, every.text
