"""The one build of a saved model (`model.assembly.assemble`): every face reads the same probabilities from it.

A tiny model with the studio extensions is trained on synthetic vectors, saved and loaded; the model core, the
Grad-CAM view and the evaluation then give the same probabilities (to 1e-6). The build owns the thresholds of each
signal, loads the ensemble as a part made of parts, answers without torch or scikit-learn, and takes a new part by
its class and one slot.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from postergenre.catalog.records import Movie
from postergenre.errors import ModelError
from postergenre.features.registry import get_backbone
from postergenre.labelled.datasets import Dataset
from postergenre.model import layout, parts
from postergenre.model.artifact import ModelArtifact
from postergenre.model.assembly import COMBINED, POSTER, SYNOPSIS, assemble
from postergenre.model.heads import EnsembleHead, make_head
from postergenre.model.layout import ModelParts, Slot
from postergenre.model.parts import PosterStage, register_part
from postergenre.model.poster_check import PosterCheck

SPEC = get_backbone("efficientnet-lite0")
GENRES = ["Action", "Comedy", "Drama", "Family", "Horror"]
WORDS = {
    "Action": "an explosive chase and a fight on a speeding train",
    "Comedy": "a hilarious mix-up full of jokes",
    "Drama": "a grieving mother and a painful loss",
    "Family": "kids and their dog on a holiday adventure",
    "Horror": "a ghost haunts the house at night",
}
FILLER = ["in a small town", "across the sea", "one summer", "in the city", "after school", "during the war"]


def tiny_catalog(n_general: int = 240, n_studio: int = 90, seed: int = 0) -> tuple[Dataset, list[Movie]]:
    """Synthetic films: full-width vectors whose pooled columns carry the genres, general and studio collections, plots
    that name the studio films' genres in words (a few studio films have a plot but no poster)."""
    rng = np.random.default_rng(seed)
    n, g = n_general + n_studio, len(GENRES)
    Y = (rng.random((n, g)) < 0.3).astype(np.int8)
    Y[np.flatnonzero(~Y.any(axis=1)), rng.integers(0, g, size=int((~Y.any(axis=1)).sum()))] = 1
    X = rng.normal(size=(n, SPEC.feature_dim)).astype(np.float32)
    X[:, : 8 * g] += np.repeat(2.0 * Y - 1.0 + rng.normal(0, 1.0, size=Y.shape), 8, axis=1).astype(np.float32)
    ids, shas = [f"tt{i:07d}" for i in range(n)], [f"{i:064x}" for i in range(n)]
    collections = [("general",) if i < n_general else ("studio",) for i in range(n)]
    movie_genres = [tuple(GENRES[j] for j in np.flatnonzero(y)) for y in Y]

    def plot(genres: tuple[str, ...]) -> str:
        return f"{' and '.join(WORDS[x] for x in genres)} {FILLER[int(rng.integers(len(FILLER)))]}."

    movies = [
        Movie(
            ids[i],
            f"Film {i}",
            2000,
            movie_genres[i],
            plot=plot(movie_genres[i]) if i >= n_general else None,
            collections=collections[i],
            poster_sha256=shas[i],
            poster_status="ok",
        )
        for i in range(n)
    ]
    movies += [
        Movie(f"tt9{i:06d}", f"Story {i}", 2001, (GENRES[i % g],), plot=plot((GENRES[i % g],)), collections=("studio",))
        for i in range(8)
    ]
    sl = SPEC.feature_slice("pooled")
    ds = Dataset(
        ids,
        shas,
        list(GENRES),
        X,
        Y,
        SPEC.name,
        SPEC.preprocess_version,
        "pooled",
        (sl.start, sl.stop),
        movie_genres=movie_genres,
        titles=[m.title for m in movies[:n]],
        ratings=[None] * n,
        years=[2000] * n,
        collections=collections,
    )
    return ds, movies


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelArtifact, ModelArtifact, Dataset, list[Movie]]:
    """(the trained artifact, the same saved and loaded back, its data set, its movies)."""
    from postergenre.training.options import TrainOptions
    from postergenre.training.train import train

    ds, movies = tiny_catalog()
    result = train(ds, TrainOptions(feature_set="pooled", folds=3, bootstrap=10, threads=1), movies=movies)
    assert result.studio is not None
    folder = result.artifact.save(tmp_path_factory.mktemp("tiny") / "model")
    return result.artifact, ModelArtifact.load(folder), ds, movies


