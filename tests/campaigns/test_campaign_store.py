"""The campaign store on a real SQLite file and real poster files: what is kept, what deleting removes, migrations."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from postergenre.campaigns.schema import SCHEMA_VERSION
from postergenre.campaigns.store import UNSET, CampaignStore
from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.errors import ConflictError, NotFoundError, PosterGenreError
from postergenre.files import partial_name


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files_on_disk(home: Path) -> set[str]:
    """sha256 of every file under the data folder: what a search of the disk for a poster would find."""
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in home.rglob("*") if p.is_file()}


def test_a_campaign_keeps_its_fields_variants_readings_and_who_changed_what(store, home, poster_files, make_variant):
    made = store.create(
        "White Fang", synopsis=" A wolf-dog. ", intended=["Family", "Adventure"], ratings=None, by="alice"
    )
    added = store.add_variants(
        made.id, [make_variant(poster_files[0], 1), make_variant(poster_files[1], 2)], by="bob", max_variants=6
    )
    assert [v.name for v in added.variants] == [poster_files[0].name, poster_files[1].name]
    store.update(made.id, by="carol", title="White Fang (1991)", ratings=["G", "PG"])

    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as reopened:  # another connection: what was committed
        campaign = reopened.get(made.id)
    assert (campaign.title, campaign.synopsis, campaign.intended, campaign.ratings) == (
        "White Fang (1991)",
        "A wolf-dog.",
        ["Family", "Adventure"],
        ["G", "PG"],
    )
    assert [(v.sha256, v.added_by, v.bytes) for v in campaign.variants] == [
        (_sha(p), "bob", p.stat().st_size) for p in poster_files[:2]
    ]
    first = campaign.variants[0].reading
    assert first.poster == make_variant(poster_files[0], 1).reading.poster
    assert np.array_equal(first.embedding, make_variant(poster_files[0], 1).reading.embedding)  # float32, exactly
    assert (first.model, first.synopsis, first.combined) == ("m1", "s1", {"decided": ["Family"]})
    assert [(c.member, c.action) for c in campaign.changes] == [
        ("carol", "changed the ratings"),
        ("carol", "changed the title"),
        ("bob", "added variant 2"),
        ("bob", "added variant 1"),
        ("alice", "created the campaign"),
    ]
    assert (campaign.updated_by, campaign.created_by) == ("carol", "alice")
    # Stored apart from the catalog's poster store, under their content hash.
    assert {_sha(p) for p in poster_files[:2]} <= {p.stem for p in paths.campaign_posters.rglob("*.jpg")}
    assert not paths.posters.exists() or not any(paths.posters.rglob("*.jpg"))


def test_deleting_removes_readings_and_poster_files_unless_another_campaign_holds_them(
    store, home, poster_files, make_variant
):
    first = store.create("One", synopsis=None, intended=[], ratings=None, by="alice")
    second = store.create("Two", synopsis=None, intended=[], ratings=None, by="alice")
    shared, own, other = poster_files[:3]
    store.add_variants(first.id, [make_variant(shared), make_variant(own)], by="alice", max_variants=6)
    store.add_variants(second.id, [make_variant(shared), make_variant(other)], by="alice", max_variants=6)
    assert len({p for p in get_paths(home).campaign_posters.rglob("*") if p.is_file()}) == 3  # stored once each

    removal = store.delete(first.id, by="bob")
    assert removal.campaign_deleted and removal.readings == 2
    assert removal.files_removed == [_sha(own)] and removal.files_kept == [_sha(shared)]
    assert "2 variants, 2 stored readings, 1 poster file deleted from disk; 1 poster file kept" in removal.text
    on_disk = _files_on_disk(home)
    assert _sha(own) not in on_disk and _sha(shared) in on_disk
    with pytest.raises(NotFoundError, match=first.id):
        store.get(first.id)
    rows = store.conn.execute("SELECT count(*) FROM campaign_readings").fetchone()[0]
    assert rows == 2  # only the second campaign's
    assert store.conn.execute("SELECT campaign_id, member, variants FROM campaign_deletions").fetchall() == [
        (first.id, "bob", 2)
    ]

    held = store.get(second.id).variants
    removal = store.remove_variants(second.id, [v.id for v in held if v.sha256 == _sha(shared)], by="carol")
    assert removal.files_removed == [_sha(shared)] and not removal.campaign_deleted
    assert _sha(shared) not in _files_on_disk(home)
    assert [v.sha256 for v in store.get(second.id).variants] == [_sha(other)]


def test_a_poster_already_in_the_campaign_is_skipped_and_the_limit_holds(store, poster_files, make_variant):
    made = store.create("Limit", synopsis=None, intended=[], ratings=None, by="alice")
    store.add_variants(made.id, [make_variant(p) for p in poster_files[:4]], by="alice", max_variants=6)
    again = store.add_variants(
        made.id, [make_variant(poster_files[0]), make_variant(poster_files[4])], by="bob", max_variants=6
    )
    first_id = store.get(made.id).variants[0].id
    assert again.duplicates == [(poster_files[0].name, first_id)]
    assert [v.name for v in again.variants] == [poster_files[4].name]
    with pytest.raises(ConflictError, match="holds 5 variants; adding 2 would pass the limit of 6"):
        store.add_variants(made.id, [make_variant(p) for p in poster_files[5:7]], by="bob", max_variants=6)
    assert len(store.get(made.id).variants) == 5  # all or nothing: neither of the two landed
    assert len(store.files.stored()) == 5  # and no file of theirs stayed


def test_bad_fields_fail_naming_them_and_unknown_ids_are_404s(store):
    with pytest.raises(PosterGenreError, match="needs a title"):
        store.create("   ", synopsis=None, intended=[], ratings=None, by="a")
    with pytest.raises(PosterGenreError, match="synopsis is 5,001 characters"):
        store.create("T", synopsis="x" * 5001, intended=[], ratings=None, by="a")
    with pytest.raises(NotFoundError, match="no campaign 'nope'"):
        store.update("nope", by="a", title="T")
    made = store.create("T", synopsis="s", intended=[], ratings=None, by="a")
    with pytest.raises(NotFoundError, match="has no variant 7"):
        store.remove_variants(made.id, [7], by="a")
    same = store.update(made.id, by="b", title="T", synopsis=UNSET)  # nothing changed: nothing recorded
    assert [c.action for c in same.changes] == ["created the campaign"]
    cleared = store.update(made.id, by="b", synopsis=None)
    assert cleared.synopsis is None and cleared.changes[0].action == "changed the synopsis"


def test_an_older_catalog_gets_the_campaign_tables_once(home, poster_files, make_variant):
    paths = get_paths(home).ensure()
    with Catalog(paths.db):  # a data folder from before campaigns: the catalog's tables only
        pass
    with sqlite3.connect(paths.db) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'campaigns'").fetchone()[0] == 0
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        made = store.create("T", synopsis=None, intended=[], ratings=None, by="a")
        store.add_variants(made.id, [make_variant(poster_files[0])], by="a", max_variants=6)
    with CampaignStore(paths.db, paths.campaign_posters) as store, Catalog(paths.db) as catalog:
        assert len(store.get(made.id).variants) == 1  # reopening migrates nothing twice
        assert store.conn.execute("SELECT value FROM campaign_meta").fetchone()[0] == str(SCHEMA_VERSION)
        assert catalog.schema_version() >= 1  # the catalog's own version is untouched by ours


def test_opening_sweeps_leftovers_of_killed_writers_but_not_live_ones(store, home, poster_files, make_variant):
    paths = get_paths(home)
    made = store.create("T", synopsis=None, intended=[], ratings=None, by="a")
    store.add_variants(made.id, [make_variant(poster_files[0])], by="a", max_variants=6)
    orphan = paths.campaign_posters / "ab" / ("ab" + "0" * 62 + ".jpg")  # a file no row refers to
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"left by a kill between the file and the commit")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_tmp = paths.campaign_posters / "ab" / partial_name("x.jpg", int(dead.stdout))
    live_tmp = paths.campaign_posters / "ab" / partial_name("y.jpg", os.getpid())
    dead_tmp.write_bytes(b"half")
    live_tmp.write_bytes(b"being written")
    with CampaignStore(paths.db, paths.campaign_posters) as reopened:
        assert reopened.last_sweep.orphan_files == [orphan.stem] and reopened.last_sweep.temporaries == 1
    assert not orphan.exists() and not dead_tmp.exists() and live_tmp.exists()
    assert paths.campaign_posters.joinpath(_sha(poster_files[0])[:2]).is_dir()  # the campaign's own file stays
