"""Training and evaluation data: catalog movies selected by a filter, their cached vectors and multi-hot labels.

`assemble_dataset` is the one place a selection becomes a matrix; `subset` cuts one down (folds, hold-outs,
collections) keeping every per-movie field aligned.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..catalog.filters import MovieFilter, frequent_genres
from ..catalog.records import Movie
from ..catalog.store import Catalog
from ..errors import EmptySelectionError, ModelError
from ..features.cache import ViewCaches
from ..features.embed import EmbedSummary
from ..features.registry import BackboneSpec
from ..features.views import MIRROR, ONE_VIEW, POSTER, parse_views
from ..model.head_types import DEFAULT_FEATURE_SET
from ..posters.store import PosterStore
from ..progress import ProgressFn, no_progress
from .labels import label_matrix
from .split import poster_groups


@dataclass
class Dataset:
    """Movies selected for training or evaluation with their cached embeddings and multi-hot labels."""

    ids: list[str]
    shas: list[str]
    genres: list[str]
    X: np.ndarray  # full cached vectors of the posters as given [N, D_full] float32 (the first view)
    Y: np.ndarray  # multi-hot [N, G] int8
    backbone: str
    preprocess_version: str
    feature_set: str
    feature_slice: tuple[int, int]
    dropped_genres: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    movie_genres: list[tuple[str, ...]] = field(default_factory=list)
    titles: list[str | None] = field(default_factory=list)
    ratings: list[str | None] = field(default_factory=list)  # content rating per movie (None = unrated)
    years: list[int | None] = field(default_factory=list)
    collections: list[tuple[str, ...]] = field(default_factory=list)  # empty when the catalog has none
    vectors: tuple[str, str] = ("", "")  # the embedding-cache key X was read under (fp32 or int8 vectors)
    views: tuple[str, ...] = ONE_VIEW  # the views of each poster read (features/views.py), the poster first
    view_X: np.ndarray | None = None  # full vectors of every view [N, V, D_full] (None: the poster alone, X)

    @property
    def features(self) -> np.ndarray:
        """The feature-set slice the head sees, of the posters as given [N, F]."""
        return self.X[:, self.feature_slice[0] : self.feature_slice[1]]

    @property
    def view_vectors(self) -> np.ndarray:
        """Full vectors of every view [N, V, D_full] (what a model reading these views answers from)."""
        return self.X[:, None, :] if self.view_X is None else self.view_X

    @property
    def view_features(self) -> np.ndarray:
        """The feature-set slice of every view [N, V, F] (what the head trains on and reads)."""
        return self.view_vectors[:, :, self.feature_slice[0] : self.feature_slice[1]]

    @property
    def groups(self) -> np.ndarray:
        return poster_groups(self.shas)

    def fingerprint(self) -> dict[str, Any]:
        """sha256 over sorted (id, poster sha256, genres) plus counts: two data sets with equal hashes are the same."""
        h = hashlib.sha256()
        for imdb_id, sha, gs in sorted(zip(self.ids, self.shas, self.movie_genres, strict=True)):
            h.update(f"{imdb_id}\t{sha}\t{'|'.join(gs)}\n".encode())
        return {
            "sha256": h.hexdigest(),
            "movies": len(self.ids),
            "posters": len(set(self.shas)),
            "genre_counts": {g: int(c) for g, c in zip(self.genres, self.Y.sum(axis=0), strict=True)},
            "dropped_genres": self.dropped_genres,
            "profile": self.profile(),
            "vectors": "/".join(self.vectors),
            "views": list(self.views),
        }

    def profile(self) -> dict[str, Any]:
        """What the model card says about the data, computed from it: ratings, years, collections (not hashed)."""
        n = len(self.ids)
        ratings = Counter(r for r in self.ratings if r)
        years = sorted(y for y in self.years if y is not None)
        collections = Counter(c for cs in self.collections for c in cs)
        out: dict[str, Any] = {
            "movies": n,
            "rated": int(sum(ratings.values())),
            "ratings": dict(ratings.most_common()),
            "years_known": len(years),
            "year_min": years[0] if years else None,
            "year_max": years[-1] if years else None,
            "year_median": int(statistics.median(years)) if years else None,
            "year_quartiles": [int(q) for q in statistics.quantiles(years, n=4)] if len(years) >= 4 else None,
            "collections": dict(collections.most_common()),
            "in_a_collection": int(sum(1 for cs in self.collections if cs)),
        }
        return out


def poster_sha(movie: Movie) -> str:
    """The stored poster's sha256 of a movie `training_filter` kept (it requires one)."""
    if movie.poster_sha256 is None:
        raise EmptySelectionError(f"{movie.imdb_id} was selected for training without a stored poster")
    return movie.poster_sha256