def test_the_core_the_gradcam_view_and_evaluation_give_the_same_probabilities(tiny_model) -> None:
    from postergenre.evaluation.evaluate import product_signals
    from postergenre.predict.core import ModelCore

    trained, loaded, ds, movies = tiny_model
    plots = [m.plot for m in movies[: len(ds.ids)]]
    rows = np.flatnonzero([p is not None for p in plots])[:20]
    X, texts = ds.X[rows], [plots[i] for i in rows]
    # The model as trained and as loaded from disk answer bit for bit alike.
    before, after = assemble(trained), assemble(loaded)
    np.testing.assert_array_equal(before.poster_probabilities(X), after.poster_probabilities(X))
    np.testing.assert_array_equal(before.synopsis_probabilities(texts), after.synopsis_probabilities(texts))

    core = ModelCore(loaded, embedder=None)
    readings = core.read_embeddings(X, texts)
    poster = np.array([[r.poster_probabilities[g] for g in GENRES] for r in readings])
    combined = np.array([[r.probabilities[g] for g in GENRES] for r in readings])
    with torch.no_grad():
        view = torch.sigmoid(after.torch_view()(torch.from_numpy(X))).double().numpy()
    signals = product_signals(loaded, X, texts)
    np.testing.assert_allclose(view, poster, atol=1e-6)
    np.testing.assert_allclose(signals.poster, poster, atol=1e-6)
    np.testing.assert_allclose(signals.combined, combined, atol=1e-6)
    # The studio correction is part of the poster signal everywhere: the general head alone differs from it.
    assert np.abs(signals.general - poster).max() > 1e-3
    # Each face decides with the model's thresholds for its signal.
    for reading in readings:
        assert reading.signal == COMBINED
        assert reading.thresholds == dict(zip(GENRES, after.thresholds_for(COMBINED).tolist(), strict=True))
    np.testing.assert_array_equal(
        signals.decided(np.arange(len(rows)), with_synopsis=True), [[g in r.decided for g in GENRES] for r in readings]
    )
    synopsis_only = core.read_synopsis(texts[:2])
    assert synopsis_only[0].thresholds == dict(zip(GENRES, after.thresholds_for(SYNOPSIS).tolist(), strict=True))


@pytest.fixture(scope="module")
def two_view_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelArtifact, Dataset, list[Movie]]:
    """A tiny model trained on two views of each film (the second a perturbed copy, as a mirror image is), loaded."""
    from postergenre.training.options import TrainOptions
    from postergenre.training.train import train

    ds, movies = tiny_catalog(seed=1)
    second = ds.X + np.random.default_rng(5).normal(0, 0.7, size=ds.X.shape).astype(np.float32)
    ds = replace(ds, views=("poster", "mirror"), view_X=np.stack([ds.X, second], axis=1))
    result = train(ds, TrainOptions(feature_set="pooled", folds=3, bootstrap=10, threads=1), movies=movies)
    return ModelArtifact.load(result.artifact.save(tmp_path_factory.mktemp("two-views") / "model")), ds, movies


def test_a_two_view_model_reads_the_mean_of_its_views_head_logits(two_view_model) -> None:
    from postergenre.evaluation.evaluate import product_signals
    from postergenre.model.logistic import sigmoid
    from postergenre.predict.core import ModelCore

    loaded, ds, movies = two_view_model
    assert loaded.head_config["views"] == ["poster", "mirror"] and loaded.training_options["views"] == "poster,mirror"
    model, core = assemble(loaded), ModelCore(loaded, embedder=None)
    assert model.views == core.views == ("poster", "mirror")
    plots = [m.plot for m in movies[: len(ds.ids)]]
    rows = np.flatnonzero([p is not None for p in plots])[:30]
    V, texts = ds.view_X[rows], [plots[i] for i in rows]
    start, stop = model.feature_slice
    logits = [model.head.decision_function(V[:, j, start:stop]).astype(np.float64) for j in range(2)]
    general = sigmoid((logits[0] + logits[1]) / 2)
    np.testing.assert_allclose(model.general_probabilities(V), general, rtol=0, atol=1e-12)
    # For the logistic head: the head read on the mean of the two vectors, the rule the benchmarks measured.
    np.testing.assert_allclose(general, model.head.predict_proba(V[:, :, start:stop].mean(axis=1)), atol=1e-5)
    expected = model.poster_stages[0].refine(general, V[:, 0])
    readings = core.read_embeddings(V)
    poster = np.array([[r.probabilities[g] for g in GENRES] for r in readings])
    np.testing.assert_allclose(poster, expected, rtol=0, atol=1e-12)
    assert np.abs(poster - model.poster_probabilities(V[:, 0])).max() > 1e-3  # not the poster alone
    # The poster check and the reading's embedding are the poster's own view.
    assert [r.poster_check["score"] for r in readings] == [c["score"] for c in core.check(V[:, 0])]
    np.testing.assert_array_equal(readings[0].embedding, V[0, 0])
    with pytest.raises(ModelError, match=r"reads 2 views of each poster \(poster, mirror\)"):
        core.read_embeddings(V[:, 0])
    # Evaluation reads the views alike; a stored poster reading fused with a synopsis answers as the views with it.
    fused = core.read_embeddings(V, texts)
    signals = product_signals(loaded, V, texts)
    np.testing.assert_allclose(signals.poster, poster, atol=1e-12)
    np.testing.assert_allclose(signals.combined, [[r.probabilities[g] for g in GENRES] for r in fused], atol=1e-12)
    again = core.read_with_synopsis(readings[0], texts[0])
    assert (again.probabilities, again.decided, again.signal) == (fused[0].probabilities, fused[0].decided, COMBINED)


