"""POST /v1/predict with only a synopsis (before a poster exists), on a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import pytest

PLOT = "A young lion prince flees his kingdom after his father's murder, and must grow up to reclaim his place."


@pytest.fixture(autouse=True)
def _needs_synopsis(predictor):
    if not predictor.has_synopsis:
        pytest.skip("the model under test has no synopsis head")


def test_a_synopsis_alone_is_read_as_multipart_and_as_json(client, predictor):
    expected = predictor.read_synopsis(PLOT).to_dict()
    for kwargs in ({"files": {"synopsis": (None, PLOT)}}, {"json": {"synopsis": PLOT}}):
        response = client.post("/v1/predict", **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["signal"] == "synopsis" and body["source"] == "synopsis"
        assert body["summary"]["text"].startswith("From the synopsis only: reads as")
        assert body["decided"] == expected["decided"]
        assert body["probabilities"] == pytest.approx(expected["probabilities"], abs=1e-6)
        assert "poster_check" not in body and body["heatmaps"] == []


def test_synopsis_alone_honours_overrides(client):
    body = client.post("/v1/predict?top_k=2", json={"synopsis": PLOT}).json()
    assert len(body["decided"]) == 2 and body["decided"] == list(body["probabilities"])[:2]


@pytest.mark.parametrize("kwargs", [{"files": {"synopsis": (None, "   ")}}, {"json": {"synopsis": ""}}, {"json": {}}])
def test_neither_poster_nor_synopsis_is_422_in_plain_words(client, kwargs):
    response = client.post("/v1/predict", **kwargs)
    assert response.status_code == 422, response.text
    assert "synopsis" in response.json()["error"]


def test_similar_still_needs_a_poster(client):
    response = client.post("/v1/similar", json={"synopsis": PLOT})
    assert response.status_code == 422
    assert "url" in response.json()["error"]
