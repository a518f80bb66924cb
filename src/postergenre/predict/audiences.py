"""Audiences to aim at: comparable catalog titles grouped by the genre they support, the ratings they are limited
to by default, and keyword seeds from their plots. Everything comes from the catalog; nothing is invented.

- Default ratings: where the catalog knows the studio's ratings, comparable titles default to the ratings that
  make up its collection (each held by at least MAIN_RATING_SHARE of its rated films: G and PG for a family
  studio), so a G/PG campaign is not pointed at the fans of an R-rated drama. Titles of unknown rating are left
  out under that default, and the note says so.
- Keyword seeds: the words that set a group's plots apart from the catalog's other plots (TF-IDF over the catalog's
  plots, scikit-learn, summed over the group's plots, so a word several of them share comes first). Left out, so
  the seeds are content words an ad buyer can target rather than plot mechanics ("make", "disappear"):
  English stop words and common plot verbs and fillers (`stop_words()`); words in over MAX_CATALOG_SHARE of the
  catalog's plots ("life", "young", "save") or in a single plot of the whole catalog; and, in a group of
  SHARED_FROM or more plots, a word found in only one of them (one synopsis's rare word is not its group's theme).
  Every seed is a word of the catalog's own plots: nothing is added.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from .compare import and_list
from .similar import CatalogSimilarity, SimilarFilter, SimilarTitle

STUDIO = "studio"
MAIN_RATING_SHARE = 0.05
TITLES_PER_GENRE = 6
STUDIO_SHARE = 2 / 3  # of a group's titles, when the general catalog has some too
KEYWORDS_PER_GROUP = 8
MAX_CATALOG_SHARE = 0.05
SHARED_FROM = 3  # plots in a group from which a seed must occur in at least two of them
PLOT_FILLERS = frozenset(
    """
    make makes made making find finds found take takes took taking get gets got getting come comes came coming
    go goes going went gone try tries tried trying learn learns learned learning discover discovers discovered
    decide decides decided begin begins began set sets follow follows followed meet meets met want wants wanted
    tell tells told bring brings brought turn turns turned leave leaves left send sends sent receive receives
    received pull pulls pulled help helps helped fall falls embark embarks join joins joined end ends ended
    named known soon just like way away
    order things best great big little small different real long