def test_a_model_saved_before_views_reads_the_poster_alone(tiny_model, tmp_path: Path) -> None:
    from postergenre.predict.core import ModelCore

    trained, _, ds, _ = tiny_model
    folder = trained.save(tmp_path / "older")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["head_config"].pop("views") == ["poster"]  # what every model saved before views lacks
    (folder / "model.json").write_text(json.dumps(meta))
    core = ModelCore(ModelArtifact.load(folder), embedder=None)
    assert core.views == ("poster",)
    readings = core.read_embeddings(ds.X[:5])
    np.testing.assert_array_equal(
        [[r.probabilities[g] for g in GENRES] for r in readings], assemble(trained).poster_probabilities(ds.X[:5])
    )
    with pytest.raises(ModelError, match="reads 1 view of each poster"):
        core.read_embeddings(np.stack([ds.X[:5], ds.X[:5]], axis=1))
    meta["head_config"]["views"] = ["mirror", "poster"]
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=r"head_config.views: .*first view must be 'poster'"):
        ModelArtifact.load(folder)


def test_the_build_owns_the_thresholds_of_each_signal(tiny_model) -> None:
    trained, _, _, _ = tiny_model
    model = assemble(trained)
    np.testing.assert_array_equal(model.thresholds_for(POSTER), trained.thresholds)
    assert model.fusion is not None
    np.testing.assert_array_equal(model.thresholds_for(COMBINED), model.fusion.thresholds_)
    np.testing.assert_array_equal(
        model.thresholds_for(SYNOPSIS), trained.tensors[layout.SYNOPSIS_ONLY_THRESHOLDS].astype(np.float64)
    )
    # A model saved before the synopsis-only thresholds existed: the ones its studio metrics tuned, else the fusion's.
    older = replace(trained, tensors={k: v for k, v in trained.tensors.items() if k != layout.SYNOPSIS_ONLY_THRESHOLDS})
    per_genre = {p["genre"]: p["threshold"] for p in trained.metrics["studio"]["studio_synopsis"]["per_genre"]}
    np.testing.assert_allclose(assemble(older).thresholds_for(SYNOPSIS), [per_genre[g] for g in GENRES])
    oldest = replace(older, metrics={})
    np.testing.assert_array_equal(assemble(oldest).thresholds_for(SYNOPSIS), model.fusion.thresholds_)
    with pytest.raises(ModelError, match="unknown signal"):
        model.thresholds_for("poster only")  # type: ignore[arg-type]


def _poster_only(head: Any, X: np.ndarray, feature_slice: tuple[int, int]) -> ModelArtifact:
    head_type, head_config, tensors = ModelParts(head, feature_slice, poster_check=PosterCheck().fit(X)).saved()
    return ModelArtifact(
        genres=GENRES,
        thresholds=np.full(len(GENRES), 0.4),
        backbone=SPEC.name,
        preprocess_version=SPEC.preprocess_version,
        feature_set="pooled",
        head_type=head_type,
        head_config=head_config,
        tensors=tensors,
    )


def test_a_poster_only_model_has_one_signal(tiny_model) -> None:
    _, _, ds, _ = tiny_model
    head = make_head("logreg").fit(ds.features[:200], ds.Y[:200])
    model = assemble(_poster_only(head, ds.X[:200], ds.feature_slice))
    np.testing.assert_array_equal(model.poster_probabilities(ds.X[200:]), head.predict_proba(ds.features[200:]))
    assert not model.has_synopsis and model.synopsis is None and model.poster_stages == []
    for signal in (COMBINED, SYNOPSIS):
        with pytest.raises(ModelError, match="no synopsis head"):
            model.thresholds_for(signal)
    with pytest.raises(ModelError, match="no synopsis head"):
        model.synopsis_probabilities(["a plot"])
    with pytest.raises(ModelError, match=r"features must be \[N, >= 1280\]"):
        model.poster_probabilities(ds.X[:3, :100])


