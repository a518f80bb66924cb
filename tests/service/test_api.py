"""The HTTP API on a real uvicorn server: every endpoint, and every kind of bad input."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import re
import struct
import threading
import zlib

import httpx
import numpy as np
import pytest
from PIL import Image

from postergenre.service.routers.info import STATIC


def _upload(poster, name: str = "poster.jpg") -> dict:
    return {"files": {"file": (name, poster.data, "image/jpeg")}}


def _png(width: int, height: int, rows: int = 4) -> bytes:
    """A PNG whose header declares width×height pixels, with pixel data for only `rows` rows."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    pixels = zlib.compress(b"\x00" * (width + 1) * rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) in ({"error"}, {"error", "message"}) and body["error"], body  # message: plain words
    assert "Traceback" not in body["error"]
    return body["error"]


# -- read-only endpoints --------------------------------------------------------------------------


def test_healthz(client, predictor):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["genres"] == len(predictor.genres)
    assert body["similar_available"] is True


def test_genres_lists_model_genres_with_thresholds(client, predictor):
    genres = client.get("/v1/genres").json()["genres"]
    assert [g["genre"] for g in genres] == predictor.genres
    assert all(0 < g["threshold"] < 1 for g in genres)
    assert {g["genre"]: g["threshold"] for g in genres} == pytest.approx(predictor.thresholds)


def test_model_card_and_metrics(client, predictor):
    body = client.get("/v1/model").json()
    assert body["backbone"] == predictor.artifact.backbone
    assert body["genres"] == predictor.genres
    assert body["card_markdown"].strip() and body["card_markdown"] != "(this model has no card)"
    assert body["metrics"], "the artifact's cross-validated metrics are reported"


def test_page_and_static_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert 'id="file-input"' in page.text
    assert client.get("/static/style.css").status_code == 200
    # The script is ES modules: the entry point and every module it imports, served as JavaScript (a module with
    # another content type does not run).
    assert '<script type="module" src="/static/main.js">' in page.text
    seen, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        seen.add(name)
        module = client.get(f"/static/{name}")
        assert module.status_code == 200 and "javascript" in module.headers["content-type"], name
        todo += [m for m in re.findall(r'from "\./([\w-]+\.js)"', module.text) if m not in seen]
    assert {"main.js", "state.js", "api.js", "scale.js", "reading.js", "compare.js"} <= seen


def test_the_page_holds_no_rule_of_the_model(client, upload_limit):
    """Issue 25: the page draws what the API decided. Its scripts hold none of the scale's or the limits' numbers
    and rank nothing; GET /v1/rules serves them from model/decisions.py."""
    from postergenre.campaigns.store import MAX_SYNOPSIS_CHARS, MAX_TITLE_CHARS
    from postergenre.model import decisions

    rules = client.get("/v1/rules").json()
    assert rules["scale"] == decisions.rules()["scale"]
    # the page shows these words (posters.caps.megabytes)
    assert rules["limits"] == {
        **decisions.rules()["limits"],
        "upload_max_bytes": upload_limit,
        "campaign_title_max_chars": MAX_TITLE_CHARS,
        "campaign_synopsis_max_chars": MAX_SYNOPSIS_CHARS,
        "upload_max_text": "2 MB",
    }
    assert [level["code"] for level in rules["scale"]["levels"]] == ["reads", "hints", "faint"]
    scripts = {p.name: p.read_text(encoding="utf-8") for p in STATIC.glob("*.js")}
    assert scripts and not (STATIC / "app.js").exists()
    for name, text in scripts.items():
        code = "\n".join(line.split("//")[0] for line in text.splitlines())  # comments may explain the scale
        assert not re.search(r"SCALE_MAX|BRIEF_MAX|\.sort\(", code), name
        for number in (
            decisions.SCALE_MAX,
            decisions.READS_AS,
            decisions.MAX_BRIEF_VARIANTS,
            decisions.MAX_COMPARE_VARIANTS,
            decisions.LINE_FRACTION,
            MAX_TITLE_CHARS,
            MAX_SYNOPSIS_CHARS,
        ):
            assert not re.search(rf"(?<![\w.]){re.escape(repr(number))}(?![\w.])", code), (name, number)


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    assert {
        "/v1/predict",
        "/v1/similar",
        "/v1/compare",
        "/v1/genres",
        "/v1/model",
        "/v1/posters/{sha256}",
        "/healthz",
    } <= set(spec["paths"])
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "application/json"} <= set(body)
    assert client.get("/docs").status_code == 200


