"""Repeated multipart form fields on a real server (127.0.0.1): list fields merge, every other field sent twice is
refused with 422 naming it, on every multipart endpoint (before, the last value silently won)."""

from __future__ import annotations

import httpx
import pytest

SYNOPSIS = "A boy left home alone at Christmas defends the house against two burglars with homemade traps."


def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["error"] == f"form field '{field}' was sent 2 times; it takes one value"


@pytest.fixture()
def two(catalog_posters) -> list[tuple[str, bytes]]:
    return [(f"{p.imdb_id}.jpg", p.data) for p in catalog_posters[:2]]


def _files(key: str, posters: list[tuple[str, bytes]]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [(key, (name, data, "image/jpeg")) for name, data in posters]


def test_brief_merges_intended_and_refuses_a_second_title(client: httpx.Client, two) -> None:
    merged = client.post(
        "/v1/brief", files=[*_files("posters", two[:1]), ("intended", (None, "Family")), ("intended", (None, "Comedy"))]
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["targets"] == ["Family", "Comedy"] and merged.json()["target_source"] == "intended"

    for field, values in (("title", ("A", "B")), ("synopsis", (SYNOPSIS, "Another story.")), ("rating", ("G", "PG"))):
        response = client.post("/v1/brief", files=[*_files("posters", two[:1]), *((field, (None, v)) for v in values)])
        _refused(response, field)


def test_compare_merges_targets_and_refuses_repeated_single_fields(client: httpx.Client, two) -> None:
    merged = client.post(
        "/v1/compare",
        files=[
            *_files("files", two),
            ("targets", (None, "Family")),
            ("targets", (None, "Comedy")),
            ("heatmaps", (None, "false")),
        ],
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["targets"] == ["Family", "Comedy"]

    for path in ("/v1/compare", "/v1/compare/sheet"):
        for field, values in (("synopsis", (SYNOPSIS, SYNOPSIS)), ("heatmaps", ("false", "true"))):
            response = client.post(
                path,
                files=[*_files("files", two), ("targets", (None, "Family")), *((field, (None, v)) for v in values)],
            )
            _refused(response, field)


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/similar"])
def test_one_poster_endpoints_refuse_a_second_file_or_synopsis(client: httpx.Client, two, path: str) -> None:
    _refused(client.post(path, files=_files("file", two)), "file")
    response = client.post(
        path, files=[*_files("file", two[:1]), ("synopsis", (None, SYNOPSIS)), ("synopsis", (None, SYNOPSIS))]
    )
    _refused(response, "synopsis")
    assert client.post(path, files=[*_files("file", two[:1]), ("synopsis", (None, SYNOPSIS))]).status_code == 200
