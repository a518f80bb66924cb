"""What a segment's numbers measure comes from the relation as data, never from the words that say it
(issue 18, defect 4: evaluation parsed its own sentence with a regex, so rewording a message changed a metric)."""

from __future__ import annotations

import pytest

from postergenre.evaluation.evaluate import Relation, TrainingRelation, _measures


@pytest.mark.parametrize(
    "relation, collections, studio_trained, expected",
    [
        (TrainingRelation(Relation.HELD_OUT, holdout=0.2), {"general"}, False, "skill"),
        (TrainingRelation(Relation.TRAINED), {"general"}, False, "memory"),
        (TrainingRelation(Relation.TRAINED_MINUS_HOLDOUT, holdout=0.2), {"general"}, False, "memory"),
        (TrainingRelation(Relation.COLLECTION_TRAINED, "general", n_movies=9), {"general"}, False, "memory"),
        (TrainingRelation(Relation.COLLECTION_TRAINED, "general", n_movies=9), {"studio"}, False, "skill"),
        (TrainingRelation(Relation.COLLECTION_MINUS_HOLDOUT, "general", 0.2), {"studio"}, False, "skill"),
        (TrainingRelation(Relation.COLLECTION_MINUS_HOLDOUT, "general", 0.2), {"general"}, False, "memory"),
        (TrainingRelation(Relation.DIFFERS), {"general"}, False, "unknown"),
        (TrainingRelation(Relation.UNKNOWN), set(), False, "unknown"),
        # studio films trained the extensions
        (
            TrainingRelation(Relation.HELD_OUT, holdout=0.2),
            {"studio"},
            True,
            "memory",
        ),
    ],
)
def test_measures_follow_the_relation_whatever_its_sentence_says(
    relation, collections, studio_trained, expected, monkeypatch
):
    assert _measures(relation, collections, studio_trained) == expected
    monkeypatch.setattr(TrainingRelation, "__str__", lambda self: "reworded: held out `studio` collection memory")
    assert _measures(relation, collections, studio_trained) == expected


def test_every_relation_has_a_sentence():
    for kind in Relation:
        text = str(TrainingRelation(kind, "general", 0.2, 0, 5))
        assert text and ("held out" in text) == (kind is Relation.HELD_OUT)
