"""The campaign brief: which poster variant to run, what it signals, how well it sells the story, whom to aim at.

One function of the model core and the catalog (`build_brief`); the Predictor, the CLI (`postergenre brief`), the
service (`POST /v1/brief`) and the page all get it from here, and `render.brief` renders it. It holds:

1. the recommendation: the first variant of the compare ranking (`compare.rank_key`: variants that read as every
   target first, then those that read as fewest genres outside the targets, then by target score), with the reason
   in words (`CompareResult.reason`: "B reads as Family and Adventure; A reads mostly as Drama. B comes first: …");
   a variant that misses a target is never called a fit, and an image that does not look like a poster is never
   recommended unless all of them are such images;
2. story vs poster: the synopsis read alone (the story's genres) against what each variant's poster signals:
   genres a poster under-sells and genres it promises that the story does not carry;
3. per variant: its reading, the verdict per target, unintended genres, and (for the HTML page only: `heatmaps=True`)
   Grad-CAM heatmaps of the targets, which need the PyTorch backbone;
4. audiences: comparable catalog titles per target genre with their plots' keyword seeds (`audiences.py`);
5. how sure: the model's cross-validated ROC AUC per target genre on the studio's films, in words.

Targets are the intended genres; without them, the genres the story reads as; without a synopsis either, there
are no targets and no recommendation (the brief says what to add). Nothing in it is invented: every genre, number
and title comes from the model, its stored metrics or the catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from ..catalog.filters import in_rating_order
from ..errors import PosterGenreError
from .audiences import HOW_TO_ADD, AudienceGroup, CatalogAudiences, comparable_by_genre
from .compare import CompareResult, VariantScore, and_list, rank_variants
from .core import ModelCore, match_genres, split_genre_list
from .results import GenreReading, PosterFailure, PosterPrediction
from .similar import CatalogSimilarity

MAX_VARIANTS = 6
SURE_WORDS = ((0.9, "very reliable"), (0.8, "reliable"), (0.7, "fairly reliable"), (0.6, "a weak signal"),
              (0.0, "barely better than chance"))
"""ROC AUC → words: the chance that a film of the genre scores above one without it (0.5 = a coin toss)."""


def _label(index: int) -> str:
    return chr(ord("A") + index)


@dataclass
class BriefVariant:
    """One variant in the brief: its compare standing plus what it does to the story."""

    score: VariantScore
    label: str
    under_sold: list[str] = field(default_factory=list)
    over_promised: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return PurePath(self.score.source).name or self.score.source

    @property
    def title(self) -> str:
        return f"{self.label} ({self.name})"

    def to_dict(self) -> dict[str, Any]:
        v, reading = self.score, self.score.prediction.reading
        return {"label": self.label, "name": self.name, "source": v.source, "index": v.index, "rank": v.rank,
                "fits_all_targets": v.fits, "verdict": v.verdict, "verdicts": [dict(x) for x in v.verdicts],
                "target_score": round(v.score, 6), "is_poster": v.is_poster, "poster_check": dict(reading.poster_check),
                "summary": dict(reading.summary), "decided": list(reading.decided),
                "unintended": {g: round(p, 6) for g, p in v.unintended.items()},
                "under_sold": list(self.under_sold), "over_promised": list(self.over_promised),
                "probabilities": {g: round(p, 6) for g, p in reading.probabilities.items()},
                "strength": {g: round(s, 6) for g, s in reading.strength.items()},
                "thresholds": {g: round(t, 6) for g, t in reading.thresholds.items()}}


@dataclass
class Brief:
    """The brief's content; `to_dict` is its JSON, `render.brief.render_brief` its page."""

    title: str | None
    targets: list[str]
    target_source: str  # "intended", "story" or "none"
    compare: CompareResult
    variants: list[BriefVariant]  # ranked, best first
    recommendation: dict[str, Any]
    story: dict[str, Any] | None
    audiences: dict[str, Any]
    groups: list[AudienceGroup]
    how_sure: list[dict[str, Any]]

    @property
    def failures(self) -> list[PosterFailure]:
        return self.compare.failures

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "targets": list(self.targets), "target_source": self.target_source,
                "recommendation": dict(self.recommendation), "story": self.story,
                "variants": [v.to_dict() for v in self.variants],
                "audiences": {**self.audiences, "groups": [g.to_dict() for g in self.groups]},
                "how_sure": [dict(h) for h in self.how_sure],
                "failures": [f.to_dict() for f in self.failures]}


# -- the parts ------------------------------------------------------------------------------------------------

