"""Keyword seeds of the brief's audiences (predict/audiences.PlotKeywords) on the studio catalog's real plots:
content words that several of a group's plots share, never stop words or one synopsis's rare word (issue 19)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from postergenre.predict.audiences import KEYWORDS_PER_GROUP, MAX_CATALOG_SHARE, SHARED_FROM, PlotKeywords, stop_words


def _words(plot: str) -> set[str]:
    return set(re.findall(r"[^\W\d_]+", plot.lower()))


@pytest.fixture(scope="module")
def studio_records(shared_data: Path) -> list:
    from postergenre.catalog.formats import read_catalog

    return [m for m in read_catalog(shared_data / "studio-catalog" / "imdb_api_export.csv").records if m.plot]


@pytest.fixture(scope="module")
def studio_plots(studio_records) -> dict[str, str]:
    return {m.imdb_id: m.plot for m in studio_records}


@pytest.fixture(scope="module")
def keywords(studio_records) -> PlotKeywords:
    return PlotKeywords.from_movies(studio_records)


@pytest.fixture(scope="module")
def genre_groups(studio_records) -> list[list[str]]:
    """Groups of six studio titles sharing a genre, in catalog order (as a brief's comparable titles are)."""
    by_genre: dict[str, list[str]] = defaultdict(list)
    for m in studio_records:
        for genre in m.genres:
            by_genre[genre].append(m.imdb_id)
    return [ids[i : i + 6] for ids in by_genre.values() for i in range(0, len(ids) - 5, 6)]


def test_seeds_are_content_words_that_several_plots_of_the_group_share(keywords, studio_plots, genre_groups) -> None:
    catalog_words = [_words(p) for p in studio_plots.values()]
    seeded = 0
    for ids in genre_groups:
        seeds, used = keywords.seeds(ids)
        assert used == len(ids) >= SHARED_FROM and len(seeds) <= KEYWORDS_PER_GROUP
        plots = [_words(studio_plots[i]) for i in ids]
        for word in seeds:
            assert word not in ENGLISH_STOP_WORDS and word not in stop_words(), word
            assert sum(word in p for p in plots) >= 2, (word, ids)  # not one synopsis's rare word
            assert sum(word in p for p in catalog_words) <= MAX_CATALOG_SHARE * len(catalog_words), word
        seeded += bool(seeds)
    assert len(genre_groups) > 500 and seeded > len(genre_groups) / 2  # most groups still get seeds


def test_a_group_of_two_plots_keeps_the_words_of_either(keywords, studio_plots) -> None:
    ids = list(studio_plots)[:2]
    seeds, used = keywords.seeds(ids)
    assert used == 2 and seeds
    plots = [_words(studio_plots[i]) for i in ids]
    assert all(any(w in p for p in plots) and w not in stop_words() for w in seeds)
    assert {"make", "find", "order"} <= stop_words()  # plot mechanics are never a seed
