"""A synopsis alone is read (before a poster exists): the model core's synopsis-only reading on the bundled model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from postergenre.errors import PosterGenreError
from postergenre.predict.core import FROM_SYNOPSIS_ONLY, ModelCore

PLOTS = [
    "A young lion prince flees his kingdom after his father's murder, and must grow up to reclaim his place.",
    "A documentary following the lives of honeybees through one year in an English meadow.",
    (
        "An eight-year-old troublemaker, mistakenly left home alone, must defend his home against a pair of burglars "
        "on Christmas Eve."
    ),
]


@pytest.fixture(scope="module")
def core(model_dir) -> ModelCore:
    from postergenre.model.artifact import ModelArtifact

    core = ModelCore(ModelArtifact.load(model_dir), embedder=None)  # no poster: no image runtime needed
    if not core.has_synopsis:
        pytest.skip("the model under test has no synopsis head")
    return core


def test_synopsis_alone_is_read_in_plain_words_marked_as_such(core):
    readings = core.read_synopsis(PLOTS)
    assert len(readings) == 3
    for reading in readings:
        assert reading.signal == "synopsis"
        assert reading.summary["text"].startswith(f"{FROM_SYNOPSIS_ONLY}: reads as")
        assert reading.decided and set(reading.summary["reads_as"]) <= set(reading.decided)
        # The reading is the synopsis head's own probabilities, decided with the synopsis-only thresholds.
        assert reading.probabilities == reading.synopsis_probabilities
        assert reading.poster_probabilities is None and reading.embedding is None
        for genre in reading.decided[1:]:
            assert reading.probabilities[genre] >= reading.thresholds[genre]
        json.dumps(reading.to_dict())  # the one JSON shape, without a poster check
    documentary = readings[1]
    assert documentary.decided[0] == "Documentary"
    assert "Comedy" in readings[2].decided


def test_synopsis_only_thresholds_differ_from_the_fused_ones_and_overrides_apply(core):
    reading = core.read_synopsis(PLOTS[:1])[0]
    thresholds = np.array([reading.thresholds[g] for g in core.genres])
    assert np.isfinite(thresholds).all() and (thresholds > 0).all() and (thresholds <= 1).all()
    assert not np.allclose(thresholds, core.model.thresholds_for("poster+synopsis"))
    top2 = core.read_synopsis(PLOTS[:1], top_k=2)[0]
    assert len(top2.decided) == 2 and top2.decided == list(reading.probabilities)[:2]
    low = core.read_synopsis(PLOTS[:1], threshold=0.0)[0]
    assert len(low.decided) == len(core.genres)


def test_a_blank_synopsis_is_refused_by_position(core):
    with pytest.raises(PosterGenreError, match="synopsis 2 of 2 is empty"):
        core.read_synopsis([PLOTS[0], "   "])
    assert core.read_synopsis([]) == []


def test_no_genre_is_saturated_for_every_story(core):
    """The bundled head once read Music at 100% for every synopsis (a diverged calibration)."""
    stories = PLOTS + ["A young girl befriends a dragon.", "Two rival chefs fall in love in Paris."]
    P = core.synopsis_probabilities(stories)
    assert (P.max(axis=0) - P.min(axis=0) > 1e-3).sum() >= len(core.genres) - 3  # only never-seen genres flat
    assert not (P >= 0.99).all(axis=0).any() and P[3, core.genres.index("Music")] < 0.2
