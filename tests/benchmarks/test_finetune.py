"""Fine-tuning the backbone (benchmarks/finetune.py: only benchmarks/finetune_gain.py uses it) on real shared posters,
in a few tiny steps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from finetune import (
    CHECKPOINT_FILE,
    REPORT_FILE,
    WEIGHTS_FILE,
    FineTuneOptions,
    FineTuner,
    augment,
    learning_rate_factor,
    load_fine_tuned,
)

from postergenre.errors import PosterGenreError
from postergenre.features.preprocess import Letterbox
from postergenre.features.registry import get_backbone

GENRES = ("Drama", "Comedy", "Horror")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def posters(shared_rows, shared_data) -> tuple[list[Path], np.ndarray]:
    rows = shared_rows[:12]
    Y = np.array([[g in r["genres"].split("|") for g in GENRES] for r in rows], dtype=np.float32)
    return [shared_data / r["poster"] for r in rows], Y


def _init_head(dim: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "mean": np.zeros(dim, np.float32),
        "scale": np.full(dim, 4.0, np.float32),
        "w0": (rng.standard_normal((len(GENRES), dim)) * 0.01).astype(np.float32),
        "b0": np.zeros(len(GENRES), np.float32),
    }


OPTS = FineTuneOptions(epochs=1.0, batch_size=4, warmup_steps=1, width=64, height=96, checkpoint_every=1, threads=1)


def test_fine_tuning_moves_the_weights_and_saves_a_loadable_backbone(posters, tmp_path):
    paths, Y = posters
    spec = get_backbone()
    tuner = FineTuner(spec, OPTS).fit(paths, Y, _init_head(spec.feature_dim), tmp_path / "ft", data_fingerprint="t")
    report = tuner.report_
    assert report["steps"] == 3 and report["posters"] == 12 and report["base_backbone"] == spec.name
    assert not (tmp_path / "ft" / CHECKPOINT_FILE).exists()  # removed once finished
    loaded_spec, net, loaded = load_fine_tuned(tmp_path / "ft")
    assert loaded == report and loaded_spec.name == spec.name
    base = spec.build()
    moved = [
        float((a - b).abs().max()) for a, b in zip(net.state_dict().values(), base.state_dict().values(), strict=True)
    ]
    assert max(moved) > 0  # the backbone itself changed, not only the head
    x = torch.zeros(1, 3, spec.input_size[1], spec.input_size[0])
    with torch.no_grad():
        assert net(x).shape == (1, spec.feature_dim)  # usable at the prediction size


def _stop_at(step: int):
    def progress(p):
        if p.task == "fine-tuning" and p.done == step:
            raise KeyboardInterrupt

    return progress


def test_an_interrupted_run_resumes_to_the_same_weights_and_loss_curve(posters, tmp_path):
    paths, Y = posters
    spec = get_backbone()
    head = _init_head(spec.feature_dim)
    opts = replace(OPTS, checkpoint_every=2)  # step 1 is saved by the Ctrl-C path only, mid-way through a loss window
    whole = FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "whole", data_fingerprint="t")

    with pytest.raises(KeyboardInterrupt):
        FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "resumed", data_fingerprint="t", progress=_stop_at(1))
    assert (tmp_path / "resumed" / CHECKPOINT_FILE).is_file() and not (tmp_path / "resumed" / WEIGHTS_FILE).exists()
    messages: list[str] = []
    resumed = FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "resumed", data_fingerprint="t", log=messages.append)
    assert any("resuming at step 1/3" in m for m in messages)
    assert resumed.report_["weights_sha256"] == whole.report_["weights_sha256"]
    assert [c["step"] for c in whole.report_["loss_curve"]] == [2, 3]
    assert resumed.report_["loss_curve"] == whole.report_["loss_curve"]  # step 2's mean includes step 1's loss


def test_a_run_stopped_before_its_budget_was_fixed_still_keeps_it_when_resumed(posters, tmp_path):
    paths, Y = posters
    spec = get_backbone()
    head = _init_head(spec.feature_dim)
    opts = replace(OPTS, epochs=4.0, budget_minutes=1e-6, checkpoint_every=100)  # 12 steps planned; no time for them
    whole = FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "whole", data_fingerprint="t")
    assert whole.report_["steps"] == 6  # the speed is measured over steps 2-6, then the plan stops there
    with pytest.raises(KeyboardInterrupt):
        FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "resumed", data_fingerprint="t", progress=_stop_at(1))
    resumed = FineTuner(spec, opts).fit(paths, Y, head, tmp_path / "resumed", data_fingerprint="t")
    assert resumed.report_["steps"] == 7  # measured again over the resumed session's steps 2-6, not the full 12


def test_a_checkpoint_of_another_run_is_refused_not_mixed_in(posters, tmp_path):
    paths, Y = posters
    spec = get_backbone()
    head = _init_head(spec.feature_dim)

    with pytest.raises(KeyboardInterrupt):
        FineTuner(spec, OPTS).fit(paths, Y, head, tmp_path / "ft", data_fingerprint="t", progress=_stop_at(1))
    for other_labels, fingerprint in ((1 - Y, "t"), (Y, "other data")):  # the labels count, not only the caller's name
        with pytest.raises(PosterGenreError, match="checkpoint of another fine-tuning run"):
            FineTuner(spec, OPTS).fit(paths, other_labels, head, tmp_path / "ft", data_fingerprint=fingerprint)


def test_tampered_weights_are_refused(posters, tmp_path):
    from safetensors.torch import load_file, save_file

    paths, Y = posters
    spec = get_backbone()
    FineTuner(spec, OPTS).fit(paths, Y, _init_head(spec.feature_dim), tmp_path / "ft", data_fingerprint="t")
    weights = load_file(str(tmp_path / "ft" / WEIGHTS_FILE))
    name = next(iter(weights))
    weights[name] = weights[name] + 1e-3
    save_file(weights, str(tmp_path / "ft" / WEIGHTS_FILE))
    with pytest.raises(PosterGenreError, match="does not match the sha256"):
        load_fine_tuned(tmp_path / "ft")
    (tmp_path / "ft" / REPORT_FILE).unlink()
    with pytest.raises(PosterGenreError, match="holds no fine-tuned backbone"):
        load_fine_tuned(tmp_path / "ft")


def test_bad_options_and_inputs_are_named(posters, tmp_path):
    paths, Y = posters
    spec = get_backbone()
    with pytest.raises(PosterGenreError, match="--epochs"):
        FineTuner(spec, FineTuneOptions(epochs=0))
    with pytest.raises(PosterGenreError, match="checkpoint_every >= 1"):
        FineTuner(spec, FineTuneOptions(checkpoint_every=0))
    with pytest.raises(PosterGenreError, match="one label row per poster"):
        FineTuner(spec, OPTS).fit(paths[:5], Y, _init_head(spec.feature_dim), tmp_path / "x", data_fingerprint="t")


def test_schedule_and_augmentation():
    assert learning_rate_factor(0, 100, 20) == pytest.approx(1 / 20)
    assert learning_rate_factor(19, 100, 20) == pytest.approx(1.0)
    assert learning_rate_factor(20, 100, 20) == pytest.approx(1.0)
    assert learning_rate_factor(60, 100, 20) == pytest.approx(0.5)
    assert learning_rate_factor(100, 100, 20) == pytest.approx(0.0, abs=1e-12)
    box = Letterbox(16, 24, (127.0,) * 3, (128.0,) * 3)
    pixels = np.random.default_rng(0).integers(0, 256, (6, 24, 16, 3), dtype=np.uint8)
    a = augment(pixels, box, torch.Generator().manual_seed(1), 0.85)
    b = augment(pixels, box, torch.Generator().manual_seed(1), 0.85)
    assert a.shape == (6, 3, 24, 16) and torch.equal(a, b)  # the same seed gives the same views (resume)
    assert float(a.abs().max()) <= 1.0 and not torch.equal(
        a, augment(pixels, box, torch.Generator().manual_seed(2), 0.85)
    )


def test_augmentation_normalises_as_the_letterbox_and_mirrors_left_to_right_only():
    box = Letterbox(16, 24, (100.0, 110.0, 120.0), (50.0, 60.0, 70.0))
    flat = np.empty((4, 24, 16, 3), dtype=np.uint8)
    flat[...] = (10, 120, 240)  # one colour: any crop or mirror of it is itself, so only normalisation shows
    out = augment(flat, box, torch.Generator().manual_seed(0), 0.85)
    assert torch.allclose(out, torch.from_numpy(box.normalize(flat)), atol=1e-5)
    rightwards_ramp = np.broadcast_to((np.arange(16) * 16).astype(np.uint8)[None, :, None], (24, 16, 3))
    downwards_ramp = np.broadcast_to((np.arange(24) * 10).astype(np.uint8)[:, None, None], (24, 16, 3))
    ramps = np.stack([rightwards_ramp, downwards_ramp])
    views = [augment(ramps, box, torch.Generator().manual_seed(s), 0.85) for s in range(12)]
    rightwards = {bool(v[0, 0, 12, -1] > v[0, 0, 12, 0]) for v in views}
    assert rightwards == {True, False}  # some views mirrored, some not
    assert all(bool(v[1, 0, -1, 8] > v[1, 0, 0, 8]) for v in views)  # never upside down
