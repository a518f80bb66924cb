"""Compare poster variants: which one signals the intended genres most clearly, and least of anything else.

Every rule comes from `model/decisions.py`: each target's verdict is its level (`decisions.level`: the variant
*reads as* the genre, only *hints at* it, or *does not read as* it), variants are ranked by `decisions.rank_key`
(posters first, fewest missed targets, fewest unintended genres read as, the higher target score, upload order),
the first is marked best only when it fits (`decisions.is_best`), and `decisions.deciding_step` names the step that
put it above the second. This module turns those decisions into words: the headline, one sentence that says which
variant to run and why ("Run b.jpg: it reads as Family and Adventure, while a.jpg also reads as Drama."); the
verdicts; and `reason`, both readings and the deciding step, for the brief's "why" list. The arithmetic (the target
score, a geometric mean of strengths) is in `SCORING` and the exact numbers, never in the headline.

Variants are ranked on the poster signal alone: a synopsis is the same for every variant, so it cannot tell them
apart (the result says so when one was given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image

from ..model.decisions import (
    FAINT,
    HINTS,
    READS,
    READS_AS,
    Standing,
    deciding_step,
    is_best,
    level,
    rank_key,
    reads_as,
    strength_text,
    target_score,
)
from ..safe_text import without_bidi_controls
from .results import PosterFailure, PosterPrediction

RANKING = (
    "Variants that read as every target come first; then those that read as the fewest other genres; then "
    "those that signal the targets most strongly. Images that do not look like posters come last."
)
"""How variants are ranked, in words for the page, the sheet and the CLI."""
SCORING = (
    "Target score: how strongly a poster signals all target genres together, the geometric mean over the "
    "targets of each one's strength (probability ÷ the genre's decision line; 1.0 = just decided). Ranking: "
    "posters first; then the fewest missed targets, whatever the scores (a strong genre cannot carry a missing "
    f"one); then the fewest other genres read as (strength ≥ {READS_AS:g}× the line); then the higher target "
    "score; then upload order."
)
"""The ranking's arithmetic, for the exact numbers (the page's details, JSON, the sheet's footnote)."""
SYNOPSIS_NOTE = (
    "The synopsis was not used for the ranking: it is the same for every variant, so only the posters "
    "can tell them apart."
)


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
        """Unintended genres the poster reads as (`decisions.reads_as`), strongest first."""
        return [g for g in self._reads_as[0] if g in self.unintended]

    @property
    def _reads_as(self) -> tuple[list[str], list[str]]:
        return reads_as(self.prediction.decided, self.prediction.reading.strength)

    @property
    def standing(self) -> Standing:
        """What the ranking rule reads of this variant."""
        return Standing(
            index=self.index,
            is_poster=self.is_poster,
            missed=tuple(self.missed),
            also_reads_as=tuple(self.also_reads_as),
            score=self.score,
            has_targets=bool(self.target_strength),
        )

    @property
    def fits(self) -> bool:
        """Every target decided, and the input looks like a poster: only then may it be called a fit."""
        return self.standing.fits

    @property
    def best(self) -> bool:
        """The variant to run: first, and a fit (`decisions.is_best`)."""
        return is_best(self.rank, self.standing)

    @property
    def reads_as_words(self) -> str:
        """What the poster reads as overall, for the brief's details: "reads as Family and Adventure", "reads mostly
        as Drama and Family" (its strongest genre is not a target), "reads as no genre clearly"."""
        strong, hints = self._reads_as
        if not strong:
            return "reads as no genre clearly" + (f" (hints at {and_list(hints)})" if hints else "")
        mostly = "" if strong[0] in self.target_strength else "mostly "
        return f"reads {mostly}as {and_list(strong)}" + (f" and hints at {and_list(hints)}" if hints else "")

    @property
    def target_words(self) -> str:
        """The targets at their levels, e.g. "reads as Family and hints at Comedy", "reads as Family but does not
        read as Comedy"; with the unintended genres it reads as, "(it also reads as Drama)"."""
        by_level = {
            lv.code: [v["genre"] for v in self.verdicts if v["level"] == lv.code] for lv in (READS, HINTS, FAINT)
        }
        found = " and ".join(f"{lv.words} {and_list(by_level[lv.code])}" for lv in (READS, HINTS) if by_level[lv.code])
        missed = f"{FAINT.words} {and_list(by_level[FAINT.code], 'or')}" if by_level[FAINT.code] else ""
        words = f"{found} but {missed}" if found and missed else found or missed
        return words + (f" (it also reads as {and_list(self.also_reads_as)})" if self.also_reads_as else "")

    @property
    def verdict(self) -> str:
        """Plain words per target, e.g. "Reads as Comedy; does not read as Family (0.6× the line)"."""
        return verdict_text(self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "index": self.index,
            "source": self.source,
            "best": self.best,
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
        """Which variant to run and why, in one sentence (`sentence` with the variants' names)."""
        return self.sentence(self.name)

    @property
    def decided_by(self) -> str | None:
        """The code of the ranking step that put the first variant above the second (`decisions.STEPS`)."""
        if len(self.variants) < 2 or not self.targets:
            return None
        return deciding_step(self.variants[0].standing, self.variants[1].standing)

    def sentence(self, name: Callable[[VariantScore], str]) -> str:
        """The outcome in one sentence a marketer can forward: the variant to run (never calling a variant a fit
        when it misses a target, or recommending an image that is no poster) and the step of the ranking that put
        it above the next one. `name` names a variant."""
        if not self.variants:
            return "No variant could be read."
        a = self.variants[0]
        targets = and_list(self.targets)
        if a.best:
            lead = f"Run {name(a)}: it {a.target_words}"
        elif not a.is_poster:
            lead = (
                f"None of the images looks like a movie poster, so what they signal is unreliable; closest to "
                f"{targets}: {name(a)}, which {a.target_words}"
            )
        else:
            wanted = f"all of {targets}" if len(self.targets) > 1 else targets
            lead = f"No variant reads as {wanted}; the closest is {name(a)}, which {a.target_words}"
        step = self.decided_by
        return f"{lead}, {why_first(step, a, self.variants[1], name)}." if step else f"{lead}."

    @property
    def flagged(self) -> str | None:
        """What the poster check means for the ranking, when it flags a variant."""
        n = sum(1 for v in self.variants if not v.is_poster)
        if not n:
            return None
        return (
            f"{n} variant does not look like a movie poster; its ranking is uncertain."
            if n == 1
            else f"{n} variants do not look like movie posters; their ranking is uncertain."
        )

    def name(self, v: VariantScore) -> str:
        """A variant in words: its file name, else its source where file names repeat, else "Variant N" (upload
        order) where sources repeat too (in-memory images are all "<image>"). Bidirectional controls are left out,
        so a name cannot reverse the sentence around it."""
        namings: tuple[Callable[[VariantScore], str], ...] = (
            lambda x: PurePath(x.source).name or x.source,
            lambda x: x.source,
        )
        for name_of in namings:
            if len({name_of(x) for x in self.variants}) == len(self.variants):
                return without_bidi_controls(name_of(v))
        return f"Variant {v.index + 1}"

    def reason(self, name: Callable[[VariantScore], str] | None = None) -> str | None:
        """Why the first variant ranks above the second, in detail: both readings, then the step of the ranking
        that decided ("B reads as Family and Adventure; A reads mostly as Drama. B comes first: …"). `name` names a
        variant (default: `self.name`). None without targets or two variants."""
        step = self.decided_by
        if step is None:
            return None
        name = name or self.name
        a, b = self.variants[0], self.variants[1]
        return (
            f"{name(a)} {a.reads_as_words}; {name(b)} {b.reads_as_words}. "
            f"{name(a)} comes first: {step_words(step, a, b, name)}."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.targets),
            "headline": self.headline,
            "decided_by": self.decided_by,
            "reason": self.reason(),
            "ranking": RANKING,
            "scoring": SCORING,
            "note": SYNOPSIS_NOTE if self.synopsis_given else None,
            "flagged": self.flagged,
            "variants": [v.to_dict() for v in self.variants],
            "failures": [f.to_dict() for f in self.failures],
        }


