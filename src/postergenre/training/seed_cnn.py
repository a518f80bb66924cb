"""The predecessor's network, rebuilt in torch so its quality is measured here rather than quoted.

The predecessor (Keras) trained a small CNN from scratch on posters squashed to 200x200 RGB scaled to 0..1:

    Conv2D(50, 3x3, relu) -> MaxPool(2x2) -> Dropout(0.2)
    Conv2D(20, 3x3, relu) -> MaxPool(2x2) -> Dropout(0.2)
    Conv2D(10, 3x3, relu) -> MaxPool(2x2) -> Dropout(0.2)
    Flatten -> Dense(64, relu) -> Dropout(0.5) -> Dense(32, relu) -> Dropout(0.5) -> Dense(G, sigmoid)
    Adam(lr=1e-3), binary cross-entropy, 10 epochs, batch 10

Keras defaults are kept where they change results: 'valid' padding (no padding), Glorot-uniform kernels
with zero biases, Adam epsilon 1e-7, a reshuffle every epoch, and nearest-neighbour resizing (the default
of keras `load_img(target_size=...)`). The only intended deviation: the network outputs logits and the loss
is `BCEWithLogitsLoss`, which is the same function as sigmoid + BCE but numerically stable; `predict_seed_cnn`
applies the sigmoid. Spatial sizes: 200 -> conv 198 -> pool 99 -> conv 97 -> pool 48 -> conv 46 -> pool 23,
so the flattened vector has 23*23*10 = 5,290 values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from postergenre.errors import PosterGenreError
from postergenre.posters.images import decode_image
from postergenre.progress import Log

INPUT_SIZE = 200


class SeedCNN(nn.Module):
    """The predecessor's architecture; forward returns logits [N, G] for images [N, 3, 200, 200] in 0..1."""

    def __init__(self, n_genres: int, size: int = INPUT_SIZE) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 50, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Conv2d(50, 20, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Conv2d(20, 10, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.2),
            nn.Flatten(),
        )
        side = size
        for _ in range(3):
            side = (side - 2) // 2
        self.flat_dim = 10 * side * side
        self.classifier = nn.Sequential(
            nn.Linear(self.flat_dim, 64),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(32, n_genres),
        )
        self.epoch_losses: list[float] = []  # mean training loss per epoch, filled by train_seed_cnn
        for m in self.modules():  # Keras defaults: glorot_uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:  # every layer here has one
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def load_pixels(paths: Sequence[Path | str], size: int = INPUT_SIZE) -> np.ndarray:
    """Posters decoded by the shared decoder and squashed to size x size (no aspect kept): uint8 [N, H, W, 3].

    uint8 keeps 18,000 posters at ~2 GB instead of ~8.6 GB as float32; batches are scaled to 0..1 on use.
    """
    out = np.empty((len(paths), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(paths):
        image = decode_image(Path(path))
        out[i] = np.asarray(image.resize((size, size), resample=Image.Resampling.NEAREST), dtype=np.uint8)
    return out


def _scaled(batch: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float [N, 3, H, W] in 0..1 (the predecessor's `/ 255`)."""
    return batch.permute(0, 3, 1, 2).float().div_(255.0)


def _to_tensor(pixels: np.ndarray, device: torch.device) -> torch.Tensor:
    return _scaled(torch.from_numpy(np.ascontiguousarray(pixels)).to(device))


def _check(pixels: np.ndarray, Y: np.ndarray | None = None) -> None:
    if pixels.ndim != 4 or pixels.shape[3] != 3 or pixels.shape[1] != pixels.shape[2]:
        raise PosterGenreError(f"seed-cnn: pixels must be uint8 [N, S, S, 3], got {pixels.shape}")
    if Y is not None and (Y.ndim != 2 or Y.shape[0] != pixels.shape[0]):
        raise PosterGenreError(f"seed-cnn: labels {Y.shape} do not match {pixels.shape[0]} images")


def _seed_everything(seed: int, device: torch.device) -> torch.Generator:
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


def train_seed_cnn(
    pixels: np.ndarray,
    Y: np.ndarray,
    *,
    epochs: int = 10,
    batch_size: int = 10,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    log: Log | None = None,
) -> SeedCNN:
    """Train the predecessor's network from scratch on `pixels` (uint8 [N, 200, 200, 3]) and 0/1 labels `Y` [N, G].

    Deterministic for a fixed seed on CPU (weights, dropout and batch order all come from `seed`).
    Returns the model in eval mode; `model.epoch_losses` holds the mean training loss of each epoch.
    """
    _check(pixels, Y)
    dev = torch.device(device)
    gen = _seed_everything(seed, dev)
    model = SeedCNN(Y.shape[1], size=pixels.shape[1]).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    loss_fn = nn.BCEWithLogitsLoss()
    # The uint8 images go to the device once (2 GB for 18,000 posters): batches of 10 are then cheap
    # slices instead of 10 host-to-device copies per step. On CPU this is a zero-copy view.
    images = torch.from_numpy(np.ascontiguousarray(pixels)).to(dev)
    targets = torch.from_numpy(np.asarray(Y, dtype=np.float32)).to(dev)
    n = pixels.shape[0]
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen).to(dev)
        total = 0.0
        for b0 in range(0, n, batch_size):
            idx = order[b0 : b0 + batch_size]
            x = _scaled(images[idx])
            y = targets[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            total = total + loss.detach() * len(idx)  # stays on the device: no sync per step
        mean = float(total) / n
        model.epoch_losses.append(mean)
        if log is not None:
            log(f"seed-cnn epoch {epoch + 1}/{epochs}: loss {mean:.4f}")
    return model.eval()


@torch.no_grad()
def predict_seed_cnn(model: SeedCNN, pixels: np.ndarray, device: str = "cpu", batch_size: int = 100) -> np.ndarray:
    """Genre probabilities float32 [N, G] (sigmoid of the logits), dropout off."""
    _check(pixels)
    dev = torch.device(device)
    model = model.to(dev).eval()
    parts = [
        torch.sigmoid(model(_to_tensor(pixels[b0 : b0 + batch_size], dev))).cpu().numpy()
        for b0 in range(0, pixels.shape[0], batch_size)
    ]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def cross_validate_seed_cnn(
    pixels: np.ndarray,
    Y: np.ndarray,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int = 0,
    device: str = "cpu",
    log: Log | None = None,
    **train_kw,
) -> np.ndarray:
    """Out-of-fold probabilities [N, G]: for each (train_idx, test_idx) a fresh network (seed + fold number)
    is trained on the train rows and predicts the test rows. Rows in no test fold stay NaN."""
    _check(pixels, Y)
    oof = np.full(Y.shape, np.nan, dtype=np.float32)
    for k, (train_idx, test_idx) in enumerate(folds):
        if log is not None:
            log(f"seed-cnn fold {k + 1}/{len(folds)}: train {len(train_idx)}, test {len(test_idx)}")
        model = train_seed_cnn(pixels[train_idx], Y[train_idx], seed=seed + k, device=device, log=log, **train_kw)
        oof[test_idx] = predict_seed_cnn(model, pixels[test_idx], device)
    return oof