# -- predict --------------------------------------------------------------------------------------


def test_predict_upload_matches_the_predictor(client, predictor, catalog_posters):
    poster = catalog_posters[0]
    body = client.post("/v1/predict", **_upload(poster, "my poster.jpg")).json()
    direct = predictor.predict(poster.data)
    assert body["source"] == "my poster.jpg"
    assert list(body["probabilities"]) == list(direct.probabilities)  # ranked, all genres
    assert list(body["probabilities"].values()) == pytest.approx(list(direct.probabilities.values()), abs=1e-5)
    assert body["decided"] == direct.decided and body["summary"] == direct.summary
    assert body["thresholds"] == pytest.approx(predictor.thresholds, abs=1e-6)
    assert body["strength"] == pytest.approx(
        {g: p / predictor.thresholds[g] for g, p in body["probabilities"].items()}, rel=1e-4
    )
    assert body["poster_check"]["is_poster"] is True and body["signal"] == "poster"
    assert "poster_probabilities" not in body and "synopsis_probabilities" not in body
    assert body["heatmaps"] == []


def test_predict_threshold_and_top_k_overrides(client, catalog_posters):
    poster = catalog_posters[0]
    ranked = list(client.post("/v1/predict", **_upload(poster)).json()["probabilities"])
    top2 = client.post("/v1/predict", params={"top_k": 2}, **_upload(poster)).json()
    assert top2["decided"] == ranked[:2]
    everything = client.post("/v1/predict", params={"threshold": 0.0, "top_k": 3}, **_upload(poster)).json()
    assert everything["decided"] == ranked[:3]
    assert set(everything["thresholds"].values()) == {0.0}
    message = _error(client.post("/v1/predict", params={"threshold": 2}, **_upload(poster)), 422)
    assert "threshold" in message


def test_predict_explain_returns_poster_shaped_heatmaps(client, catalog_posters, predictor):
    poster = catalog_posters[0]
    body = client.post("/v1/predict", params={"explain": "true"}, **_upload(poster)).json()
    # the one rule, as in the CLI: the decided genres in the reading's order (strongest first), at most 3
    assert [h["genre"] for h in body["heatmaps"]] == [g for g in body["levels"] if g in body["decided"]][:3]
    anyone = predictor.genres[-1]
    asked = client.post("/v1/predict", params={"heatmaps": anyone.lower()}, **_upload(poster)).json()
    assert [h["genre"] for h in asked["heatmaps"]] == [anyone]  # any genre on demand
    width, height = Image.open(io.BytesIO(poster.data)).size
    for heat in body["heatmaps"]:
        assert heat["png"].startswith("data:image/png;base64,")
        image = Image.open(io.BytesIO(base64.b64decode(heat["png"].split(",", 1)[1])))
        assert image.mode == "RGBA"
        assert image.width / image.height == pytest.approx(width / height, rel=0.05)
        alpha = np.asarray(image)[..., 3]
        assert alpha.max() > alpha.min(), "the heatmap marks some areas more than others"


# -- similar and posters ---------------------------------------------------------------------------


def test_similar_titles_link_to_served_posters(client, catalog_posters, small_home):
    poster = catalog_posters[0]
    body = client.post("/v1/similar", params={"k": 5}, **_upload(poster)).json()
    titles = body["titles"]
    assert len(titles) == 5
    assert poster.imdb_id not in {t["imdb_id"] for t in titles}, "the uploaded catalog poster is not its own neighbour"
    scores = [t["similarity"] for t in titles]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert all(t["genres"] for t in titles)
    image = client.get(titles[0]["poster_url"])
    assert image.status_code == 200 and image.headers["content-type"].startswith("image/")
    assert Image.open(io.BytesIO(image.content)).size[0] > 0
    assert "immutable" in image.headers["cache-control"]


def test_poster_by_sha_serves_the_stored_bytes(client, catalog_posters):
    poster = catalog_posters[1]
    response = client.get(f"/v1/posters/{poster.sha256}")
    assert response.status_code == 200 and response.content == poster.data
    assert response.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("bad", ["xyz", "A" * 64, "0" * 63, "0" * 64 + ".jpg"])
