"""The predecessor's network: architecture as described in Keras terms, pixel loading, training, CV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from postergenre.errors import PosterDecodeError
from postergenre.training.seed_cnn import (
    SeedCNN,
    cross_validate_seed_cnn,
    load_pixels,
    predict_seed_cnn,
    train_seed_cnn,
)
from sampling import spread


def test_architecture_matches_keras_description() -> None:
    g = 23
    model = SeedCNN(g)
    # Keras 'valid' 3x3 convs and 2x2 pools: 200 -> 198 -> 99 -> 97 -> 48 -> 46 -> 23.
    conv1 = 3 * 3 * 3 * 50 + 50  # 1,400
    conv2 = 3 * 3 * 50 * 20 + 20  # 9,020
    conv3 = 3 * 3 * 20 * 10 + 10  # 1,810
    dense64 = 23 * 23 * 10 * 64 + 64  # 338,624
    dense32 = 64 * 32 + 32  # 2,080
    out = 32 * g + g
    assert model.flat_dim == 5290
    assert sum(p.numel() for p in model.parameters()) == conv1 + conv2 + conv3 + dense64 + dense32 + out
    x = torch.zeros(2, 3, 200, 200)
    assert model.features(x).shape == (2, 5290)
    assert model(x).shape == (2, g)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (50, (3, 3), (0, 0)),
        (20, (3, 3), (0, 0)),
        (10, (3, 3), (0, 0)),
    ]
    drops = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops == [0.2, 0.2, 0.2, 0.5, 0.5]
    assert all(float(m.bias.detach().abs().sum()) == 0 for m in model.modules() if isinstance(m, torch.nn.Linear))


def _real(shared_rows: list[dict], shared_data, n: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = shared_rows[1000 : 1000 + n]
    counts: dict[str, int] = {}
    for r in rows:
        for genre in r["genres"].split("|"):
            counts[genre] = counts.get(genre, 0) + 1
    genres = sorted(counts, key=lambda k: -counts[k])[:5]
    Y = np.array([[int(gn in r["genres"].split("|")) for gn in genres] for r in rows])
    return load_pixels([shared_data / r["poster"] for r in rows]), Y, genres


def test_load_pixels_squashes_real_posters(shared_data, shared_rows, tmp_path) -> None:
    pixels = load_pixels([shared_data / r["poster"] for r in shared_rows[:3]])
    assert pixels.shape == (3, 200, 200, 3) and pixels.dtype == np.uint8
    assert pixels.std() > 10  # real image content, not a blank canvas
    bad = tmp_path / "not-a-poster.jpg"
    bad.write_bytes(b"hello")
    with pytest.raises(PosterDecodeError, match=r"not-a-poster\.jpg"):
        load_pixels([bad])


@pytest.mark.slow
def test_training_on_real_posters_reduces_loss(shared_data, shared_rows) -> None:
    pixels, Y, _ = _real(shared_rows, shared_data, 40)
    model = train_seed_cnn(pixels, Y, epochs=3, seed=0)
    assert len(model.epoch_losses) == 3
    assert model.epoch_losses[-1] < model.epoch_losses[0]
    probs = predict_seed_cnn(model, pixels[:7])
    assert probs.shape == (7, 5) and ((probs > 0) & (probs < 1)).all()


def test_deterministic_and_cross_validation_fills_every_row() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (24, 64, 64, 3), dtype=np.uint8)  # small input keeps this test fast
    Y = rng.integers(0, 2, (24, 3))
    a = predict_seed_cnn(train_seed_cnn(pixels, Y, epochs=1, seed=3), pixels)
    b = predict_seed_cnn(train_seed_cnn(pixels, Y, epochs=1, seed=3), pixels)
    assert np.array_equal(a, b)
    folds = [(np.arange(12, 24), np.arange(0, 12)), (np.arange(0, 12), np.arange(12, 24))]
    oof = cross_validate_seed_cnn(pixels, Y, folds, epochs=1)
    assert oof.shape == (24, 3) and np.isfinite(oof).all()


def test_seed_cnn_baseline_keeps_the_collection_filter(shared_data, shared_rows, tmp_path) -> None:
    """`train --head seed-cnn --collection X` cross-validates X's posters only, like every other head (issue 18, #3)."""
    import csv

    from postergenre.catalog.filters import MovieFilter
    from postergenre.catalog.formats import read_catalog
    from postergenre.catalog.store import Catalog
    from postergenre.config import get_paths
    from postergenre.posters.attach import attach_folder
    from postergenre.posters.store import PosterStore
    from postergenre.training.baseline import seed_cnn_cv

    rows = [r for r in spread(shared_rows, 60) if (shared_data / r["poster"]).is_file()][:36]
    paths = get_paths(tmp_path / "home").ensure()
    with Catalog(paths.db) as catalog:
        for name, part in (("general", rows[:24]), ("other", rows[24:])):
            source = tmp_path / name
            (source / "posters").mkdir(parents=True)
            with open(source / "movies.csv", "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=list(part[0]))
                writer.writeheader()
                for row in part:
                    (source / "posters" / Path(row["poster"]).name).symlink_to(shared_data / row["poster"])
                    writer.writerow({**row, "poster": str(shared_data / row["poster"])})
            read = read_catalog(source / "movies.csv")
            catalog.upsert_movies(read.records, collection=name, source=str(source / "movies.csv"), fmt=read.fmt)
            attach_folder(catalog, PosterStore(paths.posters), source / "posters")
        result = seed_cnn_cv(
            catalog,
            paths.posters,
            flt=MovieFilter(collections=frozenset({"other"})),
            min_examples=2,
            limit=10,
            folds=2,
            epochs=1,
            bootstrap=5,
        )
    assert 0 < result["subset"]["of"] <= 12  # the `other` collection's movies (with a kept genre), not all 36
