"""A campaign's posters are confidential: they never become comparable titles for other films, never enter the
embedding cache the catalog's readers use, and never enter training unless someone adds them to the catalog."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from postergenre.campaigns.store import CampaignStore
from postergenre.catalog.store import Catalog
from postergenre.config import get_paths
from postergenre.labelled.datasets import assemble_dataset
from postergenre.predict import campaigns as work
from postergenre.predict.predictor import Predictor
from postergenre.predict.similar import CatalogSimilarity
from sampling import spread
from test_layers import SRC, import_graph  # the layering test's own reading of the import graph

NEVER_READ_CAMPAIGNS = ("catalog", "posters", "features", "model", "labelled", "training", "evaluation")


def _dataset_fingerprint(home: Path) -> dict:
    with Catalog(get_paths(home).db) as catalog:
        return assemble_dataset(catalog, min_examples=5).fingerprint()


def _similarity(predictor: Predictor, home: Path) -> CatalogSimilarity:
    core = predictor.core
    # built afresh, not the predictor's cached one
    return CatalogSimilarity.from_home(
        home, core.spec, genre_profile=core.probabilities, vectors=core.vector_key, runtime=core.runtime_name
    )


def test_campaign_posters_reach_neither_comparable_titles_nor_training(small_home, shared_data, shared_rows, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(small_home, home)
    with Catalog(get_paths(home).db) as catalog:
        in_catalog = {m.imdb_id for m in catalog.movies()}
    outside = [
        r
        for r in spread(shared_rows, 300, offset=7)
        if r["imdb_id"] not in in_catalog and (shared_data / r["poster"]).is_file()
    ][:2]
    predictor = Predictor.load(home=home)
    before_titles, before_data = _similarity(predictor, home), _dataset_fingerprint(home)

    paths = get_paths(home)
    with CampaignStore(paths.db, paths.campaign_posters) as store:
        campaign = work.create_campaign(store, predictor.genres, "Secret", synopsis=None, intended="Family", by="a")
        posters = [((shared_data / r["poster"]).read_bytes(), r["poster"]) for r in outside]
        work.add_variants(store, predictor, campaign.id, posters, by="a")
        stored = store.get(campaign.id).variants
    secret = {hashlib.sha256(data).hexdigest() for data, _ in posters}
    assert {v.sha256 for v in stored} == secret

    after = _similarity(predictor, home)
    assert len(after) == len(before_titles) and not secret & set(after.movies)
    for v in stored:  # the poster itself as the query: its own campaign's posters are not there to be found
        found = after.search(v.reading.embedding, 20)
        assert not secret & {t.poster_sha256 for t in found}
    with sqlite3.connect(paths.db) as conn:
        cached = {r[0] for r in conn.execute("SELECT sha256 FROM embeddings")}
    assert not secret & cached  # the catalog's embedding cache never holds them
    assert not secret & {p.stem for p in paths.posters.rglob("*") if p.is_file()}  # nor its poster store
    assert _dataset_fingerprint(home) == before_data  # training data: unchanged to the hash


def test_nothing_that_makes_or_reads_the_catalog_imports_campaigns():
    edges = import_graph()
    for top in NEVER_READ_CAMPAIGNS:
        reached: set[str] = set()
        todo = [m for m in edges if m.startswith(f"postergenre.{top}")]
        while todo:
            module = todo.pop()
            if module not in reached:
                reached.add(module)
                todo.extend(edges[module])
        assert sorted(m for m in reached if m.startswith("postergenre.campaigns")) == [], top
    for path in SRC.rglob("*.py"):
        package = path.relative_to(SRC).parts[0]
        if package in NEVER_READ_CAMPAIGNS:
            text = path.read_text(encoding="utf-8")
            assert "campaign_" not in text, f"{path} names a campaign table or folder"
