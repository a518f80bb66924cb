"""The HTML evaluation report: self-contained, every section present, images embedded and decodable."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from postergenre.labelled.metrics import evaluate_predictions
from postergenre.model.thresholds import choose_thresholds
from postergenre.render.evaluation_report import write_evaluation_report


def test_report_has_sections_and_embedded_images(tmp_path) -> None:
    rng = np.random.default_rng(5)
    genres = ["Drama", "Comedy", "Horror", "Sci-Fi", "<Rare & odd>", "Empty"]
    freq = np.array([0.5, 0.3, 0.1, 0.08, 0.02, 0.0])
    y = (rng.random((500, 6)) < freq).astype(int)
    p = np.clip(freq + 0.3 * (y - 0.5) + rng.normal(0, 0.15, y.shape), 0.001, 0.999)
    result = evaluate_predictions(y, p, choose_thresholds(y, p), genres, bootstrap=100)
    out = write_evaluation_report(
        result, y, p, genres, tmp_path / "sub" / "report.html", title="CV & test", notes=["model: logreg"]
    )
    text = out.read_text(encoding="utf-8")
    assert out == tmp_path / "sub" / "report.html"
    assert list(out.parent.iterdir()) == [out]  # no temp file left behind
    for section in ('id="headline"', 'id="per-genre"', 'id="bars"', 'id="roc"', 'id="pr"', 'id="calibration"'):
        assert section in text
    assert "<title>CV &amp; test</title>" in text and "model: logreg" in text
    assert "&lt;Rare &amp; odd&gt;" in text and "<Rare" not in text  # genre names are escaped
    # Headline numbers with their intervals and prior.
    h = result["headline"]["macro_auc"]
    assert f"{h['value']:.3f}" in text and f"{h['ci_low']:.3f} – {h['ci_high']:.3f}" in text
    # Self-contained: no external references, four decodable PNGs.
    assert not re.search(r'(src|href)="(?!data:)', text)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 4
    for data in images:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert im.format == "PNG" and im.width > 300


def _drawn_posters(folder, n: int) -> list:
    """Posters drawn here with Pillow (title block and shapes), never third-party images."""
    from PIL import ImageDraw

    paths = []
    for i in range(n):
        im = Image.new("RGB", (300, 450), (30 + 20 * i % 200, 80, 160))
        d = ImageDraw.Draw(im)
        d.rectangle((20, 300, 280, 420), fill=(240, 220, 40))
        d.ellipse((60 + i, 60, 240, 240), fill=(200, 40, 60))
        paths.append(folder / f"p{i}.jpg")
        im.save(paths[-1], quality=85)
    return paths


def test_memory_banner_and_poster_gallery(tmp_path) -> None:
    from postergenre.evaluation.gallery import best_and_worst

    rng = np.random.default_rng(1)
    genres = ["Family", "Horror"]
    y = (rng.random((40, 2)) < 0.4).astype(int)
    p = np.clip(0.3 + 0.4 * (y - 0.5) + rng.normal(0, 0.2, y.shape), 0.01, 0.99)
    result = evaluate_predictions(y, p, choose_thresholds(y, p), genres, bootstrap=20)
    posters = _drawn_posters(tmp_path, 40)
    titles = [f"Movie {i}" for i in range(40)]
    gallery = best_and_worst(
        y, p, genres, [f"tt{i:07d}" for i in range(40)], titles, lambda i: posters[i] if i != 0 else None, n=2
    )
    # Best = true posters with the highest probability; worst = highest loss for that genre.
    fam = gallery[0]
    top = np.argsort(-np.where(y[:, 0] == 1, p[:, 0], -1))[:2]
    assert [e.imdb_id for e in fam.best] == [f"tt{i:07d}" for i in top]
    assert all(e.kind == "correct" and "Family" in e.true_genres for e in fam.best)
    assert all(e.kind in ("missed", "false alarm") for e in fam.worst)

    memory = "every evaluated movie was used to train this model: the numbers measure memory, not skill"
    out = write_evaluation_report(result, y, p, genres, tmp_path / "r.html", relation=memory, gallery=gallery)
    text = out.read_text(encoding="utf-8")
    # The warning opens the page, before the title, and the headline says what its numbers are.
    assert text.index('id="memory-warning"') < text.index("<h1>")
    assert "training-data numbers (memory, not skill)" in text
    assert 'id="gallery"' in text and "Movie " in text
    thumbs = re.findall(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(thumbs) >= 4
    for data in thumbs:
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            assert max(im.size) <= 120
    assert not re.search(r'(src|href)="(?!data:)', text)  # still self-contained

    held = write_evaluation_report(
        result,
        y,
        p,
        genres,
        tmp_path / "h.html",
        relation="held out: none of the evaluated movies was used to train this model",
        held_out=True,
    )
    text = held.read_text(encoding="utf-8")
    assert 'id="memory-warning"' not in text and "held out: none" in text and 'id="gallery"' not in text
