"""The model card from a model's metadata: the bundled card regenerates byte for byte, statements come from the
recorded data, and its HTML view shows Markdown as HTML with raw HTML escaped."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np

from postergenre.model.artifact import CARD_FILE, DEFAULT_MODEL_DIR, META_FILE, ModelArtifact
from postergenre.render.model_card import card_html, model_card


def test_the_bundled_card_is_the_card_of_the_bundled_model() -> None:
    """`make default-model` writes the card with the model; rendering it again from model.json gives the same bytes."""
    meta = json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))
    assert model_card(meta) == (DEFAULT_MODEL_DIR / CARD_FILE).read_text(encoding="utf-8")


def _metadata() -> dict:
    genres = ["Action", "Drama", "Horror"]
    return ModelArtifact(
        genres=genres,
        thresholds=np.array([0.31, 0.5, 0.123456789]),
        backbone="efficientnet-lite0",
        preprocess_version="v-test",
        feature_set="pooled",
        head_type="mlp",
        head_config={"settings": {"hidden": 8}, "feature_slice": [4, 20], "threshold_metric": "f1"},
        tensors={},
        metrics={"cv": {}},
        data_fingerprint={
            "sha256": "abc",
            "movies": 300,
            "posters": 300,
            "genre_counts": {"Action": 90, "Drama": 150, "Horror": 12},
            "profile": {
                "movies": 300,
                "rated": 0,
                "ratings": {},
                "years_known": 300,
                "year_min": 1950,
                "year_max": 1999,
                "year_median": 1980,
                "year_quartiles": [1960, 1980, 1990],
                "collections": {},
                "in_a_collection": 0,
            },
        },
        training_options={"min_examples": 100, "command": "postergenre train --head mlp"},
    ).metadata()


def test_statements_come_from_the_recorded_data() -> None:
    card = model_card(_metadata())
    assert "postergenre train --head mlp" in card
    # No ratings, the years and the genre imbalance as recorded.
    assert "None of the 300 training movies carries a content rating" in card
    assert "Release years 1950–1999 (median 1980; the middle half from 1960 to 1990)" in card
    assert "the most common, Drama, is on 50% of the movies; the rarest kept, Horror, on 4.0% (12 movies)" in card
    assert (
        "- 3 genres with at least 100 examples (movies, share): Drama (150, 50%), Action (90, 30%), Horror (12, 4.0%)."
    ) in card.splitlines()
    assert card.endswith("```\npostergenre train --head mlp\n```\n")


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


def test_the_html_view_renders_markdown_and_escapes_raw_html() -> None:
    meta = _metadata()
    meta["training_options"]["note"] = "Chosen on <b>2024</b> data <script>alert(1)</script> & more."
    page = _Elements()
    page.feed(card_html(model_card(meta)))
    assert {"h1", "h2", "table", "th", "code"} <= set(page.tags)
    assert "script" not in page.tags and "b" not in page.tags
    assert "Chosen on <b>2024</b> data <script>alert(1)</script> & more." in page.text
    assert "## " not in page.text


def _cards() -> dict[str, str]:
    """Cards of the bundled model, a poster-only model and studio models with each way the studio weight was chosen."""
    from test_model_card_studio import _metadata as studio_metadata, _studio_metrics

    bundled = json.loads((DEFAULT_MODEL_DIR / META_FILE).read_text(encoding="utf-8"))
    cards = {
        "bundled": model_card(bundled),
        "poster only": model_card(_metadata()),
        "no weight": model_card(studio_metadata({"studio": _studio_metrics(None, {3.0: -0.01})})),
    }
    for chosen, changes in ((3.0, {3.0: -0.0039, 10.0: -0.0121}), (10.0, {3.0: -0.09, 10.0: -0.02})):
        cards[f"weight x{chosen:g}"] = model_card(studio_metadata({"studio": _studio_metrics(chosen, changes)}))
    return cards


def test_every_card_is_well_formed_markdown() -> None:
    """The template writes one Markdown line per statement: no stray spaces or joined words, blank lines single,
    and every table row with as many cells as its header."""
    for name, card in _cards().items():
        lines = card.splitlines()
        assert card.endswith("```\n") and "\n\n\n" not in card, name
        assert [line for line in lines if line != line.strip() or "  " in line] == [], name
        header = None
        for line in lines:
            if line.startswith("|"):
                cells = line.count("|")
                header = header or cells
                assert cells == header, (name, line)
            else:
                header = None