def _targets(core: ModelCore, intended: str | Sequence[str] | None, story: GenreReading | None
             ) -> tuple[list[str], str]:
    chosen = match_genres(split_genre_list(intended), core.genres)
    if chosen:
        return chosen, "intended"
    if story is not None:
        return list(story.decided), "story"
    return [], "none"


def _recommendation(ranked: list[BriefVariant], targets: list[str], target_source: str, reason: str | None
                    ) -> dict[str, Any]:
    if not ranked:
        return {"label": None, "name": None, "fits": False, "text": "No variant could be read.", "reason": None,
                "why": []}
    if not targets:
        return {"label": None, "name": None, "fits": False, "reason": None,
                "text": "No recommendation: give the intended genres (or the synopsis, whose genres then become "
                        "the targets) to say which variant to run. Each variant's reading is below.",
                "why": [f"{v.title} {v.score.prediction.summary['text'][0].lower()}"
                        f"{v.score.prediction.summary['text'][1:]}" for v in ranked]}
    best = ranked[0].score
    wanted = and_list(targets) + (" (the story's genres)" if target_source == "story" else "")
    if not best.is_poster:
        text = (f"No recommendation: none of the images looks like a movie poster, so what they signal is "
                f"unreliable. Closest to {wanted}: {ranked[0].title}.")
    elif best.fits:
        hints = [g for g in best.unintended if g not in best.also_reads_as]
        also = (f"; it also reads as {and_list(best.also_reads_as)}" if best.also_reads_as else
                f"; it also hints at {and_list(hints)}" if hints else " and signals no other genre")
        text = f"Run {ranked[0].title}: it reads as {wanted}{also}."
    else:
        text = (f"No variant reads as all of {wanted}. The closest is {ranked[0].title}: "
                f"{best.verdict[0].lower()}{best.verdict[1:]}")
    why = [reason] if reason else []
    for v in ranked:
        line = f"{v.title}: {v.score.verdict} Overall it {v.score.reads_as_words}."
        if not v.score.is_poster:
            line += " Does not look like a movie poster."
        why.append(line)
    return {"label": ranked[0].label, "name": ranked[0].name, "fits": best.fits, "text": text, "reason": reason,
            "why": why}


def _story(story: GenreReading | None, ranked: list[BriefVariant]) -> dict[str, Any] | None:
    if story is None:
        return None
    genres = list(story.decided)
    posters = [v for v in ranked if v.score.is_poster] or ranked
    for v in ranked:
        decided = v.score.prediction.decided
        v.under_sold = [g for g in genres if g not in decided]
        v.over_promised = [g for g in decided if g not in genres]
    unshown = [g for g in genres if all(g in v.under_sold for v in posters)]
    lines = []
    if unshown and ranked:
        lines.append(f"The story carries {and_list(unshown)}; no variant shows {'it' if len(unshown) == 1 else 'them'}.")
    for v in ranked:
        parts = []
        if v.under_sold:
            parts.append(f"under-sells {and_list(v.under_sold)}")
        if v.over_promised:
            parts.append(f"promises {and_list(v.over_promised)}, which the story does not carry")
        lines.append(f"{v.title} " + ("; ".join(parts) if parts else "shows what the story carries") + ".")
    reads, hints = story.summary["reads_as"], story.summary["hints_at"]
    text = f"The story (the synopsis read alone) reads as {and_list(reads)}" if reads else \
        "The story (the synopsis read alone) reads as no genre clearly"
    return {"genres": genres, "summary": dict(story.summary),
            "text": text + (f" and hints at {and_list(hints)}." if hints else "."),
            "probabilities": {g: round(p, 6) for g, p in story.probabilities.items()},
            "strength": {g: round(p, 6) for g, p in story.strength.items()},
            "under_sold_by_all": unshown, "lines": lines}


def how_sure(metrics: dict[str, Any], genres: Sequence[str], *, synopsis: bool) -> list[dict[str, Any]]:
    """Per genre and signal: the model's cross-validated ROC AUC on the studio's films, in words (general posters
    when the model was not measured on studio films, and the words say so)."""
    studio = metrics.get("studio") or {}
    folds = studio.get("folds") or metrics.get("folds") or "k"
    sources = [("poster", studio.get("studio_poster"), "studio films")]
    if synopsis:
        sources.append(("synopsis", studio.get("studio_synopsis"), "studio films"))
    if not studio.get("studio_poster"):
        cv = metrics.get("cv") or {}
        sources = [("poster", {"per_genre": cv.get("per_genre", []), "n_movies": None},
                    "general catalog films (this model was not measured on studio films)")]
    out = []
    for genre in genres:
        for signal, entry, scope in sources:
            row = next((r for r in (entry or {}).get("per_genre", []) if r.get("genre") == genre), None)
            auc = row.get("roc_auc") if row else None
            if auc is None:
                out.append({"genre": genre, "signal": signal, "roc_auc": None, "words": "not measured",
                            "text": f"{genre} from the {signal}: not measured on {scope}."})
                continue
            word = next(w for bound, w in SURE_WORDS if auc >= bound)
            films = entry.get("n_movies")
            on = f"{films:,} {scope}" if films else scope
            out.append({"genre": genre, "signal": signal, "roc_auc": round(float(auc), 4), "films": films,
                        "support": row.get("support"), "words": word,
                        "text": f"{genre} from the {signal}: {word}. In {folds}-fold cross-validation on {on} "
                                f"({row.get('support', 0):,} of them {genre}), the {signal} of a film with {genre} "
                                f"scored higher for it than that of a film without it {auc:.0%} of the time (ROC AUC "
                                f"{auc:.2f}; 0.50 is chance)."})
    return out