def training_filter(flt: MovieFilter | None) -> MovieFilter:
    """Every field of the caller's filter (collections and ratings too), plus the two every training selection needs:
    a poster and at least one genre. The one rule for the poster heads and the seed-CNN baseline alike."""
    return replace(flt or MovieFilter(), require_poster=True, require_genres=True)


def embed_selection(
    catalog: Catalog,
    store: PosterStore,
    *,
    flt: MovieFilter | None = None,
    backbone: str | None = None,
    views: Sequence[str] | str | None = ONE_VIEW,
    runtime_cache: Path | str | None = None,
    progress: ProgressFn = no_progress,
) -> EmbedSummary:
    """Embed the views of the posters `assemble_dataset` reads for the same selection, where the cache misses them
    (nothing to do once they are there). `train` and `evaluate` call it first, so a data folder embedded for
    serving (the posters alone) trains a two-view model without a separate `embed` step."""
    from ..features.embed import embed_catalog
    from ..features.registry import get_backbone

    return embed_catalog(
        catalog,
        store,
        get_backbone(backbone),
        flt=training_filter(flt),
        views=parse_views(views),
        runtime_cache=runtime_cache,
        progress=progress,
    )


def assemble_dataset(
    catalog: Catalog,
    *,
    flt: MovieFilter | None = None,
    backbone: str | None = None,
    feature_set: str = DEFAULT_FEATURE_SET,
    min_examples: int = 100,
    genres: Sequence[str] | None = None,
    skip_unembedded: bool = False,
    runtime: str = "auto",
    views: Sequence[str] = ONE_VIEW,
) -> Dataset:
    """Select movies, keep genres with >= `min_examples` (or exactly `genres`), and load their cached vectors of
    each of `views` (features/views.py; default the poster alone).

    Movies whose poster failed to embed are left out with a message; posters never embedded raise a ModelError
    that says how to embed them (or, with `skip_unembedded`, are left out with a message, e.g. to preview
    results while `postergenre embed` is still running). Movies with none of the kept genres are left out (every
    evaluated movie has at least one true genre, as in the catalog). The vectors are those `runtime` computes
    (`features.runtime.vector_key`: int8 ones where that is the default runtime).
    """
    from ..features.registry import get_backbone
    from ..features.runtime import vector_key

    spec = get_backbone(backbone)
    sl = spec.feature_slice(feature_set)
    movies: list[Movie] = training_filter(flt).apply(catalog.movies())
    with ViewCaches(catalog.path, vector_key(spec, runtime), parse_views(views)) as cache:
        return _assemble(movies, cache, spec, sl, feature_set, min_examples, genres, skip_unembedded)


def _assemble(
    movies: list[Movie],
    cache: ViewCaches,
    spec: BackboneSpec,
    sl: slice,
    feature_set: str,
    min_examples: int,
    genres: Sequence[str] | None,
    skip_unembedded: bool,
) -> Dataset:
    messages: list[str] = []
    movies = _embedded_only(movies, cache, spec, skip_unembedded, messages)
    if genres is None:
        kept, dropped = frequent_genres(movies, min_examples)
        if dropped:
            messages.append(
                f"{len(dropped)} genres left out with fewer than {min_examples} examples (--min-examples): "
                + ", ".join(f"{g} ({n})" for g, n in dropped.items())
            )
    else:
        kept, dropped = list(genres), {}
    index = set(kept)
    rows = [m for m in movies if any(g in index for g in m.genres)]
    if len(rows) < len(movies):
        gone = len(movies) - len(rows)
        messages.append(
            f"{gone} movie{'s' if gone != 1 else ''} left out: none of {'their' if gone != 1 else 'its'} "
            f"genres is among the {len(kept)} kept"
        )
    if not rows:
        raise EmptySelectionError(f"no selected movie has any of the genres {', '.join(kept)}")
    shas = [poster_sha(m) for m in rows]
    unique = sorted(set(shas))
    _require_embedded(cache, unique, spec)
    vectors = cache.get(unique)
    pos = {s: i for i, s in enumerate(unique)}
    view_X = vectors[[pos[s] for s in shas]]
    Y = label_matrix((m.genres for m in rows), kept)
    return Dataset(
        ids=[m.imdb_id for m in rows],
        shas=shas,
        genres=list(kept),
        X=view_X[:, 0],
        Y=Y,
        backbone=spec.name,
        preprocess_version=spec.preprocess_version,
        feature_set=feature_set,
        feature_slice=(sl.start or 0, sl.stop),
        dropped_genres=dict(dropped),
        messages=messages,
        movie_genres=[tuple(sorted(m.genres)) for m in rows],
        titles=[m.title for m in rows],
        ratings=[m.content_rating for m in rows],
        years=[m.year for m in rows],
        collections=[_collections_of(m) for m in rows],
        vectors=(cache.poster.backbone, cache.poster.preprocess_version),
        views=cache.views,
        view_X=view_X if len(cache.views) > 1 else None,
    )