def test_poster_name_that_is_not_a_sha256_is_422(client, bad):
    message = _error(client.get(f"/v1/posters/{bad}"), 422)
    assert message == "path parameter 'sha256': String should match pattern '^[0-9a-f]{64}$'"


@pytest.mark.parametrize("bad", ["..%2Fcatalog.sqlite", "..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2Fcatalog.sqlite"])
def test_poster_path_traversal_reaches_no_file(client, bad, small_home):
    """An encoded slash makes the path another route, which does not exist: 404, and no file's bytes."""
    response = client.get(f"/v1/posters/{bad}")
    assert _error(response, 404) == "Not Found"
    assert response.headers["content-type"] == "application/json" and b"SQLite format" not in response.content


def test_poster_unknown_sha_is_404(client):
    message = _error(client.get("/v1/posters/" + "0" * 64), 404)
    assert "0" * 64 in message


# -- compare --------------------------------------------------------------------------------------


def test_compare_ranks_variants_against_targets(client, catalog_posters, predictor):
    a, b, c = catalog_posters[:3]
    targets = predictor.genres[:2]
    files = [
        ("files", ("a.jpg", a.data, "image/jpeg")),
        ("files", ("b.jpg", b.data, "image/jpeg")),
        ("files", ("c.jpg", c.data, "image/jpeg")),
    ]
    body = client.post("/v1/compare", files=files, data={"targets": ",".join(t.lower() for t in targets)}).json()
    assert body["targets"] == targets  # case-insensitive names become the model's spelling
    variants = body["variants"]
    assert [v["rank"] for v in variants] == [1, 2, 3]
    assert sorted(v["index"] for v in variants) == [0, 1, 2]
    assert [v["source"] for v in variants] == [["a.jpg", "b.jpg", "c.jpg"][v["index"]] for v in variants]
    # The ranking rule: posters before non-posters, fewest missed targets, fewest other genres read as, the score.
    keys = [
        (
            not v["prediction"]["poster_check"]["is_poster"],
            len(targets) - len(v["targets_decided"]),
            len(v["also_reads_as"]),
            -v["target_score"],
        )
        for v in variants
    ]
    assert keys == sorted(keys)
    # One sentence names the variant ranked first and the step that decided; the arithmetic stays in `scoring`.
    assert body["reason"] and body["decided_by"] in ("poster", "missed", "unintended", "stronger", "order")
    assert variants[0]["source"] in body["headline"] and "target score" not in body["headline"]
    assert [v["best"] for v in variants] == [i == 0 and v["fits_all_targets"] for i, v in enumerate(variants)]
    for v in variants:
        decided = set(v["prediction"]["decided"])
        assert v["fits_all_targets"] == (set(targets) <= decided and v["prediction"]["poster_check"]["is_poster"])
        assert [x["decided"] for x in v["verdicts"]] == [t in decided for t in targets]
        assert set(v["unintended"]) == decided - set(targets)
        strength = v["prediction"]["strength"]
        assert v["also_reads_as"] == sorted(
            (g for g in v["unintended"] if strength[g] >= 1.5), key=lambda g: -strength[g]
        )
        assert [h["genre"] for h in v["heatmaps"]] == targets  # heatmaps of the target genres
        assert set(v["target_probabilities"]) == set(targets)
    best = predictor.predict([a, b, c][variants[0]["index"]].data)
    assert variants[0]["target_probabilities"][targets[0]] == pytest.approx(best.probabilities[targets[0]], abs=1e-5)


def test_compare_unknown_target_genre(client, catalog_posters, predictor):
    files = [
        ("files", ("a.jpg", catalog_posters[0].data, "image/jpeg")),
        ("files", ("b.jpg", catalog_posters[1].data, "image/jpeg")),
    ]
    message = _error(client.post("/v1/compare", files=files, data={"targets": f"{predictor.genres[0]},Spaghetti"}), 422)
    assert "Spaghetti" in message and predictor.genres[0] in message  # names the unknown, lists the known
    _error(client.post("/v1/compare", files=files, data={"targets": " , "}), 422)
    _error(client.post("/v1/compare", files=files), 422)


def test_compare_without_files(client, predictor):
    message = _error(
        client.post("/v1/compare", files={"other": ("x.txt", b"x")}, data={"targets": predictor.genres[0]}), 422
    )
    assert "files" in message


