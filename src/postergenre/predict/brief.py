"""The campaign brief: which poster variant to run, what it signals, how well it sells the story, whom to aim at.

One function of the model core and the catalog (`build_brief`); the Predictor, the CLI (`postergenre brief`), the
service (`POST /v1/brief`) and the page all get it from here, and `render.brief` renders it. It holds:

1. the recommendation: the first variant of the compare ranking (`decisions.rank_key`), in the one sentence the
   compare headline uses ("Run B (clean.jpg): it reads as Family and Adventure, while A (loud.jpg) also reads as
   Drama."), then each variant's verdicts; a variant that misses a target is never called a fit, and an image that
   does not look like a poster is never recommended unless all of them are such images;
2. story vs poster: what the synopsis, read alone, reads as and hints at, and how strongly (the levels and the
   strength scale of `model/decisions.py`), against what each variant's poster reads as: the genres the story reads
   as that a poster does not show (it under-sells them), and the genres a poster reads as that belong to the film by
   no account (it promises them): not read or hinted by the story, not intended, not catalogued for the film;
3. per variant: its reading, the verdict per target, unintended genres, and (for the HTML page only: `heatmaps=True`)
   Grad-CAM heatmaps of the targets, which need the PyTorch backbone;
4. audiences: comparable catalog titles per target genre with their plots' keyword seeds (`audiences.py`);
5. how sure: the model's cross-validated ROC AUC per target genre on the studio's films, in words.

Targets are the intended genres; without them, the genres the story reads as (its hints stay hints: no variant is
failed for missing a genre the synopsis only hints at); with neither, there are no targets and no recommendation (the
brief says what to add). The film (`BriefFilm`: from the catalog when the user names it, `--film tt0099785`) gives its
catalogued genres, which are never called unwanted, and its title and plot where none are given. Nothing in the brief
is invented: every genre, number and title comes from the model, its stored metrics or the catalog.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from ..catalog.filters import in_rating_order
from ..errors import ModelError, PosterGenreError
from ..model.decisions import MAX_BRIEF_VARIANTS, reads_as, strength_text
from ..safe_text import without_bidi_controls
from .audiences import HOW_TO_ADD, AudienceGroup, CatalogAudiences, comparable_by_genre
from .compare import CompareResult, VariantScore, and_list, rank_variants
from .core import ModelCore, match_genres, split_genre_list
from .results import GenreReading, PosterFailure, PosterPrediction
from .similar import CatalogSimilarity

SURE_WORDS = (
    (0.9, "very reliable"),
    (0.8, "reliable"),
    (0.7, "fairly reliable"),
    (0.6, "a weak signal"),
    (0.0, "barely better than chance"),
)
"""ROC AUC → words: the chance that a film of the genre scores above one without it (0.5 = a coin toss)."""


def _label(index: int) -> str:
    return chr(ord("A") + index)


@dataclass(frozen=True)
class BriefFilm:
    """The film the brief is for, as the catalog knows it: its catalogued genres, title and plot."""

    imdb_id: str
    title: str | None = None
    genres: tuple[str, ...] = ()
    plot: str | None = None

    @classmethod
    def from_home(cls, home: Path | str | None, imdb_id: str) -> BriefFilm:
        """The film `imdb_id` ("tt0099785", "99785" or its IMDb URL) from the catalog of the data folder `home`."""
        from ..catalog.formats import normalise_imdb_id
        from ..catalog.store import Catalog
        from ..config import get_paths

        wanted = normalise_imdb_id(imdb_id)
        if wanted is None:
            raise PosterGenreError(f"film {imdb_id!r} is not an IMDb id (e.g. tt0099785)")
        db = get_paths(home).db
        if not db.is_file():
            raise ModelError(f"no catalog at {db} to take film {wanted} from. {HOW_TO_ADD}")
        with Catalog(db) as catalog:
            movie = catalog.get_movie(wanted)
        if movie is None:
            raise PosterGenreError(
                f"film {wanted} is not in the catalog at {db}; import it, or give --title, "
                "--synopsis and --intended instead"
            )
        return cls(movie.imdb_id, movie.title, tuple(movie.genres), movie.plot)

    def to_dict(self) -> dict[str, Any]:
        return {"imdb_id": self.imdb_id, "title": self.title, "genres": list(self.genres)}


@dataclass
class BriefVariant:
    """One variant in the brief: its compare standing plus what it does to the story."""

    score: VariantScore
    label: str
    under_sold: list[str] = field(default_factory=list)
    over_promised: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The file name, without bidirectional controls (it goes into sentences)."""
        return without_bidi_controls(PurePath(self.score.source).name or self.score.source)

    @property
    def title(self) -> str:
        return f"{self.label} ({self.name})"

    def to_dict(self) -> dict[str, Any]:
        v, reading = self.score, self.score.prediction.reading
        return {
            "label": self.label,
            "name": self.name,
            "source": v.source,
            "index": v.index,
            "rank": v.rank,
            "best": v.best,
            "fits_all_targets": v.fits,
            "verdict": v.verdict,
            "verdicts": [dict(x) for x in v.verdicts],
            "target_score": round(v.score, 6),
            "is_poster": v.is_poster,
            "poster_check": dict(reading.poster_check),
            "summary": dict(reading.summary),
            "decided": list(reading.decided),
            "levels": reading.levels,
            "unintended": {g: round(p, 6) for g, p in v.unintended.items()},
            "under_sold": list(self.under_sold),
            "over_promised": list(self.over_promised),
            "probabilities": {g: round(p, 6) for g, p in reading.probabilities.items()},
            "strength": {g: round(s, 6) for g, s in reading.strength.items()},
            "thresholds": {g: round(t, 6) for g, t in reading.thresholds.items()},
        }


