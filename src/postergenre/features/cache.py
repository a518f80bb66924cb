"""Embedding cache: one float32 vector per (poster sha256, backbone, preprocessing version).

The vectors live in the catalog's SQLite file, next to the movies they describe, so one file moves a
whole data folder. Keying by content hash means duplicate posters are embedded once and a re-fetched
identical poster needs no work; keying by backbone and preprocessing version means a model can never
be fed vectors computed another way (get() simply finds none).

Vectors are stored as raw little-endian float32 BLOBs (11 KB for the 2,848-dim lite0 vector); 18,000
of them load in well under a second with one query and one np.frombuffer. Each batch is written in
one transaction, so a killed run leaves only complete rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..catalog.database import connect, transaction
from ..clock import utc_now
from ..errors import PosterGenreError
from .views import POSTER, view_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    sha256             TEXT NOT NULL,
    backbone           TEXT NOT NULL,
    preprocess_version TEXT NOT NULL,
    dim                INTEGER NOT NULL,
    vector             BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    PRIMARY KEY (sha256, backbone, preprocess_version)
);
CREATE TABLE IF NOT EXISTS embedding_failures (
    sha256             TEXT NOT NULL,
    backbone           TEXT NOT NULL,
    preprocess_version TEXT NOT NULL,
    reason             TEXT NOT NULL,
    at                 TEXT NOT NULL,
    PRIMARY KEY (sha256, backbone, preprocess_version)
);
"""

_DTYPE = np.dtype("<f4")
_IN_CHUNK = 500  # sha256 values per `IN (...)` query (SQLite's parameter limit is far above)


class MissingEmbeddingsError(PosterGenreError):
    """Posters asked for have no cached vector for this backbone and preprocessing version."""