def test_compare_names_the_bad_variant(client, catalog_posters, predictor):
    files = [
        ("files", ("good.jpg", catalog_posters[0].data, "image/jpeg")),
        ("files", ("notes.txt", b"just some text, not a picture", "text/plain")),
    ]
    body = client.post("/v1/compare", files=files, data={"targets": predictor.genres[0]}).json()
    assert [v["source"] for v in body["variants"]] == ["good.jpg"]  # the readable one is still ranked
    (failure,) = body["failures"]
    assert failure["source"] == "notes.txt" and "notes.txt" in failure["error"] and "not an image" in failure["error"]


def test_compare_sheet_downloads_the_cli_sheet(client, catalog_posters, predictor):
    files = [("files", (f"v{i}.jpg", p.data, "image/jpeg")) for i, p in enumerate(catalog_posters[:2])]
    response = client.post("/v1/compare/sheet", files=files, data={"targets": predictor.genres[0]})
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    assert response.text.startswith("<!doctype html>") and response.text.count('class="poster"') == 2
    assert "Target score" in response.text


# -- bad uploads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["/v1/predict", "/v1/similar"])
def test_non_image_upload_is_415(client, endpoint):
    message = _error(
        client.post(endpoint, files={"file": ("resume.pdf", b"%PDF-1.4 this is not a poster", "application/pdf")}), 415
    )
    assert "resume.pdf" in message and "not an image" in message


def test_empty_upload_is_415(client):
    message = _error(client.post("/v1/predict", files={"file": ("empty.jpg", b"", "image/jpeg")}), 415)
    assert message == "empty.jpg: not an image (empty file)"