TARGET_SOURCES = {
    "intended": "intended genres",
    "story": "what the synopsis reads as (no intended genres given)",
    "none": "no intended genres given, and no synopsis that reads clearly as a genre",
}
"""Where the brief's targets came from, in words."""


@dataclass
class Brief:
    """The brief's content; `to_dict` is its JSON, `render.brief.render_brief` its page."""

    title: str | None
    targets: list[str]
    target_source: str  # a key of TARGET_SOURCES
    compare: CompareResult
    variants: list[BriefVariant]  # ranked, best first
    recommendation: dict[str, Any]
    story: dict[str, Any] | None
    audiences: dict[str, Any]
    groups: list[AudienceGroup]
    how_sure: list[dict[str, Any]]
    film: BriefFilm | None = None

    @property
    def failures(self) -> list[PosterFailure]:
        return self.compare.failures

    @property
    def target_words(self) -> str:
        """Where the targets came from, in words ("intended genres", ...)."""
        return TARGET_SOURCES[self.target_source]

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "film": self.film.to_dict() if self.film else None,
            "targets": list(self.targets),
            "target_source": self.target_source,
            "target_words": self.target_words,
            "recommendation": dict(self.recommendation),
            "story": self.story,
            "variants": [v.to_dict() for v in self.variants],
            "audiences": {**self.audiences, "groups": [g.to_dict() for g in self.groups]},
            "how_sure": [dict(h) for h in self.how_sure],
            "failures": [f.to_dict() for f in self.failures],
        }


# -- the parts ------------------------------------------------------------------------------------------------


def _targets(intended: list[str], story: GenreReading | None) -> tuple[list[str], str]:
    if intended:
        return intended, "intended"
    if story is not None and story.summary["reads_as"]:
        return list(story.summary["reads_as"]), "story"  # the story's hints stay hints
    return [], "none"


def _recommendation(result: CompareResult, ranked: list[BriefVariant], targets: list[str]) -> dict[str, Any]:
    if not ranked:
        return {
            "label": None,
            "name": None,
            "fits": False,
            "text": "No variant could be read.",
            "reason": None,
            "why": [],
        }
    if not targets:
        return {
            "label": None,
            "name": None,
            "fits": False,
            "reason": None,
            "text": "No recommendation: give the intended genres (or a synopsis that reads clearly as a genre, "
            "which then becomes the target) to say which variant to run. Each variant's reading is below.",
            "why": [
                f"{v.title} {v.score.prediction.summary['text'][0].lower()}{v.score.prediction.summary['text'][1:]}"
                for v in ranked
            ],
        }
    labels = {id(v.score): v for v in ranked}
    reason = result.reason(lambda v: labels[id(v)].label)
    why = [reason] if reason else []
    for v in ranked:
        line = f"{v.title}: {v.score.verdict} Overall it {v.score.reads_as_words}."
        if not v.score.is_poster:
            line += " Does not look like a movie poster."
        why.append(line)
    return {
        "label": ranked[0].label,
        "name": ranked[0].name,
        "fits": ranked[0].score.fits,
        "text": result.sentence(lambda v: labels[id(v)].title),
        "reason": reason,
        "why": why,
    }


def _read(genres: Sequence[str], strengths: dict[str, float]) -> str:
    """Genres with how strongly they were read: "Comedy (2.3×) and Family (1.8×)"."""
    return and_list([f"{g} ({strength_text(strengths[g])})" for g in genres])


