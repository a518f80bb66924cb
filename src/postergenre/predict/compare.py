"""Compare poster variants: which one signals the intended genres most strongly, and what else it signals.

Each variant gets a plain verdict per target: it *reads as* the genre (decided, strength ≥ STRONG_SIGNAL), only
*hints at* it (decided, weaker), or *does not read as* it (not decided). A variant *fits* when every target is
decided and the input looks like a poster. Ranking: fitting variants first, then by how many targets are missed,
then by score, so a variant that misses a target is never presented above one that hits them all (a strong genre
cannot carry a missing one, as the geometric mean alone would let it). Images flagged as not being posters come
last. Score of a variant for target genres T: the geometric mean over T of its strength p_t / threshold_t. Dividing by the
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

from .core import STRONG_SIGNAL
from .results import PosterFailure, PosterPrediction

SCORING = ("Target score: how strongly the poster signals all target genres together — the geometric mean over the "
           "targets of probability ÷ the genre's decision threshold. 1.0 = just decided; higher is better. Variants "
           "that read as every target rank first, whatever the scores: a strong genre cannot carry a missing one.")
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
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    image: Image.Image | None = field(default=None, repr=False)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def source(self) -> str:
        return self.prediction.source

    @property
    def target_probabilities(self) -> dict[str, float]:
        return {t: self.prediction.probabilities[t] for t in self.target_strength}

    @property
    def is_poster(self) -> bool:
        return bool(self.prediction.poster_check.get("is_poster", True))

    @property
    def missed(self) -> list[str]:
        return [t for t in self.target_strength if t not in self.targets_decided]

    @property
    def fits(self) -> bool:
        """Every target decided, and the input looks like a poster: only then may it be called a fit."""
        return not self.missed and self.is_poster

    @property
    def verdict(self) -> str:
        """Plain words per target, e.g. "Reads as Comedy; does not read as Family (0.6× the line)"."""
        return verdict_text(self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "index": self.index,
            "source": self.source,
            "target_score": round(self.score, 6),
            "target_probabilities": {g: round(p, 6) for g, p in self.target_probabilities.items()},
            "target_strength": {g: round(s, 6) for g, s in self.target_strength.items()},
            "targets_decided": list(self.targets_decided),
            "fits_all_targets": self.fits,
            "verdict": self.verdict,
            "verdicts": [dict(v) for v in self.verdicts],
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

    @property
    def headline(self) -> str:
        """One sentence on the outcome, never calling a variant a fit when it misses a target."""
        if not self.variants:
            return "No variant could be read."
        fitting = [v for v in self.variants if v.fits]
        targets = and_list(self.targets)
        if not fitting:
            best = self.variants[0]
            verdict = best.verdict[0].lower() + best.verdict[1:]
            return f"No variant reads as {targets}. Closest: {best.source}, which {verdict}"
        if len(fitting) == 1:
            return f"Only {fitting[0].source} reads as {targets}."
        return f"{len(fitting)} variants read as {targets}; {fitting[0].source} signals them most strongly."

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "scoring": SCORING,
            "headline": self.headline,
            "note": SYNOPSIS_NOTE if self.synopsis_given else None,
            "variants": [v.to_dict() for v in self.variants],
            "failures": [f.to_dict() for f in self.failures],
        }


def and_list(items: Sequence[str]) -> str:
    """["Family", "Comedy", "Drama"] → "Family, Comedy and Drama"."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def target_verdict(genre: str, strength: float, decided: bool) -> dict[str, Any]:
    """One target's verdict: "reads" (decided and strong), "hints" (decided, weaker) or "misses"."""
    if decided:
        level = "reads" if strength >= STRONG_SIGNAL else "hints"
        words = f"reads as {genre}" if level == "reads" else f"only hints at {genre}"
    else:
        level, words = "misses", f"does not read as {genre} ({strength:.1f}× the line)"
    return {"genre": genre, "decided": decided, "strength": round(float(strength), 6), "level": level, "words": words}


def verdict_text(verdicts: Sequence[dict[str, Any]]) -> str:
    """Verdicts in one sentence, hits first ("Reads as Comedy; does not read as Family (0.6× the line).")."""
    if not verdicts:
        return ""
    ordered = sorted(verdicts, key=lambda v: not v["decided"])
    text = "; ".join(v["words"] for v in ordered)
    return text[0].upper() + text[1:] + "."


def score_variant(prediction: PosterPrediction, targets: Sequence[str]) -> VariantScore:
    """Target strength, per-target verdicts and unintended decided genres of one (poster-only) prediction."""
    strength = prediction.reading.strength
    target_strength = {t: strength[t] for t in targets}
    score = math.exp(sum(math.log(max(s, 1e-9)) for s in target_strength.values()) / len(targets)) if targets else 0.0
    return VariantScore(
        prediction=prediction,
        score=score,
        target_strength=target_strength,
        targets_decided=[t for t in targets if t in prediction.decided],
        unintended={g: prediction.probabilities[g] for g in prediction.decided if g not in targets},
        verdicts=[target_verdict(t, target_strength[t], t in prediction.decided) for t in targets],
    )


def rank_key(v: VariantScore) -> tuple:
    """The one ranking rule: posters before non-posters, then fewest missed targets, then score, then upload order."""
    return (not v.is_poster, len(v.missed), -v.score, v.index)


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
    variants.sort(key=rank_key)
    for rank, v in enumerate(variants, start=1):
        v.rank = rank
    return CompareResult(targets=list(targets), variants=variants, failures=failures, synopsis_given=synopsis_given)