def _embedded_only(
    movies: list[Movie], cache: ViewCaches, spec: BackboneSpec, skip_unembedded: bool, messages: list[str]
) -> list[Movie]:
    """`movies` less those whose poster failed to embed (and, with `skip_unembedded`, those not embedded yet), each
    group left out with a note in `messages`; an empty result is an error."""
    if skip_unembedded:
        missing = set(cache.missing(sorted({poster_sha(m) for m in movies})))
        if missing:
            movies = [m for m in movies if m.poster_sha256 not in missing]
            messages.append(
                f"{len(missing)} posters without a {spec.name} embedding left out (embedding still running?)"
            )
            if not movies:
                raise EmptySelectionError(
                    f"no selected poster has a {spec.name} embedding yet: run `postergenre embed`"
                )
    failed = cache.failures()
    if failed:
        before = len(movies)
        movies = [m for m in movies if m.poster_sha256 not in failed]
        if len(movies) < before:
            messages.append(f"{before - len(movies)} movies left out: their poster failed to embed with {spec.name}")
        if not movies:
            raise EmptySelectionError(f"no movies left: every selected poster failed to embed with {spec.name}")
    return movies


def _require_embedded(cache: ViewCaches, shas: Sequence[str], spec: BackboneSpec) -> None:
    """ModelError saying how many posters miss which view's vectors, and the command that computes them."""
    for view, gap in cache.missing_by_view(shas).items():
        if gap:
            what = "" if view == POSTER else f" {view}-view"
            int8 = " (int8 vectors, the default runtime)" if cache.poster.backbone != spec.name else ""
            also = f" --views {','.join(cache.views)}" if view != POSTER or len(cache.views) > 1 else ""
            raise ModelError(
                f"{len(gap)} of {len(set(shas))} selected posters have no{what} {spec.name} embedding yet{int8}: "
                f"run `postergenre embed --backbone {spec.name}{also}`"
                + (" (it embeds each poster and its mirror image)" if view == MIRROR else "")
            )


def _collections_of(movie: Movie) -> tuple[str, ...]:
    """The movie's collections (e.g. `studio`, `general`) when the catalog records them, else ()."""
    value = getattr(movie, "collections", None) or getattr(movie, "collection", None)
    if not value:
        return ()
    return (value,) if isinstance(value, str) else tuple(sorted(value))


def subset(ds: Dataset, idx: np.ndarray) -> Dataset:
    view_X = None if ds.view_X is None else ds.view_X[idx]
    return Dataset(
        ids=[ds.ids[i] for i in idx],
        shas=[ds.shas[i] for i in idx],
        genres=ds.genres,
        X=ds.X[idx] if view_X is None else view_X[:, 0],
        Y=ds.Y[idx],
        backbone=ds.backbone,
        preprocess_version=ds.preprocess_version,
        feature_set=ds.feature_set,
        feature_slice=ds.feature_slice,
        dropped_genres=ds.dropped_genres,
        messages=ds.messages,
        movie_genres=[ds.movie_genres[i] for i in idx],
        titles=_pick(ds.titles, idx),
        ratings=_pick(ds.ratings, idx),
        years=_pick(ds.years, idx),
        collections=_pick(ds.collections, idx),
        vectors=ds.vectors,
        views=ds.views,
        view_X=view_X,
    )


def _pick(values: list, idx: np.ndarray) -> list:
    return [values[i] for i in idx] if values else []


def data_key(ds: Dataset) -> str:
    """Identity of the training matrix for the fold cache: data fingerprint, genre columns, features used."""
    h = hashlib.sha256()
    for part in (
        ds.fingerprint()["sha256"],
        "|".join(ds.genres),
        ds.backbone,
        ds.preprocess_version,
        "/".join(ds.vectors),
        f"{ds.feature_slice[0]}:{ds.feature_slice[1]}",
        ",".join(ds.views),
    ):
        h.update(part.encode())
        h.update(b"\n")
    return h.hexdigest()


def plots_of(catalog: Catalog, ids: Sequence[str]) -> list[str | None]:
    """Each movie's stored plot (its synopsis), None where the catalog has none."""
    wanted = set(ids)
    plots = {m.imdb_id: m.plot for m in catalog.movies() if m.imdb_id in wanted}
    return [plots.get(i) for i in ids]