@pytest.mark.slow  # fits an MLP
def test_the_ensemble_is_a_part_made_of_parts(tiny_model, tmp_path: Path) -> None:
    _, _, ds, _ = tiny_model
    head = make_head("ensemble", {"mlp.hidden": 8, "mlp.pca": 16, "mlp.max_epochs": 3}).fit(ds.features, ds.Y)
    saved = _poster_only(head, ds.X, ds.feature_slice)
    assert {k.split(".")[1] for k in saved.tensors if k.startswith("head.")} == {"m0", "m1"}
    model = assemble(ModelArtifact.load(saved.save(tmp_path / "ensemble")))
    assert isinstance(model.head, EnsembleHead) and [m.part_name for m in model.head.members_] == ["logreg", "mlp"]
    assert model.head.get_params()["mlp__hidden"] == 8
    expected = head.predict_proba(ds.features)
    np.testing.assert_allclose(model.poster_probabilities(ds.X), expected, atol=1e-3)  # float16 matrices when saved
    with torch.no_grad():
        view = torch.sigmoid(model.torch_view()(torch.from_numpy(ds.X))).double().numpy()
    np.testing.assert_allclose(view, model.poster_probabilities(ds.X), atol=1e-6)


class _ShrinkView(nn.Module):
    def __init__(self, weight: float, prior: np.ndarray):
        super().__init__()
        self.weight = weight
        self.register_buffer("prior", torch.from_numpy(prior.astype(np.float32)))

    def forward(self, logits: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return torch.logit((1 - self.weight) * torch.sigmoid(logits) + self.weight * self.prior, eps=1e-6)


class ShrinkToPrior(PosterStage):
    """A stand-in for a new poster stage: the probabilities pulled towards the genres' base rates."""

    def __init__(self, weight: float = 0.3):
        self.weight = weight

    def fit(self, Y: np.ndarray) -> ShrinkToPrior:
        self.prior_ = np.asarray(Y, dtype=np.float64).mean(axis=0)
        return self

    def refine(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        return (1 - self.weight) * probs + self.weight * self.prior_

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        return {"prior": self.prior_.astype(np.float32)}

    def config(self) -> dict[str, Any]:
        return {"weight": self.weight}

    @classmethod
    def from_saved(cls, tensors: Any, config: Any) -> ShrinkToPrior:
        out = cls(**config)
        out.prior_ = np.asarray(tensors["prior"], dtype=np.float64)
        return out

    def torch_view(self) -> nn.Module:
        return _ShrinkView(self.weight, self.prior_)


def test_a_new_part_is_its_class_registered_and_one_slot(
    tiny_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, _, ds, _ = tiny_model
    monkeypatch.setattr(parts, "_PARTS", dict(parts._PARTS))
    register_part("shrink_to_prior")(ShrinkToPrior)
    monkeypatch.setitem(layout.SLOTS, "shrink", Slot("shrink.", ("shrink",), "shrink_to_prior", poster_stage=True))
    head = make_head("logreg").fit(ds.features, ds.Y)
    stage = ShrinkToPrior(0.25).fit(ds.Y)
    head_type, head_config, tensors = ModelParts(
        head, ds.feature_slice, poster_check=PosterCheck().fit(ds.X), others={"shrink": stage}
    ).saved()
    assert head_config["shrink"] == {"weight": 0.25} and "shrink.prior" in tensors
    artifact = ModelArtifact(
        genres=GENRES,
        thresholds=np.full(len(GENRES), 0.4),
        backbone=SPEC.name,
        preprocess_version=SPEC.preprocess_version,
        feature_set="pooled",
        head_type=head_type,
        head_config=json.loads(json.dumps(head_config)),
        tensors=tensors,
    )
    model = assemble(ModelArtifact.load(artifact.save(tmp_path / "with-stage")))
    assert [type(s).__name__ for s in model.poster_stages] == ["ShrinkToPrior"]
    expected = stage.refine(head.predict_proba(ds.features), ds.X)
    np.testing.assert_allclose(model.poster_probabilities(ds.X), expected, atol=1e-6)
    with torch.no_grad():
        view = torch.sigmoid(model.torch_view()(torch.from_numpy(ds.X))).double().numpy()
    np.testing.assert_allclose(view, expected, atol=1e-6)


def test_answering_loads_neither_torch_nor_scikit_learn() -> None:
    code = (
        "import sys; import numpy as np; from postergenre.model.artifact import ModelArtifact; "
        "from postergenre.model.assembly import assemble; m = assemble(ModelArtifact.load()); "
        "x = np.zeros((2, m.feature_slice[1]), np.float32); m.poster_probabilities(x); m.check(x); "
        "print(sorted(k for k in ('torch', 'sklearn', 'scipy') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
