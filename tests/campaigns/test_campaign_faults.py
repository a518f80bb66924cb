"""Killed with SIGKILL at the worst moments, a campaign is never half-written and no stray file stays; two members
adding variants at once both land. Real processes on a real SQLite file.

The writing process kills itself at a named point (POSTERGENRE_FAULT_CAMPAIGN, read only by the campaign store):
a real SIGKILL, nothing is cleaned up, exactly as a kill -9 from outside.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from postergenre.campaigns.posterfiles import FAULT_ENV
from postergenre.campaigns.store import CampaignStore
from postergenre.config import get_paths

WRITER = """
import sys, time
from pathlib import Path
import numpy as np
from postergenre.campaigns.records import NewVariant, StoredReading
from postergenre.campaigns.store import CampaignStore

db, root, campaign, member, start, action, *files = sys.argv[1:]
reading = StoredReading(model="m", model_label="l", poster={"decided": []}, embedding=np.ones(1280, np.float32),
                        width=1, height=1, read_at="t")
while time.time() < float(start):  # both writers of the concurrency test begin together
    time.sleep(0.001)
with CampaignStore(db, root, sweep=False) as store:
    if action == "delete":
        store.delete(campaign, by=member)
    else:
        for f in files:  # one transaction per poster: the writers interleave
            store.add_variants(campaign, [NewVariant(Path(f).read_bytes(), Path(f).name, reading)], by=member,
                               max_variants=6)
"""


def _writer(
    home: Path,
    campaign: str,
    member: str,
    files: list[Path],
    *,
    fault: str | None = None,
    action: str = "add",
    start: float = 0.0,
) -> subprocess.Popen:
    paths = get_paths(home)
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            WRITER,
            str(paths.db),
            str(paths.campaign_posters),
            campaign,
            member,
            str(start),
            action,
            *map(str, files),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _consistent(home: Path) -> CampaignStore:
    """Reopen as the next process would (sweeping), and check: database intact, every row's file there, no other."""
    paths = get_paths(home)
    store = CampaignStore(paths.db, paths.campaign_posters)
    assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert store.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    referenced = {r[0] for r in store.conn.execute("SELECT sha256 FROM campaign_variants")}
    readings = store.conn.execute("SELECT count(*) FROM campaign_readings").fetchone()[0]
    variants = store.conn.execute("SELECT count(*) FROM campaign_variants").fetchone()[0]
    assert readings == variants  # a variant and its reading land together
    on_disk = [p for p in paths.campaign_posters.rglob("*") if p.is_file()]
    assert sorted(p.name.split(".")[0] for p in on_disk) == sorted(referenced)  # no temporary, no orphan
    for p in on_disk:
        assert hashlib.sha256(p.read_bytes()).hexdigest() == p.name.split(".")[0]  # whole files only
    return store


@pytest.mark.parametrize("fault", ["temporary-written", "files-written"])
def test_killed_while_adding_variants_leaves_the_campaign_as_it_was(home, poster_files, make_variant, fault):
    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        campaign = store.create("T", synopsis=None, intended=[], ratings=None, by="alice").id
        store.add_variants(campaign, [make_variant(poster_files[0])], by="alice", max_variants=6)
    killed = _writer(home, campaign, "bob", poster_files[1:3], fault=fault)
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    leftovers = [p for p in paths.campaign_posters.rglob("*") if p.is_file()]
    assert len(leftovers) > 1  # the kill did leave something behind: a temporary or whole unreferenced files
    with _consistent(home) as store:
        assert [v.name for v in store.get(campaign).variants] == [poster_files[0].name]
        assert store.last_sweep.removed >= 1
        again = store.add_variants(campaign, [make_variant(poster_files[1])], by="bob", max_variants=6)
        assert len(again.variants) == 1  # the killed attempt blocks nothing


def test_killed_while_deleting_leaves_no_poster_file(home, poster_files, make_variant):
    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        campaign = store.create("T", synopsis=None, intended=[], ratings=None, by="alice").id
        store.add_variants(campaign, [make_variant(p) for p in poster_files[:2]], by="alice", max_variants=6)
    killed = _writer(home, campaign, "bob", [], fault="rows-deleted", action="delete")
    killed.communicate(timeout=120)
    assert killed.returncode == -signal.SIGKILL
    assert len([p for p in paths.campaign_posters.rglob("*") if p.is_file()]) == 2  # rows gone, files not yet
    with _consistent(home) as store:
        assert store.campaigns() == [] and store.last_sweep.orphan_files


def test_two_members_adding_variants_to_one_campaign_at_once_both_land(home, poster_files):
    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        campaign = store.create("T", synopsis=None, intended=[], ratings=None, by="alice").id
    start = time.time() + 3  # both processes are up by then (imports take ~1 s)
    writers = [
        _writer(home, campaign, "alice", poster_files[0:3], start=start),
        _writer(home, campaign, "bob", poster_files[3:6], start=start),
    ]
    for w in writers:
        _, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
    with _consistent(home) as store:
        variants = store.get(campaign).variants
    assert sorted((v.added_by, v.name) for v in variants) == sorted(
        [("alice", p.name) for p in poster_files[0:3]] + [("bob", p.name) for p in poster_files[3:6]]
    )
    with sqlite3.connect(paths.db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
