"""The service's upload cap is the one constant in posters.caps, served by GET /v1/rules in bytes and in the words the
page shows (the page holds no number or wording of its own; tests/service/test_browser.py reads it there)."""

from __future__ import annotations

import httpx
import pytest

from postergenre.posters import caps


@pytest.mark.parametrize("limit", [2_000_000, 10_500_000])
def test_the_service_serves_its_cap_in_bytes_and_in_words(predictor, small_home, serve, limit: int) -> None:
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    app = create_app(ServiceSettings(home=small_home, max_upload_bytes=limit), predictor=predictor)
    with serve(app) as running:
        limits = httpx.get(running.url + "/v1/rules", timeout=30).json()["limits"]
        big = httpx.post(
            running.url + "/v1/predict", files={"file": ("big.jpg", b"\xff\xd8\xff" + b"\0" * limit)}, timeout=60
        )
    assert limits["upload_max_bytes"] == limit and limits["upload_max_text"] == caps.megabytes(limit)
    assert big.status_code == 413 and caps.megabytes(limit) in big.json()["error"]
