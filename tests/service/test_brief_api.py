"""POST /v1/brief on a real server (127.0.0.1) over the studio home: JSON, HTML, limits and specific errors."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

pytestmark = pytest.mark.slow  # the studio home and the heatmaps take a while

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."


@pytest.fixture(scope="module")
def brief_client(predictor, studio_home: Path, serve, upload_limit: int) -> Iterator[httpx.Client]:
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    app = create_app(ServiceSettings(home=studio_home, max_upload_bytes=upload_limit), predictor=predictor)
    with serve(app) as running, httpx.Client(base_url=running.url, timeout=180) as client:
        yield client


@pytest.fixture(scope="module")
def variants(shared_data: Path) -> list[tuple[str, bytes]]:
    paths = sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))[100:107]
    return [(p.name, p.read_bytes()) for p in paths]


def _files(variants: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("posters", (name, data, "image/jpeg")) for name, data in variants]


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] and "Traceback" not in body["error"]
    return body["error"]


def test_brief_json_and_html(brief_client: httpx.Client, variants) -> None:
    form = {"synopsis": SYNOPSIS, "intended": "family, comedy", "title": "Home Alone"}
    response = brief_client.post("/v1/brief", files=_files(variants[:2]), data=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["targets"] == ["Family", "Comedy"] and body["title"] == "Home Alone"
    assert sorted(v["name"] for v in body["variants"]) == sorted(n for n, _ in variants[:2])
    assert body["recommendation"]["label"] == body["variants"][0]["label"]
    assert body["story"]["genres"] and body["audiences"]["available"]
    assert all(t["rating"] in body["audiences"]["ratings"] for g in body["audiences"]["groups"] for t in g["titles"])

    page = brief_client.post("/v1/brief", params={"format": "html"}, files=_files(variants[:2]), data=form)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'filename="campaign-brief.html"' in page.headers["content-disposition"]
    assert "Campaign brief: Home Alone" in page.text and page.text.count('class="poster"') == 2


def test_brief_of_one_and_six_variants_and_the_limit(brief_client: httpx.Client, variants) -> None:
    one = brief_client.post("/v1/brief", files=_files(variants[:1])).json()
    assert len(one["variants"]) == 1 and one["target_source"] == "none"
    six = brief_client.post("/v1/brief", files=_files(variants[:6]), data={"intended": "Family"}).json()
    assert [v["rank"] for v in six["variants"]] == [1, 2, 3, 4, 5, 6]
    message = _error(brief_client.post("/v1/brief", files=_files(variants[:7])), 400)
    assert "Maximum number of files is 6" in message


def test_brief_errors_are_specific(brief_client: httpx.Client, variants) -> None:
    message = _error(
        brief_client.post("/v1/brief", files=_files(variants[:1]), data={"intended": "Family,Cartoon"}), 422
    )
    assert "unknown genre 'Cartoon'" in message
    other = [("files", ("a.jpg", b"x", "image/jpeg"))]  # multipart, but not under 'posters'
    assert "no files named 'posters'" in _error(brief_client.post("/v1/brief", files=other), 422)
    assert "multipart/form-data" in _error(brief_client.post("/v1/brief", json={"posters": []}), 415)
    text = [("posters", ("notes.jpg", b"just some text", "image/jpeg"))]
    assert "notes.jpg" in _error(brief_client.post("/v1/brief", files=text), 422)
    assert "format" in _error(brief_client.post("/v1/brief", params={"format": "pdf"}, files=_files(variants[:1])), 422)


def test_brief_takes_the_film_from_the_catalog(brief_client: httpx.Client, variants, studio_home: Path) -> None:
    """A `film` field names the film in the service's catalog: its title, plot (the story) and catalogued genres,
    which no variant is said to "promise" against the story."""
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths

    film = variants[0][0].removesuffix(".jpg")  # the studio's posters are named by their film's id
    with Catalog(get_paths(studio_home).db) as catalog:
        movie = catalog.get_movie(film)
    assert movie is not None and movie.plot
    body = brief_client.post("/v1/brief", files=_files(variants[:2]), data={"film": film}).json()
    assert body["film"] == {"imdb_id": film, "title": movie.title, "genres": list(movie.genres)}
    assert body["title"] == movie.title and body["story"]["from_catalog"]
    assert all(not set(v["over_promised"]) & set(movie.genres) for v in body["variants"])
    message = _error(brief_client.post("/v1/brief", files=_files(variants[:1]), data={"film": "tt9999998"}), 422)
    assert "film tt9999998 is not in the catalog" in message


def test_brief_takes_the_ratings_the_catalog_holds_in_the_canonical_order(brief_client: httpx.Client, variants) -> None:
    """The page offers every rating the catalog holds ("PD" in the studio's catalog): ticking it must not 422, as
    /v1/similar takes it; the brief lists the asked ratings in the canonical order, not a set's."""
    form = {"intended": "Family", "rating": "PD, pg-13, g, tv-14, pg"}
    response = brief_client.post("/v1/brief", files=_files(variants[:1]), data=form)
    assert response.status_code == 200, response.text
    assert response.json()["audiences"]["ratings"] == ["G", "PG", "PG-13", "TV-14", "PD"]
    assert "unknown content rating 'PGX'" in _error(
        brief_client.post("/v1/brief", files=_files(variants[:1]), data={"rating": "PD,PGX"}), 422
    )


def test_a_non_poster_is_flagged_in_the_brief(brief_client: httpx.Client, variants) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 600), (128, 128, 128)).save(buffer, format="PNG")
    files = [("posters", ("flat.png", buffer.getvalue(), "image/png")), *_files(variants[:1])]
    body = brief_client.post("/v1/brief", files=files, data={"intended": "Family"}).json()
    flat = next(v for v in body["variants"] if v["name"] == "flat.png")
    assert not flat["is_poster"] and flat["rank"] == 2 and body["recommendation"]["name"] != "flat.png"


