"""Best and worst posters per genre, as thumbnails for the evaluation report (fastai's `plot_top_losses` idea).

For each genre: the posters the model is most confidently right about (true genre, highest probability) and
the ones it is most wrong about (highest binary cross-entropy: a true genre with a low probability, "missed",
or a wrong genre with a high one, "false alarm"). Thumbnails are decoded by the one poster decoder, shrunk
to at most `THUMB_SIDE` pixels and embedded as JPEG data URLs, so the report stays a single file; only the few
posters shown are read, and a poster that cannot be read is shown without a picture.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import PosterGenreError
from ..model.logistic import PROBABILITY_EPS
from ..posters.images import decode_image

THUMB_SIDE = 120


@dataclass(frozen=True)
class PosterExample:
    imdb_id: str
    title: str | None
    true_genres: tuple[str, ...]
    probability: float
    kind: str  # "correct", "missed" or "false alarm"
    thumbnail: str | None  # data URL, or None when the poster could not be read


@dataclass(frozen=True)
class GenreExamples:
    genre: str
    best: list[PosterExample]
    worst: list[PosterExample]


def thumbnail_data_url(path: Path, side: int = THUMB_SIDE) -> str | None:
    """A JPEG data URL of the poster at `path` with its longer side at most `side` pixels (None if unreadable)."""
    try:
        image = decode_image(path, max_side=side)
    except PosterGenreError:
        return None
    image.thumbnail((side, side))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=75)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def best_and_worst(
    Y: np.ndarray,
    P: np.ndarray,
    genres: Sequence[str],
    ids: Sequence[str],
    titles: Sequence[str | None],
    poster_path: Callable[[int], Path | None],
    n: int = 3,
) -> list[GenreExamples]:
    """Per genre (in `genres` order) the `n` most confident correct posters and the `n` highest-loss ones."""
    y = np.asarray(Y).astype(bool)
    p = np.clip(np.asarray(P, dtype=np.float64), PROBABILITY_EPS, 1 - PROBABILITY_EPS)
    thumbs: dict[int, str | None] = {}

    def example(i: int, j: int, kind: str) -> PosterExample:
        if i not in thumbs:
            path = poster_path(i)
            thumbs[i] = thumbnail_data_url(path) if path is not None else None
        true = tuple(g for g, t in zip(genres, y[i], strict=True) if t)
        return PosterExample(ids[i], titles[i] if titles else None, true, float(P[i, j]), kind, thumbs[i])

    out = []
    for j, genre in enumerate(genres):
        pos = np.flatnonzero(y[:, j])
        best = pos[np.argsort(-p[pos, j], kind="stable")[:n]]
        loss = np.where(y[:, j], -np.log(p[:, j]), -np.log(1 - p[:, j]))
        worst = np.argsort(-loss, kind="stable")[:n]
        out.append(
            GenreExamples(
                genre,
                [example(int(i), j, "correct") for i in best],
                [example(int(i), j, "missed" if y[i, j] else "false alarm") for i in worst],
            )
        )
    return out
