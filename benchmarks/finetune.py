"""Fine-tuning the poster backbone on catalog posters: on CPU, within a stated budget, resumable.

Frozen EfficientNet-Lite features are near their ceiling for genres; fine-tuning is the lever that moves the
poster signal itself (issue 21's small-input probe measured +0.027 macro ROC AUC on held-out general posters after
one epoch, read at its training size; whether it holds at the prediction size is benchmarks/finetune_gain.py's
question). The recipe is that probe's: every weight of the backbone as the registry builds it (BatchNorm folded
into the convolutions, so nothing has batch statistics to drift) plus a linear genre head, here on the backbone's
full feature vector (pooled + style statistics, which the probe left untried), binary cross-entropy, AdamW
(backbone 1e-4, head 1e-3, weight decay 1e-4), batch 48, a 20-step warm-up then cosine decay, random flip +
random-resized crop (area 0.85-1), posters decoded once to uint8 at 160x224 (half the pixels of the 224x320
prediction input: twice the images per second on 2 cores, and testing at a larger size than training helps after
random-resized crops), channels-last.

The head starts from a logistic head fitted on the frozen vectors (`init_head`, e.g. the project's own `logreg`),
so the first steps move the backbone through a head that already reads genres instead of a random one.

Budget: `epochs` plans the steps; `budget_minutes` caps them from the speed measured over the first steps, and
the plan is fixed then (the cosine schedule needs its end). Resume: every `checkpoint_every` steps, and on
Ctrl-C, the network, head, optimiser state and step go to one safetensors file written atomically; a rerun with
the same data and options continues from it (augmentations and batch order derive from seed and step, so a
resumed run equals an uninterrupted one with the same plan; a run stopped before the budget fixed the plan measures
the speed again when resumed). Outputs in `out`: `backbone.safetensors` (the network's state dict)
and `finetune.json` (base backbone and weights sha256, the result's sha256, options, data fingerprint, loss
curve, seconds in training steps over all sessions (decoding excluded), versions).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from postergenre.errors import PosterGenreError
from postergenre.features.backbones import FeatureNet
from postergenre.features.onnx_export import state_dict_sha256
from postergenre.features.preprocess import Letterbox
from postergenre.features.registry import BackboneSpec, get_backbone
from postergenre.files import write_atomic
from postergenre.posters.images import decode_image
from postergenre.progress import Log, Progress, ProgressFn, no_progress
from postergenre.threads import torch_threads

WEIGHTS_FILE = "backbone.safetensors"
REPORT_FILE = "finetune.json"
CHECKPOINT_FILE = "checkpoint.safetensors"
TASK = "fine-tuning"


@dataclass(frozen=True)
class FineTuneOptions:
    """How to fine-tune (the defaults are issue 21's measured recipe)."""

    epochs: float = 1.0
    budget_minutes: float | None = None  # caps the planned steps once the speed is measured
    batch_size: int = 48
    backbone_lr: float = 1e-4
    head_lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 20
    width: int = 160  # training input; features for prediction keep the backbone's own size
    height: int = 224
    min_crop_area: float = 0.85
    threads: int = 2
    seed: int = 0
    checkpoint_every: int = 25

    def check(self) -> "FineTuneOptions":
        if not self.epochs > 0:
            raise PosterGenreError(f"--epochs must be > 0, got {self.epochs}")
        if self.budget_minutes is not None and not self.budget_minutes > 0:
            raise PosterGenreError(f"--budget-minutes must be > 0, got {self.budget_minutes}")
        if self.batch_size < 2:
            raise PosterGenreError(f"--batch-size must be >= 2, got {self.batch_size}")
        if not 0 < self.min_crop_area <= 1:
            raise PosterGenreError(f"min_crop_area must be in (0, 1], got {self.min_crop_area}")
        if self.warmup_steps < 0 or self.checkpoint_every < 1:
            raise PosterGenreError(f"warmup_steps must be >= 0 and checkpoint_every >= 1, got {self.warmup_steps} "
                                   f"and {self.checkpoint_every}")
        return self


class GenreTuner(nn.Module):
    """The backbone plus a linear genre head on its standardised full feature vector (logits out)."""

    def __init__(self, net: FeatureNet, mean: np.ndarray, scale: np.ndarray, weight: np.ndarray, bias: np.ndarray):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.as_tensor(np.asarray(mean, dtype=np.float32)))
        self.register_buffer("scale", torch.as_tensor(np.asarray(scale, dtype=np.float32)))
        self.head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(np.asarray(weight, dtype=np.float32)))
            self.head.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net(x)
        return self.head((features[:, :self.mean.shape[0]] - self.mean) / self.scale)