def and_list(items: Sequence[str], conjunction: str = "and") -> str:
    """["Family", "Comedy", "Drama"] → "Family, Comedy and Drama" (or "… or Drama")."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def target_verdict(genre: str, strength: float, decided: bool) -> dict[str, Any]:
    """One target's verdict at its level (`decisions.level`): "reads", "hints" or "faint" (not decided)."""
    at = level(strength, decided)
    words = {
        READS: f"reads as {genre}",
        HINTS: f"only hints at {genre}",
        FAINT: f"does not read as {genre} ({strength_text(strength)} the line)",
    }[at]
    return {"genre": genre, "decided": decided, "strength": round(float(strength), 6), "level": at.code, "words": words}


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
    return VariantScore(
        prediction=prediction,
        score=target_score(target_strength.values()),
        target_strength=target_strength,
        targets_decided=[t for t in targets if t in prediction.decided],
        unintended={g: prediction.probabilities[g] for g in prediction.decided if g not in targets},
        verdicts=[target_verdict(t, target_strength[t], t in prediction.decided) for t in targets],
    )


def why_first(step: str, a: VariantScore, b: VariantScore, name: Callable[[VariantScore], str]) -> str:
    """The deciding step (`decisions.deciding_step`) as the end of the headline's sentence."""
    them = "it" if len(a.target_strength) == 1 else "them"
    return {
        "poster": lambda: f"while {name(b)} does not look like a movie poster",
        "missed": lambda: f"while {name(b)} {b.target_words}",
        "unintended": lambda: f"while {name(b)} also reads as {and_list(b.also_reads_as)}",
        "stronger": lambda: f"and signals {them} more strongly than {name(b)}",
        "order": lambda: f"and {name(b)} reads alike ({name(a)} was given first)",
    }[step]()


