"""Compare poster variants: which one signals the intended genres most strongly, and what else it signals.

Score of a variant for target genres T: the geometric mean over T of p_t / threshold_t. Dividing by the
model's own decision threshold puts rare genres (threshold 0.1) and common ones (threshold 0.4) on one
scale, where 1.0 means "just decided"; the geometric mean rewards a variant that signals *all* targets and
punishes one that signals a single target strongly and misses another, which a marketing brief
("Family and Comedy") asks for. Unintended genres are the decided genres outside T.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from ..errors import PosterGenreError

if TYPE_CHECKING:
    from .predictor import PosterFailure, PosterLike, PosterPrediction, Predictor


@dataclass
class VariantScore:
    """One variant's standing against the targets. `image`/`heatmaps` feed the HTML sheet (not serialized)."""

    prediction: "PosterPrediction"
    score: float
    target_probabilities: dict[str, float]
    targets_decided: list[str]
    unintended: dict[str, float]
    rank: int = 0
    image: Image.Image | None = field(default=None, repr=False)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def source(self) -> str:
        return self.prediction.source

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "source": self.source,
            "score": round(self.score, 6),
            "target_probabilities": {g: round(p, 6) for g, p in self.target_probabilities.items()},
            "targets_decided": list(self.targets_decided),
            "unintended": {g: round(p, 6) for g, p in self.unintended.items()},
            "prediction": self.prediction.to_dict(),
        }


@dataclass
class CompareResult:
    """Variants ranked best first, plus inputs that could not be read."""

    targets: list[str]
    variants: list[VariantScore]
    failures: list["PosterFailure"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "scoring": "geometric mean over targets of probability / decision threshold (1.0 = just decided)",
            "variants": [v.to_dict() for v in self.variants],
            "failures": [f.to_dict() for f in self.failures],
        }


def parse_targets(targets: Sequence[str] | str, genres: Sequence[str]) -> list[str]:
    """Target genre names (comma-separated text or a list), matched case-insensitively to the model's genres."""
    names = [t.strip() for t in (targets.split(",") if isinstance(targets, str) else targets) if t.strip()]
    if not names:
        raise PosterGenreError(f"no target genres given; choose from: {', '.join(genres)}")
    lookup = {g.lower(): g for g in genres}
    unknown = [n for n in names if n.lower() not in lookup]
    if unknown:
        raise PosterGenreError(f"unknown target genre(s) {', '.join(map(repr, unknown))}; this model knows: "
                               f"{', '.join(genres)}")
    return list(dict.fromkeys(lookup[n.lower()] for n in names))


def score_variant(prediction: "PosterPrediction", targets: Sequence[str]) -> VariantScore:
    """Target signal strength and unintended decided genres of one prediction."""
    probs = prediction.probabilities
    ratios = [max(probs[t], 1e-9) / max(prediction.thresholds[t], 1e-9) for t in targets]
    score = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    return VariantScore(
        prediction=prediction,
        score=score,
        target_probabilities={t: probs[t] for t in targets},
        targets_decided=[t for t in targets if t in prediction.decided],
        unintended={g: probs[g] for g in prediction.decided if g not in targets},
    )


def compare_variants(predictor: "Predictor", xs: Sequence["PosterLike"], targets: Sequence[str] | str, *,
                     heatmaps: bool = False) -> CompareResult:
    """Predict each variant (failures kept aside), score it against `targets` and rank best first."""
    from .explain import explain_image
    from .predictor import PosterFailure, _source_of

    chosen = parse_targets(targets, predictor.genres)
    variants: list[VariantScore] = []
    failures: list[PosterFailure] = []
    for x in xs:
        try:
            item = predictor.read(x)
        except PosterGenreError as exc:
            failures.append(PosterFailure(source=_source_of(x), error=str(exc), id=getattr(x, "id", None)))
            continue
        variant = score_variant(predictor.predict_loaded([item], None, None)[0], chosen)
        if heatmaps:
            variant.image = item.image
            variant.heatmaps = explain_image(predictor, item.image, chosen)
        variants.append(variant)
    variants.sort(key=lambda v: -v.score)
    for rank, v in enumerate(variants, start=1):
        v.rank = rank
    return CompareResult(targets=chosen, variants=variants, failures=failures)
