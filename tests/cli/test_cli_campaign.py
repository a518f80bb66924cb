"""`postergenre campaign ...` through its real entry point: every command takes --format json, stdout carries only
what was asked for, and the campaign reads as the service's /v1/campaigns does (the same functions)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from postergenre.config import get_paths

pytestmark = pytest.mark.slow  # every command loads the model in a fresh data folder

SYNOPSIS = "A Yukon gold hunter befriends a wolf-dog he rescues."


@pytest.fixture()
def run_cli(run_cli, home: Path):
    """The shared in-process runner (bundled_model.run_cli), in this module's data folder."""
    return run_cli


def _json(result: tuple[int, str, str]) -> dict:
    code, out, err = result
    assert code == 0, err
    return json.loads(out)


def test_the_campaign_commands_from_new_to_delete(run_cli, poster_files, home, tmp_path):
    made = _json(
        run_cli(
            "campaign",
            "new",
            "White Fang",
            "--synopsis",
            SYNOPSIS,
            "--intended",
            "family,adventure",
            "--rating",
            "g, pg",
            "--as",
            "alice",
            "--format",
            "json",
        )
    )
    assert (made["intended"], made["ratings"], made["created_by"]) == (["Family", "Adventure"], ["G", "PG"], "alice")
    campaign = made["id"]
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a poster")
    code, out, err = run_cli("campaign", "add", campaign, poster_files[0], poster_files[1], bad, "--format", "json")
    assert code == 1 and "notes.jpg" in err  # one line per file that could not be read; the others are kept
    added = json.loads(out)
    assert [v["name"] for v in added["added"]] == [poster_files[0].name, poster_files[1].name]
    code, out, err = run_cli("campaign", "add", campaign, poster_files[0])
    assert code == 0 and out == "" and "already holds this poster" in err

    listed = _json(run_cli("campaign", "list", "--format", "json"))["campaigns"]
    assert [(c["id"], c["variants"]) for c in listed] == [(campaign, 2)]
    shown = _json(run_cli("campaign", "show", campaign, "--format", "json"))
    assert sorted(v["rank"] for v in shown["variants"]) == [1, 2] and shown["stale_readings"] == 0
    code, out, _ = run_cli("campaign", "show", campaign)
    assert code == 0 and "White Fang" in out and poster_files[0].name in out

    edited = _json(run_cli("campaign", "edit", campaign, "--title", "White Fang II", "--as", "bob", "--format", "json"))
    assert edited["title"] == "White Fang II" and edited["changes"][0] == {**edited["changes"][0], "member": "bob"}
    reread = _json(run_cli("campaign", "reread", campaign, "--every", "--format", "json"))
    assert reread["reread"] == 2 and reread["campaign"]["changes"][0]["action"] == "re-read 2 variants"

    brief = _json(run_cli("campaign", "brief", campaign, "--format", "json"))
    assert brief["targets"] == ["Family", "Adventure"] and brief["campaign"]["id"] == campaign
    assert {v["name"] for v in brief["variants"]} == {p.name for p in poster_files[:2]}
    code, out, err = run_cli("campaign", "brief", campaign, "--out", tmp_path)
    assert code == 2 and out == "" and "is a folder" in err

    removed = _json(run_cli("campaign", "remove-variant", campaign, shown["variants"][0]["id"], "--format", "json"))
    assert removed["poster_files_removed"] == [shown["variants"][0]["sha256"]]
    deleted = _json(run_cli("campaign", "delete", campaign, "--format", "json"))
    assert deleted["campaign_deleted"] and len(deleted["poster_files_removed"]) == 1
    left = {hashlib.sha256(p.read_bytes()).hexdigest() for p in get_paths(home).home.rglob("*") if p.is_file()}
    assert not {hashlib.sha256(p.read_bytes()).hexdigest() for p in poster_files[:2]} & left
    code, _, err = run_cli("campaign", "show", campaign)
    assert code == 2 and f"no campaign '{campaign}'" in err
