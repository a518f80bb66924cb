"""Compare poster variants: which one signals the intended genres most clearly, and least of anything else.

Each variant gets a plain verdict per target: it *reads as* the genre (decided, strength ≥ STRONG_SIGNAL), only
*hints at* it (decided, weaker), or *does not read as* it (not decided): `core.reads_as`, the rule the reading's
summary and the brief use too. A variant *fits* when every target is
decided and the input looks like a poster.

The one ranking rule (`rank_key`, used by compare's table/JSON/CSV/sheet, the page and the brief), in order:
1. posters before images flagged as not being posters;
2. fewer missed targets, so a variant that misses a target is never presented above one that hits them all (a
   strong genre cannot carry a missing one, as the geometric mean alone would let it);
3. fewer unintended genres that *read as* (decided at strength ≥ STRONG_SIGNAL): the brief wants the variant that
   signals the targets "most clearly and least of anything else", and "reads as" is the line the words shown to
   people already draw, so the rank and the sentence explaining it agree ("B reads as Family and Adventure; A reads
   mostly as Drama"). A single ratio (target score ÷ strongest unintended strength) was considered and rejected:
   it lets a very strong target buy an unintended genre that reads as clearly, which the words would then
   contradict. Unintended genres that are only hinted at (decided, weaker) do not count: with per-genre F1
   thresholds a poster gets about 3.7 decided genres against 2.1 true ones, so hints are the model's usual noise;
4. the target score; 5. upload order.
`CompareResult.reason` says in words which of these steps put the first variant above the second.

Score of a variant for target genres T: the geometric mean over T of its strength p_t / threshold_t. Dividing by
the model's own decision threshold puts rare genres (threshold 0.1) and common ones (threshold 0.4) on one scale
where 1.0 means "just decided"; the geometric mean rewards a variant that signals *all* targets and punishes one
that signals a single target strongly and misses another, which a marketing brief ("Family and Comedy") asks for.
Unintended genres are the decided genres outside T.

Variants are ranked on the poster signal alone: a synopsis is the same for every variant, so it cannot tell them
apart (the result says so when one was given).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image

from .core import STRONG_SIGNAL, reads_as
from .results import PosterFailure, PosterPrediction

SCORING = ("Target score: how strongly the poster signals all target genres together — the geometric mean over the "
           "targets of probability ÷ the genre's decision threshold. 1.0 = just decided; higher is better. Ranking: "
           "variants that read as every target come first, whatever the scores (a strong genre cannot carry a "
           f"missing one); then those that read as fewest other genres (strength ≥ {STRONG_SIGNAL:g}× the line); "
           "then the higher target score.")
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
    def also_reads_as(self) -> list[str]:
        """Unintended genres the poster reads as (`core.reads_as`), strongest first."""
        return [g for g in self._reads_as[0] if g in self.unintended]

    @property
    def _reads_as(self) -> tuple[list[str], list[str]]:
        return reads_as(self.prediction.decided, self.prediction.reading.strength)

    @property
    def reads_as_words(self) -> str:
        """What the poster reads as, for comparing variants: "reads as Family and Adventure", "reads mostly as
        Drama and Family" (its strongest genre is not a target), "reads as no genre clearly"."""
        strong, hints = self._reads_as
        if not strong:
            return "reads as no genre clearly" + (f" (hints at {and_list(hints)})" if hints else "")
        mostly = "" if strong[0] in self.target_strength else "mostly "
        return f"reads {mostly}as {and_list(strong)}" + (f" and hints at {and_list(hints)}" if hints else "")

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
            "also_reads_as": self.also_reads_as,
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
        """The outcome in a sentence, never calling a variant a fit when it misses a target, then `reason`."""
        if not self.variants:
            return "No variant could be read."
        fitting = [v for v in self.variants if v.fits]
        targets = and_list(self.targets)
        if not fitting:
            best = self.variants[0]
            verdict = best.verdict[0].lower() + best.verdict[1:]
            outcome = f"No variant reads as {targets}. Closest: {self.name(best)}, which {verdict}"
        elif len(fitting) == 1:
            outcome = f"Only {self.name(fitting[0])} reads as {targets}."
        else:
            outcome = f"{len(fitting)} variants read as {targets}."
        reason = self.reason()
        return f"{outcome} {reason}" if reason else outcome

    def name(self, v: VariantScore) -> str:
        """A variant in words: its file name, else its source where file names repeat, else "Variant N" (upload
        order) where sources repeat too (in-memory images are all "<image>")."""
        for name_of in (lambda x: PurePath(x.source).name or x.source, lambda x: x.source):
            if len({name_of(x) for x in self.variants}) == len(self.variants):
                return name_of(v)
        return f"Variant {v.index + 1}"

    def reason(self, name: Callable[[VariantScore], str] | None = None) -> str | None:
        """Why the first variant ranks above the second, in words: both readings, then the step of `rank_key`
        that decided ("B reads as Family and Adventure; A reads mostly as Drama. B comes first: it misses fewer
        of the targets."). `name` names a variant (default: `self.name`). None without targets or two variants."""
        if len(self.variants) < 2 or not self.targets:
            return None
        name = name or self.name
        a, b = self.variants[0], self.variants[1]
        return (f"{name(a)} {a.reads_as_words}; {name(b)} {b.reads_as_words}. "
                f"{name(a)} comes first: {deciding_step(a, b, name)}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "scoring": SCORING,
            "headline": self.headline,
            "reason": self.reason(),
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


def target_verdict(genre: str, strength: float, decided: bool, strong: bool) -> dict[str, Any]:
    """One target's verdict: "reads" (decided and `strong`: among `core.reads_as`), "hints" (decided, weaker) or
    "misses"."""
    if decided:
        level = "reads" if strong else "hints"
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
    strong, _ = reads_as(prediction.decided, strength)
    target_strength = {t: strength[t] for t in targets}
    score = math.exp(sum(math.log(max(s, 1e-9)) for s in target_strength.values()) / len(targets)) if targets else 0.0
    return VariantScore(
        prediction=prediction,
        score=score,
        target_strength=target_strength,
        targets_decided=[t for t in targets if t in prediction.decided],
        unintended={g: prediction.probabilities[g] for g in prediction.decided if g not in targets},
        verdicts=[target_verdict(t, target_strength[t], t in prediction.decided, t in strong) for t in targets],
    )


def rank_key(v: VariantScore) -> tuple:
    """The one ranking rule (module docstring): posters before non-posters, then fewest missed targets, then fewest
    unintended genres read as, then the higher target score, then upload order."""
    unintended = len(v.also_reads_as) if v.target_strength else 0  # no targets (a brief without them): upload order
    return (not v.is_poster, len(v.missed), unintended, -v.score, v.index)


def deciding_step(a: VariantScore, b: VariantScore, name: Callable[[VariantScore], str]) -> str:
    """The step of `rank_key` that puts `a` above `b`, in words."""
    if a.is_poster != b.is_poster:
        return f"{name(b)} does not look like a movie poster"
    if len(a.missed) != len(b.missed):
        return f"it misses fewer of the targets ({len(a.missed)} against {len(b.missed)})"
    if len(a.also_reads_as) != len(b.also_reads_as):
        others = f"{name(b)} also reads as {and_list(b.also_reads_as)}, {name(a)}"
        return (f"{others} as no genre outside the targets" if not a.also_reads_as else
                f"{others} only as {and_list(a.also_reads_as)}")
    if a.score != b.score:
        return f"it signals the targets more strongly (target score {a.score:.2f} against {b.score:.2f})"
    return "the two read alike, and it was given first"


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
