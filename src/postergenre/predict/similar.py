"""Comparable titles: the catalog posters whose embeddings lie nearest to a poster's (cosine similarity).

The search sits behind one small interface, `SimilarityIndex`, so the exact numpy search (a single matrix
product; about 12 ms for 18,000 posters on this 2-core CPU, fine up to ~100k) can be swapped for an approximate HNSW
graph (hnswlib, optional) on larger catalogs without touching callers. `build_index` picks: exact below
`HNSW_MIN_ITEMS`, HNSW above when hnswlib is installed.

What "nearest" means (`SearchSpace`): the mean of two cosines, one on the poster's look (the
"pooled+stats" slice of its embedding, centred on the catalog mean) and one on its genre profile (the
model's genre probabilities). Measured on the development home (2,000 query posters against a catalog of
the other half, the head trained on the catalog half only, k=10; mean Jaccard overlap of the neighbours'
genre sets with the query's): random 0.163; look alone 0.238 ("pooled" 0.237, "pooled+stats" 0.241 over
the full home; centring or standardising changes it by less than 0.003); genre profile alone 0.304; the
mean of both 0.283. The blend keeps neighbours that look alike while favouring titles that signal the same
genres, which is what marketing compares against. Centring spreads the scores: uncentred, every top-10
cosine lay between 0.93 and 0.97, which told a user nothing.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from ..features.registry import BackboneSpec

SIMILARITY_FEATURE_SET = "pooled+stats"
GenreProfile = Callable[[np.ndarray], np.ndarray]  # full embeddings [N, D] -> genre probabilities [N, G]
HNSW_MIN_ITEMS = 100_000
IDENTICAL_SCORE = 0.99999  # cosine at which two embeddings come from the same pixels (float noise ~1e-6)


MATCH_WORDS = ("very close", "close", "loose")
"""How a similarity reads, by where it falls among this catalog's own nearest-neighbour scores (see `MatchScale`):
a raw cosine means little to a marketer (and is higher for odd inputs than for real posters)."""
IMDB_TITLE_URL = "https://www.imdb.com/title/{}/"


@dataclass(frozen=True)
class SimilarTitle:
    """One comparable catalog title; `score` in [-1, 1] is the mean of the look and genre-profile cosines."""

    imdb_id: str
    title: str | None
    year: int | None
    genres: list[str]
    score: float
    poster_sha256: str
    match: str = "loose"
    rating: str | None = None
    collections: list[str] = field(default_factory=list)

    @property
    def imdb_url(self) -> str:
        return IMDB_TITLE_URL.format(self.imdb_id)

    @property
    def display_title(self) -> str:
        name = self.title or f"untitled ({self.imdb_id})"
        return f"{name} ({self.year})" if self.year else name

    def to_dict(self) -> dict[str, Any]:
        return {
            "imdb_id": self.imdb_id,
            "title": self.title,
            "year": self.year,
            "genres": list(self.genres),
            "rating": self.rating,
            "collections": list(self.collections),
            "similarity": round(float(self.score), 6),
            "match": self.match,
            "imdb_url": self.imdb_url,
            "poster_sha256": self.poster_sha256,
        }


@dataclass(frozen=True)
class SimilarFilter:
    """Which catalog titles may be returned; empty fields allow everything. `genres`: any of them."""

    collections: frozenset[str] = frozenset()
    ratings: frozenset[str] = frozenset()
    year_min: int | None = None
    year_max: int | None = None
    genres: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        *,
        collection: str | None = None,
        rating: str | None = None,
        year_min: int | None = None,
        year_max: int | None = None,
        genre: str | None = None,
        held_ratings: Iterable[str] = (),
    ) -> SimilarFilter:
        """The filter options as users write them (CLI, query string): the catalog's one parser, so `--rating pg
        --collection Studio` keeps what `--rating PG --collection studio` keeps, in `similar` as in `train`."""
        from ..catalog.filters import MovieFilter, parse_genres

        flt = MovieFilter.parse(
            rating=rating, collection=collection, year_min=year_min, year_max=year_max, held_ratings=held_ratings
        )
        return cls(
            collections=flt.collections or frozenset(),
            ratings=flt.ratings or frozenset(),
            year_min=year_min,
            year_max=year_max,
            genres=parse_genres(genre) or frozenset(),
        )

    def keeps(self, movie: Any) -> bool:
        if self.collections and not self.collections.intersection(getattr(movie, "collections", ()) or ()):
            return False
        if self.ratings and movie.content_rating not in self.ratings:
            return False
        if self.year_min is not None and (movie.year is None or movie.year < self.year_min):
            return False
        if self.year_max is not None and (movie.year is None or movie.year > self.year_max):
            return False
        return not self.genres or bool(self.genres.intersection(movie.genres))

    @property
    def active(self) -> bool:
        return (
            bool(self.collections or self.ratings or self.genres)
            or self.year_min is not None
            or self.year_max is not None
        )


@dataclass
class SimilarResult:
    """Comparable titles, best first, and whether the query looked like a poster at all (its scores mislead if not)."""

    titles: list[SimilarTitle]
    query_is_poster: bool = True

    def __iter__(self) -> Iterator[SimilarTitle]:
        return iter(self.titles)

    def __len__(self) -> int:
        return len(self.titles)

    def __getitem__(self, i: int) -> SimilarTitle:
        return self.titles[i]

    def to_dict(self) -> dict[str, Any]:
        return {"titles": [t.to_dict() for t in self.titles], "query_is_poster": self.query_is_poster}


LARGE_CATALOG_BARS = (0.75, 0.70)
"""The "very close" and "close" bars calibrated on a large catalog (the 18,869 shared posters, bundled model, int8
vectors: 0.749 and 0.705). A small catalog's own bars are lower (its best match is a poorer match: 0.37-0.50 among
4 posters, 0.65 among 164), which would call a 0.34 similarity "very close"; so the bars never go below these."""


class MatchScale:
    """Similarity → words, calibrated on the catalog itself: a title is "very close" when its score beats the median
    best match of catalog posters; "close" when it also beats both the median 10th-best match and the halfway mark
    between a typical best match and two typical unrelated catalog posters; else "loose". The halfway mark matters
    in small catalogs, where the 10th neighbour is already another kind of poster (without it a horror poster
    came out "close" to a cartoon in a 16-title catalog); in a large one the 10th-best match is the higher bar.
    Neither bar goes below a large catalog's (`LARGE_CATALOG_BARS`), and an input that is no poster (the poster
    check) has only "loose" matches: its cosines are high for odd inputs (a noise image's best is 0.77)."""

    def __init__(self, very_close: float, close: float):
        self.very_close = max(float(very_close), LARGE_CATALOG_BARS[0])
        self.close = min(self.very_close, max(float(close), LARGE_CATALOG_BARS[1]))

    @classmethod
    def calibrate(cls, index: SimilarityIndex, mapped: np.ndarray, sample: int = 300, seed: int = 0) -> MatchScale:
        rng = np.random.default_rng(seed)
        rows = rng.choice(len(mapped), size=min(sample, len(mapped)), replace=False)
        best, tenth = [], []
        for r in rows:
            scores = [s for _, s in index.search(mapped[r], 11)][1:]  # [0] is the poster itself
            if scores:
                best.append(scores[0])
                tenth.append(scores[-1])
        if not best:
            return cls(1.0, 1.0)
        partners = (rows + rng.integers(1, len(mapped), size=len(rows))) % len(mapped)  # never the poster itself
        unrelated = np.median((_unit_rows(mapped[rows]) * _unit_rows(mapped[partners])).sum(axis=1))
        very_close = float(np.median(best))
        return cls(very_close, min(very_close, max(float(np.median(tenth)), (very_close + unrelated) / 2)))

    def words(self, score: float, query_is_poster: bool = True) -> str:
        if not query_is_poster:
            return MATCH_WORDS[2]
        return MATCH_WORDS[0] if score >= self.very_close else MATCH_WORDS[1] if score >= self.close else MATCH_WORDS[2]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norms > 0, norms, 1.0)


class SimilarityIndex(abc.ABC):
    """Nearest neighbours by cosine similarity over vectors identified by string keys."""

    keys: list[str]

    @abc.abstractmethod
    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """The k nearest keys to `vector` with their cosine similarity, most similar first."""

    def __len__(self) -> int:
        return len(self.keys)


class ExactIndex(SimilarityIndex):
    """Brute force: unit-normalised vectors in one float32 matrix; exact results."""

    def __init__(self, keys: Sequence[str], vectors: np.ndarray):
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        self.keys = list(keys)
        self.matrix = _unit_rows(vectors)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self.keys or k < 1:
            return []
        scores = self.matrix @ _unit_rows(vector).ravel()
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.keys[i], float(scores[i])) for i in top]


class HnswIndex(SimilarityIndex):
    """Approximate search on an HNSW graph (hnswlib); for catalogs too large for the exact matrix product."""

    def __init__(
        self, keys: Sequence[str], vectors: np.ndarray, *, m: int = 16, ef_construction: int = 200, ef_search: int = 100
    ):
        try:
            import hnswlib
        except ImportError as exc:  # optional extra: pip install postergenre[ann]
            raise ModelError("HnswIndex needs the optional package hnswlib (pip install hnswlib)") from exc
        if len(keys) != len(vectors):
            raise ValueError(f"{len(keys)} keys but {len(vectors)} vectors")
        self.keys = list(keys)
        data = _unit_rows(vectors)
        self._index = hnswlib.Index(space="cosine", dim=data.shape[1])
        self._index.init_index(max_elements=max(1, len(data)), ef_construction=ef_construction, M=m, random_seed=0)
        if len(data):
            self._index.add_items(data, np.arange(len(data)), num_threads=1)
        self._ef_search = ef_search

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        if not self.keys or k < 1:
            return []
        k = min(k, len(self.keys))
        self._index.set_ef(max(self._ef_search, k))
        labels, distances = self._index.knn_query(_unit_rows(vector).reshape(1, -1), k=k, num_threads=1)
        return [(self.keys[int(i)], 1.0 - float(d)) for i, d in zip(labels[0], distances[0], strict=True)]


def build_index(keys: Sequence[str], vectors: np.ndarray, kind: str = "auto") -> SimilarityIndex:
    """`kind`: "exact", "hnsw", or "auto" (HNSW from HNSW_MIN_ITEMS vectors when hnswlib is installed)."""
    if kind == "exact":
        return ExactIndex(keys, vectors)
    if kind == "hnsw":
        return HnswIndex(keys, vectors)
    if kind != "auto":
        raise ValueError(f"unknown index kind {kind!r}; use exact, hnsw or auto")
    if len(keys) >= HNSW_MIN_ITEMS:
        try:
            return HnswIndex(keys, vectors)
        except ModelError:
            pass
    return ExactIndex(keys, vectors)


class SearchSpace:
    """Maps full embeddings to the vectors the index compares (see the module docstring).

    Each part is unit-normalised and scaled by 1/sqrt(2), so the dot product of two mapped vectors is the
    mean of the two cosines.
    """

    def __init__(self, look_slice: slice, look_mean: np.ndarray, genre_profile: GenreProfile | None):
        self.look_slice = look_slice
        self.look_mean = look_mean.astype(np.float32)
        self.genre_profile = genre_profile

    def __call__(self, embeddings: np.ndarray) -> np.ndarray:
        full = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        look = _unit_rows(full[:, self.look_slice] - self.look_mean)
        if self.genre_profile is None:
            return look
        profile = _unit_rows(np.asarray(self.genre_profile(full), dtype=np.float32))
        both: np.ndarray = np.hstack([look, profile]) / np.sqrt(2.0, dtype=np.float32)
        return both


class CatalogSimilarity:
    """The index over one home's catalog posters, with the movie behind each poster hash."""

    def __init__(self, index: SimilarityIndex, movies: dict[str, Any], space: SearchSpace, scale: MatchScale):
        self.index = index
        self.movies = movies  # sha256 -> Movie (the lowest imdb_id when several movies share a poster)
        self.space = space
        self.scale = scale

    @classmethod
    def from_home(
        cls,
        home: Path,
        spec: BackboneSpec,
        *,
        genre_profile: GenreProfile | None = None,
        feature_set: str = SIMILARITY_FEATURE_SET,
        kind: str = "auto",
        vectors: tuple[str, str] | None = None,
        runtime: str | None = None,
    ) -> CatalogSimilarity:
        """Read the catalog's posters and their cached embeddings for `spec`'s backbone: those under the cache
        key `vectors` (the query's runtime's `vector_key`, named `runtime` in messages; default the fp32 key).

        `genre_profile` (the model's embeddings -> probabilities) adds the genre half of the score; without
        it neighbours are found on look alone. Raises ModelError saying which command to run when there is
        no catalog or no embeddings.
        """
        from ..catalog.store import Catalog
        from ..config import get_paths
        from ..features.cache import EmbeddingCache

        db = get_paths(home).db
        backbone, version = vectors or (spec.name, spec.preprocess_version)
        runtime_option = f" --runtime {runtime}" if runtime and runtime != "onnx-int8" else ""
        fix = (
            f"run `postergenre embed --backbone {spec.name}{runtime_option}` "
            "(after importing a catalog and its posters)"
        )
        if not db.is_file():
            raise ModelError(f"no catalog at {db}: comparable titles come from your catalog's posters; {fix}")
        with Catalog(db) as catalog:
            movies: dict[str, Any] = {}
            for movie in catalog.movies():
                if movie.poster_status == "ok" and movie.poster_sha256 and movie.poster_sha256 not in movies:
                    movies[movie.poster_sha256] = movie
        with EmbeddingCache(db, backbone, version) as cache:
            cached_shas, cached = cache.load_all()
        # Keep the cache's row order (no reindexing copy of a ~200 MB matrix); drop rows of posters no
        # movie uses any more.
        keep = np.fromiter((sha in movies for sha in cached_shas), dtype=bool, count=len(cached_shas))
        have = [sha for sha, k in zip(cached_shas, keep, strict=True) if k]
        if not have:
            space = f" on the {runtime} runtime" if runtime else ""
            raise ModelError(
                f"the catalog at {db} has no poster embeddings for backbone {spec.name}{space} "
                f"({len(movies)} posters stored); {fix}"
            )
        if cached.shape[1] != spec.feature_dim:
            raise ModelError(
                f"cached {spec.name} embeddings in {db} have {cached.shape[1]} values, the backbone "
                f"now gives {spec.feature_dim}; {fix}"
            )
        full = cached if keep.all() else cached[keep]
        look_slice = spec.feature_slice(feature_set)
        search_space = SearchSpace(look_slice, full[:, look_slice].mean(axis=0), genre_profile)
        mapped = search_space(full)
        index = build_index(have, mapped, kind)
        return cls(index, {s: movies[s] for s in have}, search_space, MatchScale.calibrate(index, mapped))

    def __len__(self) -> int:
        return len(self.index)

    def search(
        self,
        embedding: np.ndarray,
        k: int,
        *,
        where: SimilarFilter | None = None,
        exclude_sha256: str | None = None,
        exclude_identical: bool = False,
        query_is_poster: bool = True,
    ) -> SimilarResult:
        """The k nearest catalog titles to a full embedding vector that pass `where`, leaving out the query poster
        itself: the poster `exclude_sha256`, and with `exclude_identical` any poster with the same embedding (the
        query came as decoded pixels, so its file hash is unknown)."""
        query = self.space(embedding)[0]
        # A filter may reject most neighbours: then rank the whole catalog (a matrix product for the exact index).
        wanted = len(self.index) if where is not None and where.active else k + 1
        out = []
        for sha, score in self.index.search(query, wanted):
            if sha == exclude_sha256 or (exclude_identical and score >= IDENTICAL_SCORE):
                continue
            m = self.movies[sha]
            if where is not None and not where.keeps(m):
                continue
            out.append(
                SimilarTitle(
                    imdb_id=m.imdb_id,
                    title=m.title,
                    year=m.year,
                    genres=list(m.genres),
                    score=score,
                    poster_sha256=sha,
                    match=self.scale.words(score, query_is_poster),
                    rating=m.content_rating,
                    collections=list(getattr(m, "collections", ()) or ()),
                )
            )
            if len(out) == k:
                break
        return SimilarResult(out, query_is_poster)
