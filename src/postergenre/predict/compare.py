"""Compare poster variants: which one signals the intended genres most strongly, and what else it signals.

Score of a variant for target genres T: the geometric mean over T of its strength p_t / threshold_t. Dividing by the
model's own decision threshold puts rare genres (threshold 0.1) and common ones (threshold 0.4) on one scale where
1.0 means "just decided"; the geometric mean rewards a variant that signals *all* targets and punishes one that
signals a single target strongly and misses another, which a marketing brief ("Family and Comedy") asks for.
Unintended genres are the decided genres outside T.

Variants are ranked on the poster signal alone: a synopsis is the same for every variant, so it cannot tell them
apart (the result says so when one was given).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .results import PosterFailure, PosterPrediction

SCORING = ("Target score: how strongly the poster signals all target genres together — the geometric mean over the "
           "targets of probability ÷ the genre's decision threshold. 1.0 = just decided; higher is better.")
SYNOPSIS_NOTE = ("The synopsis was not used for the ranking: it is the same for every variant, so only the posters "
                 "can tell them apart.")


@dataclass
class VariantScore:
    """One variant's standing against the targets. `image`/`heatmaps` feed the HTML sheet (not serialized)."""

    prediction: PosterPrediction
    score: float
    target_strength: dict[str, float]
    targets_decided: list[str]
    unintended: dict[str, float]
    index: int = 0
    rank: int = 0
    image: Image.Image | None = field(default=None, repr=False)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def source(self) -> str:
        return self.prediction.source

    @property
    def target_probabilities(self) -> dict[str, float]:
        return {t: self.prediction.probabilities[t] for t in self.target_strength}

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "index": self.index,
            "source": self.source,
            "target_score": round(self.score, 6),
            "target_probabilities": {g: round(p, 6) for g, p in self.target_probabilities.items()},
            "target_strength": {g: round(s, 6) for g, s in self.target_strength.items()},
            "targets_decided": list(self.targets_decided),
            "unintended": {g: round(p, 6) for g, p in self.unintended.items()},
            "prediction": self.prediction.to_dict(),
        }


@dataclass
class CompareResult:
    """Variants ranked best first, plus inputs that could not be read."""

    targets: list[str]
    variants: list[VariantScore]
    failures: list[PosterFailure]
    synopsis_given: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "scoring": SCORING,
            "note": SYNOPSIS_NOTE if self.synopsis_given else None,
            "variants": [v.to_dict() for v in self.variants],
            "failures": [f.to_dict() for f in self.failures],
        }


def score_variant(prediction: PosterPrediction, targets: Sequence[str]) -> VariantScore:
    """Target strength and unintended decided genres of one (poster-only) prediction."""
    strength = prediction.reading.strength
    target_strength = {t: strength[t] for t in targets}
    score = math.exp(sum(math.log(max(s, 1e-9)) for s in target_strength.values()) / len(targets))
    return VariantScore(
        prediction=prediction,
        score=score,
        target_strength=target_strength,
        targets_decided=[t for t in targets if t in prediction.decided],
        unintended={g: prediction.probabilities[g] for g in prediction.decided if g not in targets},
    )


def rank_variants(predictions: Sequence[PosterPrediction | PosterFailure], targets: Sequence[str], *,
                  synopsis_given: bool = False) -> CompareResult:
    """Score every readable variant against `targets` and rank them best first (ties keep upload order)."""
    variants: list[VariantScore] = []
    failures: list[PosterFailure] = []
    for index, p in enumerate(predictions):
        if isinstance(p, PosterFailure):
            failures.append(p)
            continue
        variant = score_variant(p, targets)
        variant.index = index
        variants.append(variant)
    variants.sort(key=lambda v: (-v.score, v.index))
    for rank, v in enumerate(variants, start=1):
        v.rank = rank
    return CompareResult(targets=list(targets), variants=variants, failures=failures, synopsis_given=synopsis_given)