class EmbeddingCache:
    """Vectors of one backbone + preprocessing version inside the catalog database `db_path`."""

    def __init__(self, db_path: Path | str, backbone: str, preprocess_version: str):
        self.path = Path(db_path)
        self.backbone = backbone
        self.preprocess_version = preprocess_version
        self.conn = connect(self.path, SCHEMA)
        self._key = (backbone, preprocess_version)

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    # -- reading ---------------------------------------------------------------------------------

    def _rows(self, column: str, table: str, shas: Sequence[str] | None) -> Iterator[tuple]:
        """(sha256, column) rows for this key; all of them when `shas` is None or large."""
        base = f"SELECT sha256, {column} FROM {table} WHERE backbone = ? AND preprocess_version = ?"
        if shas is None or len(shas) > 4 * _IN_CHUNK:
            wanted = None if shas is None else set(shas)
            for row in self.conn.execute(base, self._key):
                if wanted is None or row[0] in wanted:
                    yield row
            return
        unique = list(dict.fromkeys(shas))
        for i in range(0, len(unique), _IN_CHUNK):
            chunk = unique[i : i + _IN_CHUNK]
            yield from self.conn.execute(f"{base} AND sha256 IN ({','.join('?' * len(chunk))})", (*self._key, *chunk))

    def count(self) -> int:
        return self.conn.execute(
            "SELECT count(*) FROM embeddings WHERE backbone = ? AND preprocess_version = ?", self._key
        ).fetchone()[0]

    def missing(self, shas: Sequence[str]) -> list[str]:
        """The hashes in `shas` (order kept, duplicates dropped) that have no vector yet."""
        have = {sha for sha, _ in self._rows("1", "embeddings", shas)}
        return [s for s in dict.fromkeys(shas) if s not in have]

    def get(self, shas: Sequence[str]) -> np.ndarray:
        """float32 [len(shas), D] in the order of `shas` (duplicates allowed).

        Raises MissingEmbeddingsError naming how many are missing and the command that computes them.
        """
        found = dict(self._rows("vector", "embeddings", shas))
        missing = [s for s in dict.fromkeys(shas) if s not in found]
        if missing:
            failed = set(self.failures()) & set(missing)
            detail = f" ({len(failed)} of them failed to decode earlier)" if failed else ""
            raise MissingEmbeddingsError(
                f"{len(missing)} of {len(set(shas))} posters have no {self.backbone} embedding"
                f" (preprocessing {self.preprocess_version}){detail}; "
                f"run `postergenre embed --backbone {self.backbone.split('+')[0]}`"
            )
        if not shas:
            return np.zeros((0, 0), dtype=np.float32)
        size = len(found[shas[0]])
        # One allocation filled row by row: joining blobs and converting would copy 200 MB twice.
        out = np.empty((len(shas), size // _DTYPE.itemsize), dtype=np.float32)
        for i, sha in enumerate(shas):
            blob = found[sha]
            if len(blob) != size:
                raise PosterGenreError(
                    f"embedding cache in {self.path} holds vectors of different sizes for {self.backbone}"
                )
            out[i] = np.frombuffer(blob, dtype=_DTYPE)
        return out

    def load_all(self) -> tuple[list[str], np.ndarray]:
        """Every cached (sha256, vector) of this key, sorted by sha256 (for similarity indexes)."""
        rows = sorted(self._rows("vector", "embeddings", None))
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        shas = [r[0] for r in rows]
        return shas, self.get(shas)

    def failures(self) -> dict[str, str]:
        """sha256 -> reason, for posters that could not be embedded with this backbone."""
        return dict(self._rows("reason", "embedding_failures", None))

    # -- writing ---------------------------------------------------------------------------------

    def record(self, vectors: Mapping[str, np.ndarray], failures: Mapping[str, str]) -> None:
        """Store vectors and failures of one batch in one transaction (all or nothing)."""
        now = utc_now()
        rows = []
        for sha, vec in vectors.items():
            arr = np.ascontiguousarray(vec, dtype=_DTYPE)
            if arr.ndim != 1 or not np.isfinite(arr).all():
                raise ValueError(f"refusing to cache a non-finite or non-1-D vector for poster {sha}")
            rows.append((sha, *self._key, arr.shape[0], arr.tobytes(), now))
        with transaction(self.conn) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO embeddings (sha256, backbone, preprocess_version, dim, vector, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            if vectors:
                conn.executemany(
                    "DELETE FROM embedding_failures WHERE sha256 = ? AND backbone = ? AND preprocess_version = ?",
                    [(sha, *self._key) for sha in vectors],
                )
            conn.executemany(
                "INSERT OR REPLACE INTO embedding_failures (sha256, backbone, preprocess_version, reason, at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(sha, *self._key, reason, now) for sha, reason in failures.items()],
            )

    def put_many(self, shas: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors [len(shas), D] in one transaction."""
        if len(shas) != len(vectors):
            raise ValueError(f"{len(shas)} hashes for {len(vectors)} vectors")
        self.record(dict(zip(shas, vectors, strict=True)), {})

    def mark_failed(self, sha: str, reason: str) -> None:
        self.record({}, {sha: reason})


class ViewCaches:
    """The caches of each view of a poster (`views.py`) for one runtime's vectors, read and written together.

    `key`: the runtime's cache key (the poster view's); each view's vectors live under `views.view_key(key, view)`.
    """

    def __init__(self, db_path: Path | str, key: tuple[str, str], views: Sequence[str]):
        self.views = tuple(views)
        if not self.views or self.views[0] != POSTER:
            raise ValueError(f"views must start with {POSTER!r}, got {self.views}")
        self.by_view: dict[str, EmbeddingCache] = {}
        try:
            for view in self.views:
                self.by_view[view] = EmbeddingCache(db_path, *view_key(key, view))
        except BaseException:
            self.close()
            raise

    @property
    def poster(self) -> EmbeddingCache:
        """The poster's own vectors (the first view)."""
        return self.by_view[POSTER]

    def __enter__(self) -> ViewCaches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for cache in self.by_view.values():
            cache.close()

    def missing_by_view(self, shas: Sequence[str]) -> dict[str, set[str]]:
        """Per view, the hashes in `shas` that have no vector of it yet."""
        return {view: set(cache.missing(shas)) for view, cache in self.by_view.items()}

    def missing(self, shas: Sequence[str]) -> list[str]:
        """The hashes in `shas` (order kept, duplicates dropped) that miss at least one view."""
        gaps = self.missing_by_view(shas)
        return [s for s in dict.fromkeys(shas) if any(s in gap for gap in gaps.values())]

    def get(self, shas: Sequence[str]) -> np.ndarray:
        """float32 [len(shas), len(views), D]; MissingEmbeddingsError (naming the view's key) when one is missing."""
        out: np.ndarray | None = None
        for j, cache in enumerate(self.by_view.values()):
            vectors = cache.get(shas)
            if out is None:  # filled view by view: one view's vectors at a time beside the result
                out = np.empty((len(shas), len(self.views), vectors.shape[1]), dtype=np.float32)
            out[:, j] = vectors
        assert out is not None
        return out

    def failures(self) -> dict[str, str]:
        """sha256 -> reason, for posters that could not be embedded in some view."""
        out: dict[str, str] = {}
        for cache in self.by_view.values():
            out |= cache.failures()
        return out