def test_truncated_jpeg_is_422(client, catalog_posters):
    data = catalog_posters[0].data
    message = _error(client.post("/v1/predict", files={"file": ("cut.jpg", data[: len(data) // 2], "image/jpeg")}), 422)
    assert "cut.jpg" in message and "truncated" in message


def test_decompression_bomb_is_refused(client):
    bomb = _png(20_000, 20_000)  # 400 megapixels declared in a file of a few hundred bytes
    assert len(bomb) < 1_000
    message = _error(client.post("/v1/predict", files={"file": ("bomb.png", bomb, "image/png")}), 422)
    assert "bomb.png" in message and "too large" in message
    # Below Pillow's own guard but above ours: refused from the header, before decoding.
    message = _error(client.post("/v1/predict", files={"file": ("big.png", _png(8_000, 6_000), "image/png")}), 422)
    assert "too large" in message


def test_tiny_image_is_422(client):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    message = _error(client.post("/v1/predict", files={"file": ("dot.png", buffer.getvalue(), "image/png")}), 422)
    assert "too small" in message


def test_upload_over_the_limit_is_413(client, upload_limit):
    big = b"\xff\xd8\xff" + b"\x00" * (upload_limit + 10_000)
    message = _error(client.post("/v1/predict", files={"file": ("huge.jpg", big, "image/jpeg")}), 413)
    assert "limit" in message


def test_chunked_upload_over_the_limit_is_cut_off_while_reading(client, upload_limit, caplog):
    """No Content-Length: the server counts bytes as they arrive and stops at the limit. Whether the client sees
    the 413 or a closed connection (the server may close before the client stops sending), the server answered 413
    (its access log says so: a crash would log 500 or nothing) and still serves."""
    boundary = "----postergenre"

    def body():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="endless.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        yield head
        chunk = b"\x00" * 65536
        for _ in range(upload_limit * 3 // len(chunk)):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    response = None
    with caplog.at_level(logging.INFO, logger="postergenre.service.access"):
        # The server may answer and close before we finished sending.
        with contextlib.suppress(httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError):
            response = client.post(
                "/v1/predict", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
        with httpx.Client(base_url=str(client.base_url), timeout=30) as fresh:
            assert fresh.get("/healthz").status_code == 200
    if response is not None:
        assert "limit" in _error(response, 413)
    logged = [json.loads(r.getMessage()) for r in caplog.records if r.name == "postergenre.service.access"]
    assert [(e["method"], e["path"], e["status"]) for e in logged][:1] == [("POST", "/v1/predict", 413)]


def test_multipart_without_file_field(client):
    message = _error(client.post("/v1/predict", files={"image": ("p.jpg", b"abc", "image/jpeg")}), 422)
    assert "'file'" in message


def test_wrong_content_type_is_415(client):
    message = _error(client.post("/v1/predict", content=b"hello", headers={"Content-Type": "text/plain"}), 415)
    assert "multipart/form-data" in message


@pytest.mark.parametrize("payload", [b"{}", b"not json", b'{"url": 5}', b"[]"])
def test_bad_json_body_is_422(client, payload):
    message = _error(client.post("/v1/predict", content=payload, headers={"Content-Type": "application/json"}), 422)
    assert "url" in message


# -- URLs (SSRF guard) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/v1/posters/{sha}",
        "http://localhost:{port}/v1/posters/{sha}",
        "http://10.0.0.7/poster.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
        "ftp://example.com/poster.jpg",
    ],
)
def test_url_to_private_or_non_http_target_is_refused(client, server, catalog_posters, url):
    url = url.format(port=server.url.rsplit(":", 1)[1], sha=catalog_posters[0].sha256)
    # The first two point at a poster this very server serves: only the guard stops the fetch.
    response = client.post("/v1/predict", json={"url": url})
    message = _error(response, 422)
    assert url in message  # the technical reason stays in the API's `error`
    plain = response.json()["message"]  # what the page shows a marketer
    assert "could not be downloaded" in plain and "address" in plain
    assert not any(w in plain for w in ("non-public", "169.254", "loopback", "link-local", "reserved"))


def test_url_is_fetched_when_private_hosts_are_allowed(predictor, small_home, catalog_posters, server, serve):
    """The same loopback URL the guard refuses works on a service started with allow_private_urls."""
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    poster = catalog_posters[0]
    url = f"{server.url}/v1/posters/{poster.sha256}"
    with (
        serve(create_app(ServiceSettings(home=small_home, allow_private_urls=True), predictor=predictor)) as trusting,
        httpx.Client(base_url=trusting.url, timeout=60) as c,
    ):
        body = c.post("/v1/predict", json={"url": url}).json()
        assert body["source"] == url
        assert body["decided"] == predictor.predict(poster.data).decided
        similar = c.post("/v1/similar", json={"url": url}, params={"k": 3}).json()
        assert len(similar["titles"]) == 3 and poster.imdb_id not in {t["imdb_id"] for t in similar["titles"]}
        message = _error(c.post("/v1/predict", json={"url": f"{server.url}/openapi.json"}), 422)
        assert "openapi.json" in message  # a page that is not an image is still refused, naming the URL


def test_unresolvable_url_is_422(client):
    message = _error(client.post("/v1/similar", json={"url": "http://no-such-host.invalid/poster.jpg"}), 422)
    assert "no-such-host.invalid" in message and "could not be found" in message and "Errno" not in message


# -- operations -----------------------------------------------------------------------------------


def test_one_json_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="postergenre.service.access"):
        client.get("/healthz")
        client.get("/v1/posters/nope")
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "postergenre.service.access"]
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("GET", "/healthz", 200),
        ("GET", "/v1/posters/nope", 422),
    ]
    assert all(isinstance(e["ms"], float) and e["ms"] >= 0 for e in lines)


def test_saturated_service_answers_503_with_retry_after(predictor, small_home, catalog_posters, serve):
    """One inference slot and no waiting places: of simultaneous slow (explain) requests, all but one are refused."""
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    app = create_app(ServiceSettings(home=small_home, max_concurrency=1, max_waiting=0), predictor=predictor)
    results: list[httpx.Response] = []
    start = threading.Barrier(6)

    def call(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            start.wait()
            results.append(c.post("/v1/predict", params={"explain": "true"}, **_upload(catalog_posters[0])))

    with serve(app) as running:
        threads = [threading.Thread(target=call, args=(running.url,)) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == len(threads), "a request got no answer (transport error: did the server crash?)"
        statuses = sorted(r.status_code for r in results)
        assert 200 in statuses and 503 in statuses, statuses
        assert set(statuses) == {200, 503}
        refused = next(r for r in results if r.status_code == 503)
        assert int(refused.headers["Retry-After"]) >= 1
        assert "busy" in refused.json()["error"]
        # Once the burst is over the service answers again: nothing stays stuck.
        with httpx.Client(base_url=running.url, timeout=60) as c:
            assert c.post("/v1/predict", **_upload(catalog_posters[0])).status_code == 200