def test_filters_list_every_rating_and_default_to_the_studio_ones(
    brief_client: httpx.Client, studio_home: Path
) -> None:
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths

    with Catalog(get_paths(studio_home).db) as catalog:
        held = {m.content_rating for m in catalog.movies() if m.content_rating}
    filters = brief_client.get("/v1/filters").json()
    assert set(filters["ratings"]) == held  # R too, though no R title has a poster here
    assert filters["default_ratings"] and set(filters["default_ratings"]) < held
    assert "studio" in filters["ratings_note"]


_PROBE = """
import json, socket, sys, threading, time
import httpx, uvicorn
from pathlib import Path
from postergenre.service import ServiceSettings
from postergenre.service.app import create_app

model, home, posters = Path(sys.argv[1]), Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
heavy = ("torch", "sklearn.feature_extraction.text")
seen = {}
sock = socket.socket(); sock.bind(("127.0.0.1", 0))
server = uvicorn.Server(uvicorn.Config(create_app(ServiceSettings(model_dir=model, home=home)), log_level="warning",
                                       lifespan="on"))
threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
while not server.started:
    time.sleep(0.05)
with httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=300) as client:
    seen["filters"] = client.get("/v1/filters").json()
    seen["started"] = [m for m in heavy if m in sys.modules]
    files = [("posters", (p.name, p.read_bytes(), "image/jpeg")) for p in posters]
    body = client.post("/v1/brief", files=files, data={"intended": "Family"}).json()
    seen["groups"] = body["audiences"]["groups"]
    seen["after_json"] = [m for m in heavy if m in sys.modules]
    page = client.post("/v1/brief", params={"format": "html"}, files=files, data={"intended": "Family"})
    seen["html_heatmaps"] = page.text.count("<figcaption>Family</figcaption>")
    seen["after_html"] = [m for m in heavy if m in sys.modules]
server.should_exit = True
print(json.dumps(seen))
"""


def test_service_starts_without_fitting_keywords_and_json_briefs_load_no_torch(
    predictor, studio_home: Path, shared_data: Path
) -> None:
    """Startup reads the catalog's ratings only (the plot keywords are fitted by the first brief); a JSON brief
    draws no heatmaps, so the PyTorch backbone is loaded only by the first HTML brief."""
    import subprocess
    import sys

    from postergenre.predict.predictor import Predictor

    Predictor.load(predictor.model_dir, home=studio_home)  # the home's ONNX graph, whose first export needs torch
    posters = sorted((shared_data / "studio-catalog" / "posters").glob("tt*.jpg"))[100:102]
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(predictor.model_dir), str(studio_home), *map(str, posters)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["filters"]["ratings"] and seen["filters"]["default_ratings"]  # the ratings are read at startup
    assert seen["started"] == []  # ... without scikit-learn's TF-IDF or torch
    assert seen["groups"] and any(g["keywords_from"] for g in seen["groups"])  # the first brief fitted them
    assert seen["after_json"] == ["sklearn.feature_extraction.text"]  # and drew no heatmap
    assert seen["html_heatmaps"] == 2 and "torch" in seen["after_html"]
