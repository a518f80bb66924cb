"""The Predictor on real posters: inputs of every type, decisions, overrides, failures, poster check, heatmaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from postergenre.errors import PosterGenreError
from postergenre.predict.results import PosterFailure, PosterPrediction


def test_path_bytes_and_image_give_the_same_prediction(predictor, three_posters: list[Path]) -> None:
    path = three_posters[0]
    by_path = predictor.predict(path)
    by_bytes = predictor.predict(path.read_bytes())
    by_image = predictor.predict(Image.open(path))

    assert list(by_path.probabilities) == list(by_bytes.probabilities)
    for g, p in by_path.probabilities.items():
        assert by_bytes.probabilities[g] == pytest.approx(p, abs=1e-6)
        assert by_image.probabilities[g] == pytest.approx(p, abs=1e-4)
    probs = list(by_path.probabilities.values())
    assert probs == sorted(probs, reverse=True) and all(0.0 <= p <= 1.0 for p in probs)
    assert set(by_path.probabilities) == set(predictor.genres)
    # decided: thresholds with a top-1 fallback, most probable first
    expected = [g for g, p in by_path.probabilities.items() if p >= by_path.thresholds[g]] or list(
        by_path.probabilities
    )[:1]
    assert by_path.decided == expected
    assert by_path.sha256 == by_bytes.sha256 and by_path.size == Image.open(path).size
    d = by_path.to_dict()
    assert "embedding" not in d and d["source"] == str(path) and d["decided"] == by_path.decided


def test_threshold_and_top_k_overrides(predictor, three_posters: list[Path]) -> None:
    base = predictor.predict(three_posters[0])
    ranked = list(base.probabilities)
    assert predictor.predict(three_posters[0], top_k=3).decided == ranked[:3]
    everything = predictor.predict(three_posters[0], threshold=0.0)
    assert everything.decided == ranked and set(everything.thresholds.values()) == {0.0}
    assert predictor.predict(three_posters[0], threshold=0.0, top_k=2).decided == ranked[:2]
    assert predictor.predict(three_posters[0], threshold=1.0).decided == ranked[:1]  # top-1 fallback
    with pytest.raises(PosterGenreError, match="top_k"):
        predictor.predict(three_posters[0], top_k=0)


def test_predict_many_batches_and_keeps_going_past_failures(
    predictor, three_posters: list[Path], tmp_path: Path
) -> None:
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    inputs = [three_posters[0], not_image, three_posters[1], tmp_path / "missing.jpg", three_posters[2]]

    results = predictor.predict_many(inputs, batch_size=2)

    assert [r.ok for r in results] == [True, False, True, False, True]
    assert (
        isinstance(results[1], PosterFailure) and "notes.jpg" in results[1].error and "not an image" in results[1].error
    )
    assert "missing.jpg" in results[3].error
    single = predictor.predict(three_posters[2])
    assert isinstance(results[4], PosterPrediction)
    for g, p in single.probabilities.items():  # batching does not change the numbers
        assert results[4].probabilities[g] == pytest.approx(p, abs=1e-4)
    assert results[1].to_dict() == {"source": str(not_image), "id": None, "error": results[1].error}


def test_poster_check_flags_non_posters(predictor, three_posters: list[Path]) -> None:
    from skimage import data

    grey = Image.new("RGB", (400, 600), (128, 128, 128))
    photo = Image.fromarray(data.chelsea())  # a cat photograph
    flagged = [predictor.predict(x).poster_check for x in (grey, photo)]
    assert all(not c["is_poster"] and "does not look like a movie poster" in c["message"] for c in flagged)
    # Flagged everywhere: the plain-words summary says so too.
    assert predictor.predict(grey).summary["text"].startswith("Does not look like a movie poster")
    real = [predictor.predict(p).poster_check for p in three_posters]
    assert sum(c["is_poster"] for c in real) >= 2
    assert all(c["score"] > r["score"] for c in flagged for r in real if r["is_poster"])


def test_explain_gives_heatmaps_in_the_posters_aspect(predictor, three_posters: list[Path], tmp_path: Path) -> None:
    from postergenre.predict.heatmaps import FILE_MAX_SIDE, write_overlays

    path = three_posters[1]
    image = Image.open(path)
    prediction = predictor.predict(path)
    maps = predictor.explain(path)
    # the one rule: decided genres in the reading's order (strongest first, as the page's bars), at most 3
    assert list(maps) == [g for g in prediction.reading.levels if g in prediction.decided][:3]
    for heat in maps.values():
        # At the network's resolution of the poster (letterbox padding cut away): bounded whatever the input size.
        assert max(heat.shape) <= 320
        assert heat.shape[0] / heat.shape[1] == pytest.approx(image.height / image.width, rel=0.03)
        assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0) and heat.std() > 0.01
    chosen = predictor.explain(path, genres=[predictor.genres[0].lower(), predictor.genres[-1]])
    assert list(chosen) == [predictor.genres[0], predictor.genres[-1]]
    assert not np.allclose(chosen[predictor.genres[0]], chosen[predictor.genres[-1]])
    with pytest.raises(PosterGenreError, match="unknown genre"):
        predictor.explain(path, genres=["Cowboy Opera"])
    files = write_overlays(image.convert("RGB"), maps, tmp_path, "p")
    fitted = image.size if max(image.size) <= FILE_MAX_SIDE else None
    assert all(
        Image.open(f).size == (fitted or Image.open(f).size) and max(Image.open(f).size) <= FILE_MAX_SIDE for f in files
    ) and len(files) == len(maps)


def test_url_inputs_are_fetched(predictor, http_root: tuple[str, Path], three_posters: list[Path]) -> None:
    from postergenre.predict.predictor import Predictor

    base, _ = http_root
    predictor = Predictor(predictor.core, allow_private_urls=True)  # the test server is on 127.0.0.1
    by_url = predictor.predict(f"{base}/poster.jpg")
    local = predictor.predict(three_posters[0])
    assert by_url.decided == local.decided and by_url.sha256 == local.sha256
    (missing, html) = predictor.predict_many([f"{base}/absent.jpg", f"{base}/page.html"])
    assert not missing.ok and "absent.jpg" in missing.error
    assert not html.ok and "page.html" in html.error


def test_predict_path_imports_no_torch_on_the_onnx_runtime(
    model_dir: Path, three_posters: list[Path], tmp_path: Path
) -> None:
    """Loading and predicting on the default runtime (int8) never import torch (nor sklearn), from the first run in a
    data folder on: the graph is the installation's (built by `make install`), not the data folder's."""
    import json
    import subprocess
    import sys

    from postergenre.features.runtime import prepare_installation

    prepare_installation()  # a file check after `make install`
    code = (
        "import json, sys\n"
        "from postergenre.predict.predictor import Predictor\n"
        f"p = Predictor.load({str(model_dir)!r}, home={str(tmp_path)!r})\n"
        f"r = p.predict({str(three_posters[0])!r})\n"
        "print(json.dumps({'runtime': p.core.runtime_name, 'decided': r.decided,\n"
        "                  'loaded': [m for m in ('torch', 'sklearn') if m in sys.modules]}))\n"
    )
    answers = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        answers.append(json.loads(run.stdout.strip().splitlines()[-1]))
    assert answers[0] == answers[1] and answers[0]["runtime"] == "onnx-int8" and answers[0]["loaded"] == []
    assert not (tmp_path / "runtimes").exists()
