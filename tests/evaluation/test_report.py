"""The HTML evaluation report: self-contained, every section present, images embedded and decodable."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
from PIL import Image

from postergenre.model.metrics import evaluate_predictions
from postergenre.evaluation.report import write_evaluation_report
from postergenre.model.thresholds import choose_thresholds


def test_report_has_sections_and_embedded_images(tmp_path) -> None:
    rng = np.random.default_rng(5)
    genres = ["Drama", "Comedy", "Horror", "Sci-Fi", "<Rare & odd>", "Empty"]
    freq = np.array([0.5, 0.3, 0.1, 0.08, 0.02, 0.0])
    y = (rng.random((500, 6)) < freq).astype(int)
    p = np.clip(freq + 0.3 * (y - 0.5) + rng.normal(0, 0.15, y.shape), 0.001, 0.999)
    result = evaluate_predictions(y, p, choose_thresholds(y, p), genres, bootstrap=100)
    out = write_evaluation_report(result, y, p, genres, tmp_path / "sub" / "report.html", title="CV & test",
                                  notes=["model: logreg"])
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