def _story_name(from_catalog: bool) -> str:
    return "The catalog's plot" if from_catalog else "The synopsis"


def _story_text(story: GenreReading, film: BriefFilm | None, catalogued: list[str], from_catalog: bool) -> str:
    """What the synopsis, read alone, reads as and hints at, and how strongly; what the catalog files the film as."""
    reads, hints = story.summary["reads_as"], story.summary["hints_at"]
    what = _story_name(from_catalog)
    if reads:
        text = f"{what}, read alone, reads as {_read(reads, story.strength)}"
        text += f" and hints at {_read(hints, story.strength)}." if hints else "."
    elif hints:
        text = f"{what}, read alone, reads as no genre clearly; it hints at {_read(hints, story.strength)}."
    else:
        text = f"{what}, read alone, reads as no genre clearly."
    if film is not None and catalogued:
        name = without_bidi_controls(film.title or film.imdb_id)
        text += f" The catalog files {name} under {and_list(catalogued)}."
    return text


def _belongs_words(intended: list[str], catalogued: list[str]) -> str:
    """Who vouches for the film's genres, in words, for "promises Horror, which …"."""
    sources = (
        ["the story"]
        + (["the intended genres"] if intended else [])
        + (["the film's catalogued genres"] if catalogued else [])
    )
    if len(sources) == 1:
        return "which the story does not carry"
    return f"which neither {', '.join(sources[:-1])} nor {sources[-1]} carry"


def _story(
    story: GenreReading | None,
    ranked: list[BriefVariant],
    intended: list[str],
    catalogued: list[str],
    film: BriefFilm | None,
    from_catalog: bool,
) -> dict[str, Any] | None:
    """Story vs poster (module docstring, 2). A genre the user intends, the catalog files the film under, or the
    story reads or hints at is never one a poster "promises" against the story."""
    if story is None:
        return None
    reads = list(story.summary["reads_as"])
    belongs = set(story.decided) | set(intended) | set(catalogued)
    for v in ranked:
        reading = v.score.prediction.reading
        v.under_sold = [g for g in reads if g not in reading.decided]
        v.over_promised = [g for g in reads_as(reading.decided, reading.strength)[0] if g not in belongs]
    posters = [v for v in ranked if v.score.is_poster] or ranked
    unshown = [g for g in reads if all(g in v.under_sold for v in posters)]
    lines = []
    if unshown and ranked:
        lines.append(
            f"{_story_name(from_catalog)} reads as {_read(unshown, story.strength)}; no variant shows "
            f"{'it' if len(unshown) == 1 else 'them'}."
        )
    promises = _belongs_words(intended, catalogued)
    for v in ranked:
        parts = [f"under-sells {and_list(v.under_sold)}"] if v.under_sold else []
        if v.over_promised:
            parts.append(f"promises {and_list(v.over_promised)}, {promises}")
        lines.append(f"{v.title} " + ("; ".join(parts) if parts else "shows what the story reads as") + ".")
    return {
        "genres": list(story.decided),
        "reads_as": reads,
        "hints_at": list(story.summary["hints_at"]),
        "from_catalog": from_catalog,
        "summary": dict(story.summary),
        "levels": story.levels,
        "text": _story_text(story, film, catalogued, from_catalog),
        "probabilities": {g: round(p, 6) for g, p in story.probabilities.items()},
        "strength": {g: round(p, 6) for g, p in story.strength.items()},
        "under_sold_by_all": unshown,
        "lines": lines,
    }


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
        sources = [
            (
                "poster",
                {"per_genre": cv.get("per_genre", []), "n_movies": None},
                "general catalog films (this model was not measured on studio films)",
            )
        ]
    out: list[dict[str, Any]] = []
    for genre in genres:
        for signal, entry, scope in sources:
            row = next((r for r in (entry or {}).get("per_genre", []) if r.get("genre") == genre), None)
            auc = row.get("roc_auc") if row else None
            if auc is None or row is None or entry is None:  # no AUC: no row, or no entry to hold one
                out.append(
                    {
                        "genre": genre,
                        "signal": signal,
                        "roc_auc": None,
                        "words": "not measured",
                        "text": f"{genre} from the {signal}: not measured on {scope}.",
                    }
                )
                continue
            word = next(w for bound, w in SURE_WORDS if auc >= bound)
            films = entry.get("n_movies")
            on = f"{films:,} {scope}" if films else scope
            out.append(
                {
                    "genre": genre,
                    "signal": signal,
                    "roc_auc": round(float(auc), 4),
                    "films": films,
                    "support": row.get("support"),
                    "words": word,
                    "text": f"{genre} from the {signal}: {word}. In {folds}-fold cross-validation on {on} "
                    f"({row.get('support', 0):,} of them {genre}), the {signal} of a film with {genre} "
                    f"scored higher for it than that of a film without it {auc:.0%} of the time (ROC AUC "
                    f"{auc:.2f}; 0.50 is chance).",
                }
            )
    return out


