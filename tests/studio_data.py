"""Real studio films for the studio-extension tests: labels and plots from the studio CSV, cheap colour features
of its posters (a weak but real poster signal that needs no backbone)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from postergenre.catalog.genres import normalise_genres

GENRES = [
    "Action",
    "Adventure",
    "Animation",
    "Biography",
    "Comedy",
    "Documentary",
    "Drama",
    "Family",
    "Fantasy",
    "Romance",
    "Sport",
    "Music",
    "History",
]


def studio_csv(shared_data: Path) -> Path:
    path = shared_data / "studio-catalog" / "imdb_api_export.csv"
    if not path.is_file():
        pytest.skip(f"studio catalog not found at {path}")
    return path


def studio_films(shared_data: Path, genres: list[str] = GENRES) -> tuple[list[str], list[str], np.ndarray]:
    """(ids, plots, Y [N, len(genres)]) of studio films with a plot and at least one of `genres`, in CSV order."""
    index = {g: j for j, g in enumerate(genres)}
    ids, plots, ys = [], [], []
    with open(studio_csv(shared_data), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            y = np.zeros(len(genres), dtype=np.int8)
            for g in normalise_genres([x for x in row["genres"].split(",") if x.strip()]):
                if g in index:
                    y[index[g]] = 1
            if y.any() and row["plot"].strip():
                ids.append(row["id"])
                plots.append(row["plot"].strip())
                ys.append(y)
    return ids, plots, np.stack(ys)


def colour_features(path: Path) -> np.ndarray:
    """4x4x4 RGB histogram + brightness/saturation statistics of a poster (64 + 4 values)."""
    from postergenre.posters.images import decode_image

    img = np.asarray(decode_image(path, max_side=96).convert("RGB").resize((48, 72)), dtype=np.float32) / 255.0
    q = np.minimum((img * 4).astype(int), 3)
    hist = np.bincount((q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]).ravel(), minlength=64) / q[..., 0].size
    sat = img.max(axis=2) - img.min(axis=2)
    return np.concatenate([hist, [img.mean(), img.std(), sat.mean(), sat.std()]]).astype(np.float32)


_CACHE: dict[str, object] = {}


def studio_signals(shared_data: Path, n_general: int = 400):
    """Studio films with a poster and a plot, and a weak real poster signal for them.

    Returns (plots, Y, general_probs, groups): `general_probs` come from a logistic-regression head on colour
    features fitted on `n_general` general posters only (so they are out-of-sample for studio films), `groups`
    are poster sha256 group ids. Cached per session (poster decoding is the slow part).
    """
    if "signals" in _CACHE:
        return _CACHE["signals"]
    import hashlib

    from postergenre.labelled.split import poster_groups
    from postergenre.model.heads import make_head

    ids, plots, Y = studio_films(shared_data)
    folder = studio_csv(shared_data).parent / "posters"
    keep = [i for i, x in enumerate(ids) if (folder / f"{x}.jpg").is_file()]
    X = np.stack([colour_features(folder / f"{ids[i]}.jpg") for i in keep])
    shas = [hashlib.sha256((folder / f"{ids[i]}.jpg").read_bytes()).hexdigest() for i in keep]
    index = {g: j for j, g in enumerate(GENRES)}
    gx, gy = [], []
    with open(shared_data / "movies.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            y = np.zeros(len(GENRES), dtype=np.int8)
            for g in row["genres"].split("|"):
                if g in index:
                    y[index[g]] = 1
            if y.any():
                gx.append(colour_features(shared_data / row["poster"]))
                gy.append(y)
            if len(gx) >= n_general:
                break
    head = make_head("logreg", {"l2": 1e-2}).fit(np.stack(gx), np.stack(gy))
    out = ([plots[i] for i in keep], Y[keep], head.predict_proba(X).astype(np.float64), poster_groups(shas))
    _CACHE["signals"] = out
    return out