""".split()
)
"""Verbs, fillers and generic adjectives that carry a synopsis along rather than say what it is about ("in order
to", "embarks on"); with sklearn's English stop words they are `stop_words()`. Among the most frequent words of the
studio's 3,025 plots ("make" is in 3%) yet under MAX_CATALOG_SHARE, so the catalog share alone would keep them."""
HOW_TO_ADD = (
    "Comparable titles come from your catalog: import it and embed its posters "
    "(`postergenre catalog import FILE --collection studio`, `postergenre posters attach FOLDER`, "
    "`postergenre embed`), then make the brief again."
)


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "n/a"


@dataclass(frozen=True)
class RatingDefault:
    """The ratings comparable titles are limited to unless asked otherwise, and why, in words."""

    ratings: tuple[str, ...]
    note: str


def studio_ratings(movies: Iterable[Any]) -> RatingDefault:
    """The ratings of the studio's collection (see the module docstring); none when the catalog knows none."""
    movies = list(movies)
    rated = Counter(m.content_rating for m in movies if STUDIO in (m.collections or ()) and m.content_rating)
    if not rated:
        return RatingDefault(
            (), "The catalog knows no ratings of the studio's films, so titles of every rating are shown."
        )
    total = sum(rated.values())
    main = tuple(r for r, n in rated.most_common() if n / total >= MAIN_RATING_SHARE)
    covered = sum(rated[r] for r in main)
    unrated = sum(1 for m in movies if not m.content_rating)
    note = (
        f"Limited to {and_list(main)} titles, the ratings of {_pct(covered, total)} of the studio's rated films "
        f"({covered:,} of {total:,})."
    )
    if unrated:
        note += f" {unrated:,} catalog titles have no known rating and are left out."
    return RatingDefault(main, note)


def stop_words() -> frozenset[str]:
    """Words never offered as keyword seeds: sklearn's English stop words and PLOT_FILLERS."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | PLOT_FILLERS


class PlotKeywords:
    """Distinctive plot words of a group of titles, against every plot in the catalog (TF-IDF)."""

    def __init__(self, plots: dict[str, str]):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.ids = {imdb_id: i for i, imdb_id in enumerate(plots)}
        self.vectorizer = TfidfVectorizer(
            stop_words=sorted(stop_words()),
            min_df=2,
            max_df=MAX_CATALOG_SHARE,
            sublinear_tf=True,
            token_pattern=r"(?u)\b[^\W\d_]{3,}\b",
            lowercase=True,
        )
        self.matrix = self.vectorizer.fit_transform(list(plots.values()))
        self.words = self.vectorizer.get_feature_names_out()

    @classmethod
    def from_movies(cls, movies: Iterable[Any]) -> PlotKeywords | None:
        return cls.from_plots({m.imdb_id: m.plot for m in movies if m.plot})

    @classmethod
    def from_plots(cls, plots: dict[str, str]) -> PlotKeywords | None:
        """Keywords over {imdb id: plot}; None when fewer than two plots share a word."""
        if len(plots) < 2:
            return None
        try:
            return cls(plots)
        except ValueError:  # no word in two plots: nothing distinctive to say
            return None

    def seeds(self, imdb_ids: Sequence[str], n: int = KEYWORDS_PER_GROUP) -> tuple[list[str], int]:
        """(keywords, how many of the titles have a plot to take them from)."""
        rows = [self.ids[i] for i in imdb_ids if i in self.ids]
        if not rows:
            return [], 0
        part = self.matrix[rows]
        weight = np.asarray(part.sum(axis=0)).ravel()  # a word in several of the plots adds up
        if len(rows) >= SHARED_FROM:
            weight[np.asarray((part > 0).sum(axis=0)).ravel() < 2] = 0  # one plot's word is not the group's
        order = np.argsort(-weight, kind="stable")
        return [str(self.words[j]) for j in order[:n] if weight[j] > 0], len(rows)


@dataclass
class CatalogAudiences:
    """What the audiences part needs from a home's catalog beside the neighbour index: ratings and plots.

    The plot keywords are fitted on first use (`keywords`), not when the catalog is read: TF-IDF over every plot
    imports scikit-learn and takes seconds, which the service's startup (it needs the ratings) should not pay.
    """

    rating_default: RatingDefault
    ratings_held: list[str]  # every rating the catalog holds, most common first
    plots: dict[str, str] = field(default_factory=dict, repr=False)  # imdb id -> plot
    _keywords: PlotKeywords | None = field(default=None, init=False, repr=False, compare=False)
    _fitted: bool = field(default=False, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def keywords(self) -> PlotKeywords | None:
        with self._lock:  # concurrent first briefs fit once
            if not self._fitted:
                self._keywords, self._fitted = PlotKeywords.from_plots(self.plots), True
            return self._keywords

    @classmethod
    def from_movies(cls, movies: Iterable[Any]) -> CatalogAudiences:
        movies = list(movies)
        held = Counter(m.content_rating for m in movies if m.content_rating)
        return cls(
            studio_ratings(movies), [r for r, _ in held.most_common()], {m.imdb_id: m.plot for m in movies if m.plot}
        )

    @classmethod
    def from_home(cls, home: Path) -> CatalogAudiences:
        from ..catalog.store import Catalog
        from ..config import get_paths

        db = get_paths(home).db
        if not db.is_file():
            raise ModelError(f"no catalog at {db}. {HOW_TO_ADD}")
        with Catalog(db) as catalog:
            return cls.from_movies(catalog.movies())


@dataclass
class AudienceGroup:
    """Comparable titles that carry one genre, studio films first, and the keyword seeds of their plots."""

    genre: str
    titles: list[SimilarTitle]
    keywords: list[str]
    keywords_from: int  # titles whose plots gave the keywords

    def to_dict(self) -> dict[str, Any]:
        return {
            "genre": self.genre,
            "titles": [t.to_dict() for t in self.titles],
            "keywords": list(self.keywords),
            "keywords_from": self.keywords_from,
        }


def comparable_by_genre(
    similarity: CatalogSimilarity,
    embedding: np.ndarray,
    genres: Sequence[str],
    *,
    ratings: Sequence[str] = (),
    exclude_sha256: str | None = None,
    keywords: PlotKeywords | None = None,
    per_genre: int = TITLES_PER_GENRE,
) -> list[AudienceGroup]:
    """For each genre, the titles nearest to the poster that carry it: the studio's first, then the others."""
    collections = {c for m in similarity.movies.values() for c in (m.collections or ())}
    others = frozenset(collections - {STUDIO})
    groups = []
    for genre in genres:

        def nearest(where: SimilarFilter) -> list[SimilarTitle]:
            return similarity.search(
                embedding,
                per_genre,
                where=where,
                exclude_sha256=exclude_sha256,
                exclude_identical=exclude_sha256 is None,
            ).titles

        allowed = SimilarFilter(ratings=frozenset(ratings), genres=frozenset({genre}))
        studio = nearest(replace(allowed, collections=frozenset({STUDIO}))) if STUDIO in collections else []
        seen = {t.imdb_id for t in studio}
        general = [t for t in nearest(replace(allowed, collections=others)) if t.imdb_id not in seen] if others else []
        keep = per_genre if not general else max(1, round(per_genre * STUDIO_SHARE))
        titles = studio[:keep]
        titles += general[: per_genre - len(titles)]
        words, used = keywords.seeds([t.imdb_id for t in titles]) if keywords is not None else ([], 0)
        groups.append(AudienceGroup(genre, titles, words, used))
    return groups