def _audiences(ranked: list[BriefVariant], targets: list[str], similarity: CatalogSimilarity | None,
               catalog: CatalogAudiences | None, unavailable: str | None, ratings: Sequence[str] | None
               ) -> tuple[dict[str, Any], list[AudienceGroup]]:
    if similarity is None or catalog is None or not ranked:
        reason = unavailable or "no variant could be read"
        return {"available": False, "note": f"{reason.rstrip('.')}. {HOW_TO_ADD}" if ranked else reason,
                "ratings": [], "from_variant": None}, []
    source = ranked[0]
    genres = targets or list(source.score.prediction.summary["reads_as"])
    if ratings is None:
        chosen, note = list(catalog.rating_default.ratings), catalog.rating_default.note
    else:
        chosen = in_rating_order(ratings)  # the parser's set has no order
        note = f"Limited to {and_list(chosen)} titles, as asked." if chosen else "Titles of every rating, as asked."
    prediction = source.score.prediction
    groups = comparable_by_genre(similarity, prediction.embedding, genres, ratings=chosen,
                                 exclude_sha256=prediction.sha256, keywords=catalog.keywords)
    basis = "the recommended variant" if source.score.fits else "the closest variant"
    return {"available": True, "note": note, "ratings": chosen, "from_variant": source.label,
            "basis": f"Titles whose posters look most like {basis}, {source.title}, and carry the genre; the studio's "
                     "own films first. Keyword seeds: the words that set these titles' plots apart from the "
                     "catalog's other plots."}, groups


# -- the brief ------------------------------------------------------------------------------------------------

def build_brief(core: ModelCore, predictions: Sequence[PosterPrediction | PosterFailure], *,
                synopsis: str | None = None, intended: str | Sequence[str] | None = None, title: str | None = None,
                similarity: CatalogSimilarity | None = None, catalog: CatalogAudiences | None = None,
                unavailable: str | None = None, ratings: Sequence[str] | None = None,
                heatmaps: bool = False) -> Brief:
    """The brief for poster-only predictions of 1–MAX_VARIANTS variants of one film; `similarity` and `catalog`
    give the audiences, else `unavailable` says why there are none. `heatmaps`: Grad-CAM maps of the targets on
    each variant (its `.image`), drawn only by the HTML page; JSON has no use for them, and they load torch."""
    if not 1 <= len(predictions) <= MAX_VARIANTS:
        raise PosterGenreError(f"a brief takes 1 to {MAX_VARIANTS} poster variants, got {len(predictions)}")
    synopsis = (synopsis or "").strip() or None
    story = core.read_synopsis([synopsis])[0] if synopsis else None
    targets, target_source = _targets(core, intended, story)
    result = rank_variants(predictions, targets, synopsis_given=synopsis is not None)
    ranked = [BriefVariant(v, _label(v.index)) for v in result.variants]
    labels = {id(v.score): v.label for v in ranked}
    reason = result.reason(lambda v: labels[id(v)])
    for v in ranked:
        v.score.image = v.score.prediction.image
        if heatmaps and targets and v.score.image is not None:
            v.score.heatmaps = core.gradcam(v.score.image, targets)
    story_part = _story(story, ranked)
    audiences, groups = _audiences(ranked, targets, similarity, catalog, unavailable, ratings)
    shown = targets or (list(ranked[0].score.prediction.summary["reads_as"]) if ranked else [])
    return Brief(title=(title or "").strip() or None, targets=targets, target_source=target_source, compare=result,
                 variants=ranked, recommendation=_recommendation(ranked, targets, target_source, reason),
                 story=story_part,
                 audiences=audiences, groups=groups,
                 how_sure=how_sure(core.artifact.metrics, shown, synopsis=synopsis is not None))