def decode_posters(paths: Sequence[Path], box: Letterbox, progress: ProgressFn = no_progress) -> np.ndarray:
    """Posters -> uint8 [N, H, W, 3] letterboxed to `box` (the project's one decoder and geometry)."""
    out = np.empty((len(paths), box.height, box.width, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        out[i] = box.prepare_pixels(decode_image(path, max_side=box.decode_max_side))
        if (i + 1) % 500 == 0 or i + 1 == len(paths):
            progress(Progress("decoding posters", i + 1, len(paths)))
    return out


def augment(pixels: np.ndarray, box: Letterbox, gen: torch.Generator, min_area: float) -> torch.Tensor:
    """uint8 [B, H, W, 3] -> normalised float32 [B, 3, H, W], channels-last: a random crop of `min_area`..1 of the
    area (aspect ratio within 3/4..4/3 of the poster's; a side longer than the image is clipped to it, so the area
    can fall to sqrt(3/4 * min_area), 0.80 for 0.85) resized back, mirrored with probability 1/2."""
    x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float()
    b, _, h, w = x.shape
    u = torch.rand(b, 4, generator=gen)
    out = torch.empty_like(x)
    for i in range(b):
        area = min_area + (1 - min_area) * float(u[i, 0])
        ratio = math.exp(math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * float(u[i, 1]))
        cw = min(w, max(8, round(w * math.sqrt(area * ratio))))
        ch = min(h, max(8, round(h * math.sqrt(area / ratio))))
        left, top = int((w - cw) * float(u[i, 2])), int((h - ch) * float(u[i, 3]))
        crop = x[i:i + 1, :, top:top + ch, left:left + cw]
        out[i] = nn.functional.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    flip = torch.rand(b, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    mean = torch.tensor(box.mean).view(1, 3, 1, 1)
    std = torch.tensor(box.std).view(1, 3, 1, 1)
    return ((out - mean) / std).contiguous(memory_format=torch.channels_last)


def learning_rate_factor(step: int, planned: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to 0 at `planned`."""
    if step < warmup:
        return (step + 1) / warmup
    span = max(1, planned - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / span)))


def _sha256_bytes(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
        h.update(b"\0")
    return h.hexdigest()


class FineTuner:
    """Fine-tunes `spec`'s network on posters (sklearn-style: options in `__init__`, `fit` returns self, the tuned
    network in `net_` and the run's record in `report_`)."""

    def __init__(self, spec: BackboneSpec, options: FineTuneOptions = FineTuneOptions()):
        self.spec = spec
        self.options = options.check()

    def fit(self, posters: Sequence[Path], Y: np.ndarray, init_head: dict[str, np.ndarray], out: Path, *,
            data_fingerprint: str, progress: ProgressFn = no_progress, log: Log = lambda _m: None) -> "FineTuner":
        """Fine-tune on `posters` with multi-hot labels `Y` [N, G]; `init_head`: a logistic head on the frozen
        vectors (mean, scale, w0 [G, D], b0 [G]); results and checkpoints go to `out`."""
        opts = self.options
        Y = np.asarray(Y, dtype=np.float32)
        if len(posters) != len(Y) or Y.ndim != 2:
            raise PosterGenreError(f"fine-tuning needs one label row per poster: {len(posters)} posters, labels {Y.shape}")
        if len(posters) < opts.batch_size:
            raise PosterGenreError(f"fine-tuning needs at least one batch ({opts.batch_size}) of posters, got {len(posters)}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        box = Letterbox(opts.width, opts.height, self.spec.preprocessing.mean, self.spec.preprocessing.std,
                        self.spec.preprocessing.pad)
        base_sha = self.spec.weights.sha256 if self.spec.weights else "unknown"
        run_key = _sha256_bytes(json.dumps(asdict(opts) | {"budget_minutes": None}, sort_keys=True).encode(),
                                data_fingerprint.encode(), base_sha.encode(), self.spec.name.encode(),
                                str(len(posters)).encode(), np.ascontiguousarray(Y).tobytes(),
                                *(np.ascontiguousarray(init_head[k], dtype=np.float32).tobytes()
                                  for k in ("mean", "scale", "w0", "b0")))
        t0 = time.perf_counter()
        torch.manual_seed(opts.seed)
        model = GenreTuner(self.spec.build(), init_head["mean"], init_head["scale"], init_head["w0"], init_head["b0"])
        for p in model.parameters():
            p.requires_grad_(True)
        model.eval()  # BatchNorm is folded and drop-connect stays off: eval mode is the trained function
        model.to(memory_format=torch.channels_last)
        optimiser = torch.optim.AdamW(
            [{"params": list(model.net.parameters()), "lr": opts.backbone_lr},
             {"params": list(model.head.parameters()), "lr": opts.head_lr}], weight_decay=opts.weight_decay)
        base_lrs = [opts.backbone_lr, opts.head_lr]
        steps_per_epoch = math.ceil(len(posters) / opts.batch_size)
        planned = max(opts.warmup_steps + 1, math.ceil(opts.epochs * steps_per_epoch))
        state = _load_checkpoint(out / CHECKPOINT_FILE, run_key, model, optimiser)
        step, curve, running, seconds_before = 0, [], [], 0.0
        budget_fixed = opts.budget_minutes is None
        if state is not None:
            step, planned, curve, running = state["step"], state["planned"], state["curve"], state["running"]
            # A run stopped before its speed was measured measures it now (else the budget would never apply).
            seconds_before, budget_fixed = state["seconds"], budget_fixed or state["budget_fixed"]
            log(f"resuming at step {step}/{planned} from {out / CHECKPOINT_FILE}")
        log(f"fine-tuning {self.spec.name} on {len(posters):,} posters at {opts.width}x{opts.height}: "
            f"{planned} steps of {opts.batch_size} ({planned / steps_per_epoch:.2f} epochs)")
        pixels = decode_posters(list(posters), box, progress)
        labels = torch.from_numpy(Y)
        loss_fn = nn.BCEWithLogitsLoss()
        session_start, timed_from, t_run = step, None, time.perf_counter()
        updating = False  # from optimiser.step() to that step's bookkeeping: the state is no checkpoint

        def save() -> None:
            _save_checkpoint(out / CHECKPOINT_FILE, run_key, model, optimiser, step=step, planned=planned, curve=curve,
                             running=running, budget_fixed=budget_fixed,
                             seconds=seconds_before + time.perf_counter() - t_run)

        try:
            with torch_threads(opts.threads):
                while step < planned:
                    epoch, index = divmod(step, steps_per_epoch)
                    order = np.random.default_rng([opts.seed, epoch]).permutation(len(posters))
                    rows = np.sort(order[index * opts.batch_size:(index + 1) * opts.batch_size])
                    gen = torch.Generator().manual_seed(opts.seed * 1_000_003 + step)
                    factor = learning_rate_factor(step, planned, opts.warmup_steps)
                    for group, lr in zip(optimiser.param_groups, base_lrs):
                        group["lr"] = lr * factor
                    x = augment(pixels[rows], box, gen, opts.min_crop_area)
                    loss = loss_fn(model(x), labels[rows])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    updating = True
                    optimiser.step()
                    step += 1
                    running.append(float(loss.detach()))
                    if not budget_fixed and step == session_start + 1:
                        timed_from = time.perf_counter()  # the first step pays one-off costs
                    if not budget_fixed and step == session_start + 6:
                        per_step = (time.perf_counter() - timed_from) / 5
                        left = opts.budget_minutes * 60 - seconds_before - (time.perf_counter() - t0)
                        fits = max(opts.warmup_steps + 1, step + max(0, int(left / per_step)))
                        if fits < planned:
                            log(f"budget {opts.budget_minutes:g} min at {per_step:.2f} s/step: {fits} steps "
                                f"({fits / steps_per_epoch:.2f} epochs) instead of {planned}")
                            planned = fits
                        budget_fixed = True
                    if step % opts.checkpoint_every == 0 or step == planned:
                        curve.append({"step": step, "loss": round(float(np.mean(running)), 5)})
                        running = []
                        save()
                    updating = False
                    progress(Progress(TASK, step, planned, detail=f"loss {np.mean(running or [curve[-1]['loss']]):.4f}"))
        except KeyboardInterrupt:
            if updating:  # weights half-updated: keep the last checkpoint (at most checkpoint_every steps back)
                log("interrupted during an update: rerun the same command to resume from the last checkpoint")
            else:
                save()
                log(f"interrupted at step {step}/{planned}: rerun the same command to resume")
            raise
        net = model.net
        for p in net.parameters():
            p.requires_grad_(False)
        from safetensors.torch import save

        write_atomic(out / WEIGHTS_FILE, save({k: v.detach().contiguous() for k, v in net.state_dict().items()}))
        report = {
            "base_backbone": self.spec.name, "base_weights_sha256": base_sha,
            "weights_sha256": state_dict_sha256(net), "weights_file": WEIGHTS_FILE,
            "options": asdict(opts), "posters": len(posters), "genres_in_head": int(Y.shape[1]),
            "data_fingerprint": data_fingerprint, "steps": step, "epochs": round(step / steps_per_epoch, 3),
            "loss_curve": curve, "seconds": round(seconds_before + time.perf_counter() - t_run, 1),
            "versions": {"torch": torch.__version__},
        }
        write_atomic(out / REPORT_FILE, json.dumps(report, indent=2) + "\n")
        (out / CHECKPOINT_FILE).unlink(missing_ok=True)
        log(f"fine-tuned backbone written to {out / WEIGHTS_FILE} ({report['seconds']:.0f} s)")
        self.net_, self.report_ = net, report
        return self


def _save_checkpoint(path: Path, run_key: str, model: nn.Module, optimiser: torch.optim.Optimizer, **meta: Any) -> None:
    from safetensors.torch import save

    tensors = {f"model.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    opt = optimiser.state_dict()
    for index, slots in opt["state"].items():
        for name, value in slots.items():
            tensors[f"opt.{index}.{name}"] = torch.as_tensor(value).detach().contiguous()
    write_atomic(path, save(tensors, metadata={"run_key": run_key, "meta": json.dumps(meta)}))


def _load_checkpoint(path: Path, run_key: str, model: nn.Module,
                     optimiser: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Restore a checkpoint of this very run (same data and options) into `model` and `optimiser`."""
    if not path.is_file():
        return None
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("run_key") != run_key:
        raise PosterGenreError(f"{path} is a checkpoint of another fine-tuning run (other posters, labels or options): "
                               "delete it to start over, or choose another --out")
    tensors = load_file(str(path))
    model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
    opt = optimiser.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    opt["state"] = state
    optimiser.load_state_dict(opt)
    return json.loads(metadata["meta"])


def load_fine_tuned(folder: Path | str) -> tuple[BackboneSpec, FeatureNet, dict[str, Any]]:
    """(base spec, the fine-tuned network frozen for inference, the run's report) from a `fit` output folder."""
    folder = Path(folder)
    try:
        report = json.loads((folder / REPORT_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PosterGenreError(f"{folder} holds no fine-tuned backbone ({REPORT_FILE} missing)") from None
    from safetensors.torch import load_file

    spec = get_backbone(report["base_backbone"])
    net = spec.build()
    if not (folder / report["weights_file"]).is_file():
        raise PosterGenreError(f"{folder / report['weights_file']} is missing (named in {folder / REPORT_FILE})")
    net.load_state_dict(load_file(str(folder / report["weights_file"])), strict=True)
    if state_dict_sha256(net) != report["weights_sha256"]:
        raise PosterGenreError(f"{folder / report['weights_file']} does not match the sha256 in {REPORT_FILE}")
    return spec, net.frozen(), report