def _audiences(
    ranked: list[BriefVariant],
    targets: list[str],
    similarity: CatalogSimilarity | None,
    catalog: CatalogAudiences | None,
    unavailable: str | None,
    ratings: Collection[str] | None,
) -> tuple[dict[str, Any], list[AudienceGroup]]:
    if similarity is None or catalog is None or not ranked:
        reason = unavailable or "no variant could be read"
        return {
            "available": False,
            "note": f"{reason.rstrip('.')}. {HOW_TO_ADD}" if ranked else reason,
            "ratings": [],
            "from_variant": None,
        }, []
    source = ranked[0]
    genres = targets or list(source.score.prediction.summary["reads_as"])
    if ratings is None:
        chosen, note = list(catalog.rating_default.ratings), catalog.rating_default.note
    else:
        chosen = in_rating_order(ratings)  # the parser's set has no order
        note = f"Limited to {and_list(chosen)} titles, as asked." if chosen else "Titles of every rating, as asked."
    prediction = source.score.prediction
    groups = comparable_by_genre(
        similarity,
        prediction.embedding,
        genres,
        ratings=chosen,
        exclude_sha256=prediction.sha256,
        keywords=catalog.keywords,
    )
    basis = "the recommended variant" if source.score.fits else "the closest variant"
    return {
        "available": True,
        "note": note,
        "ratings": chosen,
        "from_variant": source.label,
        "basis": f"Titles whose posters look most like {basis}, {source.title}, and carry the genre; the studio's "
        "own films first. Keyword seeds: the words that set these titles' plots apart from the "
        "catalog's other plots.",
    }, groups


# -- the brief ------------------------------------------------------------------------------------------------


def build_brief(
    core: ModelCore,
    predictions: Sequence[PosterPrediction | PosterFailure],
    *,
    synopsis: str | None = None,
    intended: str | Sequence[str] | None = None,
    title: str | None = None,
    film: BriefFilm | None = None,
    similarity: CatalogSimilarity | None = None,
    catalog: CatalogAudiences | None = None,
    unavailable: str | None = None,
    ratings: Collection[str] | None = None,
    heatmaps: bool = False,
) -> Brief:
    """The brief for poster-only predictions of 1–MAX_BRIEF_VARIANTS variants of one film; `film` (the catalog's
    record) gives its catalogued genres, and its title and plot where `title`/`synopsis` are not given;
    `similarity` and `catalog` give the audiences, else `unavailable` says why there are none. `heatmaps`: Grad-CAM
    maps of the targets on each variant (its `.image`), drawn only by the HTML page; JSON has no use for them, and
    they load torch."""
    if not 1 <= len(predictions) <= MAX_BRIEF_VARIANTS:
        raise PosterGenreError(f"a brief takes 1 to {MAX_BRIEF_VARIANTS} poster variants, got {len(predictions)}")
    given = (synopsis or "").strip()
    plot = (film.plot or "").strip() if film is not None else ""
    from_catalog = not given and bool(plot)
    synopsis = given or plot or None
    story = core.read_synopsis([synopsis])[0] if synopsis else None
    wanted = match_genres(split_genre_list(intended), core.genres)
    catalogued = [g for g in core.genres if film is not None and g in film.genres]  # genres the model knows
    targets, target_source = _targets(wanted, story)
    result = rank_variants(predictions, targets, synopsis_given=synopsis is not None)
    ranked = [BriefVariant(v, _label(v.index)) for v in result.variants]
    for v in ranked:
        v.score.image = v.score.prediction.image
        if heatmaps and targets and v.score.image is not None:
            v.score.heatmaps = core.gradcam(v.score.image, targets)
    story_part = _story(story, ranked, wanted, catalogued, film, from_catalog)
    audiences, groups = _audiences(ranked, targets, similarity, catalog, unavailable, ratings)
    shown = targets or (list(ranked[0].score.prediction.summary["reads_as"]) if ranked else [])
    return Brief(
        title=(title or "").strip() or (film.title if film else None),
        targets=targets,
        target_source=target_source,
        compare=result,
        variants=ranked,
        recommendation=_recommendation(result, ranked, targets),
        story=story_part,
        audiences=audiences,
        groups=groups,
        how_sure=how_sure(core.artifact.metrics, shown, synopsis=synopsis is not None),
        film=film,
    )
