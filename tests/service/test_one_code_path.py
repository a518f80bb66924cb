"""The CLI, the Python API and the service give the same answers for the same posters: one code path.

Genres and probabilities, decided sets, the plain-words summary, which genres get heatmaps, and the compare
ranking are compared field by field across the three interfaces (the service on a real uvicorn server, the CLI
through its real entry point).
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

READING_FIELDS = ("decided", "summary", "signal", "poster_check")


@pytest.fixture(scope="module")
def service(predictor, small_home: Path, serve):
    from postergenre.service import ServiceSettings
    from postergenre.service.app import create_app

    with (
        serve(create_app(ServiceSettings(home=small_home), predictor=predictor)) as running,
        httpx.Client(base_url=running.url, timeout=120) as client,
    ):
        yield client


@pytest.fixture()
def poster_files(catalog_posters, tmp_path: Path) -> list[Path]:
    paths = []
    for i, poster in enumerate(catalog_posters[:3]):
        paths.append(tmp_path / f"variant{i}.jpg")
        paths[-1].write_bytes(poster.data)
    return paths


def test_predict_is_the_same_everywhere(predictor, service, run_cli, poster_files: list[Path], tmp_path: Path) -> None:
    code, out, err = run_cli(
        "predict",
        *poster_files,
        "--format",
        "json",
        "--explain",
        "--explain-dir",
        tmp_path / "heat",
        "--model",
        predictor.model_dir,
    )
    assert code == 0, err
    for path, from_cli in zip(poster_files, json.loads(out), strict=True):
        api = predictor.predict(path, heatmaps=True)
        http = service.post(
            "/v1/predict", params={"explain": "true"}, files={"file": (path.name, path.read_bytes(), "image/jpeg")}
        ).json()
        expected = api.to_dict()
        for name, body in (("cli", from_cli), ("service", http)):
            for field in READING_FIELDS:
                assert body[field] == expected[field], (name, field)
            assert list(body["probabilities"]) == list(api.probabilities), name
            assert list(body["probabilities"].values()) == pytest.approx(list(api.probabilities.values()), abs=1e-5)
        assert [h["genre"] for h in http["heatmaps"]] == list(api.heatmaps)
        assert [Path(f).name for f in from_cli["heatmap_files"]] == [f"{path.stem}.{g}.png" for g in api.heatmaps]


def test_compare_ranks_the_same_everywhere(predictor, service, run_cli, poster_files: list[Path]) -> None:
    target = predictor.predict(poster_files[0]).decided[0]
    code, out, err = run_cli(
        "compare", *poster_files, "--target", target, "--format", "json", "--model", predictor.model_dir
    )
    assert code == 0, err
    cli = json.loads(out)
    api = predictor.compare(poster_files, target)
    files = [("files", (p.name, p.read_bytes(), "image/jpeg")) for p in poster_files]
    http = service.post("/v1/compare", files=files, data={"targets": target, "heatmaps": "false"}).json()
    ranking = [poster_files[v.index].name for v in api.variants]
    assert [Path(v["source"]).name for v in cli["variants"]] == ranking
    assert [v["source"] for v in http["variants"]] == ranking
    for body in (cli, http):
        assert [v["target_score"] for v in body["variants"]] == pytest.approx([v.score for v in api.variants], abs=1e-5)
        assert [v["targets_decided"] for v in body["variants"]] == [v.targets_decided for v in api.variants]
        assert body["scoring"] == api.to_dict()["scoring"]
