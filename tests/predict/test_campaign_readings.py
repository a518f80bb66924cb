"""Campaign work with the real model: stored readings are the model's readings, the campaign's brief is today's brief
built from what is stored, and a changed model or synopsis makes readings stale until they are read again."""

from __future__ import annotations

from pathlib import Path

import pytest

from postergenre.campaigns.store import CampaignStore
from postergenre.config import get_paths
from postergenre.model.artifact import ModelArtifact
from postergenre.predict import campaigns as work
from postergenre.predict.inputs import PosterInput
from postergenre.predict.predictor import Predictor

SYNOPSIS = "A young wolf-dog is rescued by a gold hunter in the Yukon and they cross the wild together."
OTHER_SYNOPSIS = "A shy girl befriends a dragon and they save their village with songs and jokes."


@pytest.fixture()
def store(home: Path):
    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as opened:
        yield opened


@pytest.fixture()
def posters(three_posters: list[Path]) -> list[tuple[bytes, str]]:
    return [(p.read_bytes(), p.name) for p in three_posters]


@pytest.fixture(scope="module")
def other_predictor(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A retrained model, as far as readings can tell: the bundled one with other thresholds."""
    artifact = ModelArtifact.load(model_dir)
    artifact.thresholds = artifact.thresholds * 0.9
    folder = artifact.save(tmp_path_factory.mktemp("other") / "model")
    return Predictor.load(folder)


def _campaign(store: CampaignStore, predictor: Predictor, posters, synopsis: str | None = SYNOPSIS) -> str:
    made = work.create_campaign(
        store, predictor.genres, "White Fang", synopsis=synopsis, intended="family, adventure", by="alice"
    )
    work.add_variants(store, predictor, made.id, posters, by="alice")
    return made.id


def test_stored_readings_are_the_models_readings(store, predictor, posters):
    campaign = store.get(_campaign(store, predictor, posters))
    assert campaign.intended == ["Family", "Adventure"]  # the model's spelling, checked
    fingerprint, label = work.model_fingerprint(predictor.core)
    # Read as a batch, as adding them did (int8 results move by ~1e-7 with the batch they ran in).
    readings = predictor.predict_many([PosterInput(source=name, data=data) for data, name in posters])
    for (data, name), variant, alone in zip(posters, campaign.variants, readings, strict=True):
        fused = predictor.core.read_with_synopsis(alone.reading, SYNOPSIS)
        stored = variant.reading
        assert (variant.name, stored.model, stored.model_label) == (name, fingerprint, label)
        assert stored.poster == work.reading_json(alone.reading)  # full precision, not rounded
        assert stored.combined == work.reading_json(fused)
        one_by_one = predictor.predict(data, SYNOPSIS).reading  # what `predict --synopsis` says, to int8's 1e-6
        assert stored.combined["decided"] == one_by_one.decided
        assert stored.combined["probabilities"] == pytest.approx(one_by_one.probabilities, abs=1e-5)
        assert stored.embedding.tolist() == alone.embedding.tolist()
        assert (stored.width, stored.height) == alone.size


def test_the_campaign_brief_is_todays_brief_from_what_is_stored(store, predictor, posters, home):
    campaign_id = _campaign(store, predictor, posters)
    brief, view = work.campaign_brief(store, predictor, campaign_id, home=home)
    today = predictor.brief(
        [PosterInput(source=name, data=data) for data, name in posters],
        synopsis=SYNOPSIS,
        intended="Family, Adventure",
        title="White Fang",
        home=home,
    )
    assert brief.to_dict() == today.to_dict()  # ranking, recommendation, story vs poster, audiences, how sure
    shown = view.to_dict()
    ranked = sorted(shown["variants"], key=lambda v: v["rank"])
    assert [v["name"] for v in ranked] == [v.name for v in today.variants]
    assert shown["ranking"]["recommendation"] == today.to_dict()["recommendation"]
    assert shown["stale_readings"] == 0


def test_another_model_makes_readings_stale_until_reread(store, predictor, other_predictor, posters):
    campaign_id = _campaign(store, predictor, posters)
    mine, theirs = work.model_fingerprint(predictor.core)[0], work.model_fingerprint(other_predictor.core)[0]
    assert mine != theirs
    assert work.model_fingerprint(Predictor.load(predictor.model_dir).core)[0] == mine  # stable across loads
    view = work.campaign_view(store, other_predictor, campaign_id).to_dict()
    assert view["stale_readings"] == 3
    assert all("made by another model" in v["reading"]["stale_because"][0] for v in view["variants"])
    assert work.reread(store, other_predictor, campaign_id, by="bob") == 3
    assert work.reread(store, other_predictor, campaign_id, by="bob") == 0  # nothing stale left
    campaign = store.get(campaign_id)
    assert campaign.changes[0].member == "bob" and campaign.changes[0].action == "re-read 3 variants"
    again = other_predictor.predict_many([PosterInput(source=name, data=data) for data, name in posters])
    for variant, live in zip(campaign.variants, again, strict=True):
        assert variant.reading.model == theirs
        assert variant.reading.poster == work.reading_json(live.reading)


def test_a_new_synopsis_rereads_the_fused_readings_at_once(store, predictor, posters):
    campaign_id = _campaign(store, predictor, posters)
    work.update_campaign(store, predictor, campaign_id, by="carol", synopsis=OTHER_SYNOPSIS)
    campaign = store.get(campaign_id)
    assert work.campaign_view(store, predictor, campaign_id).to_dict()["stale_readings"] == 0
    for (data, _), variant in zip(
        posters, campaign.variants, strict=True
    ):  # fused from the stored reading: no poster read again
        stored = work.reading_from_json(variant.reading.poster, variant.reading.embedding)
        fused = predictor.core.read_with_synopsis(stored, OTHER_SYNOPSIS)
        assert variant.reading.combined == work.reading_json(fused)
        live = predictor.predict(data, OTHER_SYNOPSIS).reading  # reading the poster's views again says the same
        assert fused.decided == live.decided
        assert fused.probabilities == pytest.approx(live.probabilities, abs=1e-5)
    work.update_campaign(store, predictor, campaign_id, by="carol", synopsis=None)
    assert all(v.reading.combined is None and v.reading.synopsis is None for v in store.get(campaign_id).variants)


def test_unreadable_files_fail_alone_and_typos_fail_before_anything_is_stored(store, predictor, posters, tmp_path):
    campaign_id = _campaign(store, predictor, posters[:1])
    result = work.add_variants(store, predictor, campaign_id, [(b"not an image", "notes.txt"), posters[1]], by="a")
    assert [v.name for v in result.added] == [posters[1][1]]
    assert len(result.failures) == 1 and "notes.txt" in result.failures[0].error
    with pytest.raises(Exception, match="unknown genre 'Famly'"):
        work.update_campaign(store, predictor, campaign_id, by="a", intended="Famly")
    with pytest.raises(Exception, match="unknown content rating 'PG-99'"):
        work.create_campaign(store, predictor.genres, "T", synopsis=None, intended=None, ratings="PG-99", by="a")
    assert len(store.campaigns()) == 1