def step_words(step: str, a: VariantScore, b: VariantScore, name: Callable[[VariantScore], str]) -> str:
    """The deciding step in detail, with its numbers (the brief's "why", JSON's `reason`)."""
    if step == "poster":
        return f"{name(b)} does not look like a movie poster"
    if step == "missed":
        return f"it misses fewer of the targets ({len(a.missed)} against {len(b.missed)})"
    if step == "unintended":
        others = f"{name(b)} also reads as {and_list(b.also_reads_as)}, {name(a)}"
        return (
            f"{others} as no genre outside the targets"
            if not a.also_reads_as
            else f"{others} only as {and_list(a.also_reads_as)}"
        )
    if step == "stronger":
        return f"it signals the targets more strongly (target score {a.score:.2f} against {b.score:.2f})"
    return "the two read alike, and it was given first"


def rank_variants(
    predictions: Sequence[PosterPrediction | PosterFailure], targets: Sequence[str], *, synopsis_given: bool = False
) -> CompareResult:
    """Score every readable variant against `targets` and rank them best first (`decisions.rank_key`)."""
    variants: list[VariantScore] = []
    failures: list[PosterFailure] = []
    for index, p in enumerate(predictions):
        if isinstance(p, PosterFailure):
            failures.append(p)
            continue
        variant = score_variant(p, targets)
        variant.index = index
        variants.append(variant)
    variants.sort(key=lambda v: rank_key(v.standing))
    for rank, v in enumerate(variants, start=1):
        v.rank = rank
    return CompareResult(targets=list(targets), variants=variants, failures=failures, synopsis_given=synopsis_given)
