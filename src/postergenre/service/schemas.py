"""Typed request and response bodies of the HTTP API: the same fields as the CLI's `--format json`.

These models are the API documentation: FastAPI turns them into the OpenAPI schema at /docs, and the schema-driven
fuzz test checks every response against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: one message naming the problem (never a stack trace)."""

    error: str = Field(description="What went wrong and, where possible, how to fix it.")
    message: str | None = Field(
        None,
        description="The same in plain words for people, where `error` is "
        "technical (a poster URL that could not be fetched).",
    )


class UrlRequest(BaseModel):
    """JSON alternative to an upload: the service downloads the poster itself."""

    url: str | None = Field(
        None,
        description="http(s) URL of a poster image; private and loopback hosts are "
        "refused. /v1/predict reads a synopsis alone when there is no url.",
    )
    synopsis: str | None = Field(None, max_length=5000, description="The film's synopsis (optional).")


class PosterCheck(BaseModel):
    """Whether the input looks like a movie poster at all."""

    score: float
    is_poster: bool
    message: str | None = Field(None, description="When flagged: what it means, in a sentence.")
    label: str | None = Field(None, description='When flagged: the same in two words ("not a poster?").')


class Summary(BaseModel):
    reads_as: list[str]
    hints_at: list[str]
    text: str = Field(description='Plain words, e.g. "Reads as: Animation, Family. Also hints at: Comedy."')


class Heatmap(BaseModel):
    genre: str
    png: str = Field(
        description="data:image/png;base64 URL: a transparent colour overlay in the poster's aspect "
        "(blue = little evidence, red = strongest)."
    )


class Prediction(BaseModel):
    source: str
    id: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    probabilities: dict[str, float] = Field(
        description="All genres, most probable first (combined estimate when a synopsis was given)."
    )
    thresholds: dict[str, float] = Field(description="Each genre's decision threshold.")
    strength: dict[str, float] = Field(
        description="probability ÷ threshold: 1.0 = just decided; comparable across "
        "genres. The one scale every face shows."
    )
    levels: dict[str, str] = Field(
        description='Every genre\'s level: "reads" (decided, strength ≥ 1.5), "hints" '
        '(decided, weaker) or "faint" (not decided), in reading order: decided '
        "genres strongest first, then the rest strongest first."
    )
    decided: list[str] = Field(description="The decided genre set, most probable first.")
    summary: Summary
    poster_check: PosterCheck | None = Field(None, description="Absent for a synopsis read alone (no poster).")
    signal: str = Field(description='"poster", "poster+synopsis", or "synopsis" (a synopsis read alone, no poster).')
    poster_probabilities: dict[str, float] | None = Field(None, description="Only with a synopsis: the poster alone.")
    synopsis_probabilities: dict[str, float] | None = Field(
        None, description="Only with a synopsis: the synopsis alone."
    )
    poster_strength: dict[str, float] | None = Field(
        None, description="Only with a synopsis: the poster alone's strength (÷ the poster's own lines)."
    )
    synopsis_strength: dict[str, float] | None = Field(
        None, description="Only with a synopsis: the synopsis alone's strength (÷ its own lines)."
    )
    heatmaps: list[Heatmap] = Field(default_factory=list, description="Only when asked (explain / heatmaps).")


class SimilarTitle(BaseModel):
    imdb_id: str
    title: str | None = None
    year: int | None = None
    genres: list[str]
    rating: str | None = None
    collections: list[str] = Field(default_factory=list)
    similarity: float = Field(description="Mean of the look and genre-profile cosines (1 = identical).")
    match: str = Field(description='"very close", "close" or "loose", calibrated on this catalog\'s own neighbours.')
    imdb_url: str
    poster_url: str = Field(description="Relative URL of the catalog poster (GET /v1/posters/{sha256}).")


class SimilarResponse(BaseModel):
    source: str
    titles: list[SimilarTitle]
    query_is_poster: bool = Field(description="False: the upload does not look like a poster; matches mean little.")


class TargetVerdict(BaseModel):
    genre: str
    decided: bool
    strength: float
    level: str = Field(
        description='"reads" (decided, strong), "hints" (decided, weaker) or "faint" (missed: not decided).'
    )
    words: str


class CompareVariant(BaseModel):
    rank: int = Field(ge=1)
    index: int = Field(ge=0, description="Position of this variant among the uploaded files.")
    source: str
    best: bool = Field(description="The variant to run: ranked first and a fit (every target decided, a poster).")
    target_score: float = Field(
        description="Geometric mean over the targets of probability ÷ threshold (1.0 = just "
        "decided; higher is better): an exact number, not shown in words."
    )
    target_probabilities: dict[str, float]
    target_strength: dict[str, float]
    targets_decided: list[str]
    fits_all_targets: bool = Field(description="Every target decided and the upload looks like a poster.")
    verdict: str = Field(
        description='Plain words per target, e.g. "Reads as Comedy; does not read as Family (0.6× the line)."'
    )
    verdicts: list[TargetVerdict]
    unintended: dict[str, float] = Field(description="Decided genres that are not targets, with probabilities.")
    also_reads_as: list[str] = Field(
        default_factory=list,
        description="Unintended genres the poster reads as "
        "(strength ≥ 1.5× the line), strongest first; fewer ranks higher.",
    )
    prediction: Prediction
    heatmaps: list[Heatmap] = Field(default_factory=list, description="Heatmaps of the target genres.")


class Failure(BaseModel):
    source: str
    id: str | None = None
    error: str


class CompareResponse(BaseModel):
    targets: list[str]
    headline: str = Field(
        description="Which variant to run and why, in one sentence; never calls a variant a fit "
        "when it misses a target."
    )
    decided_by: str | None = Field(
        default=None,
        description='The ranking step that put #1 above #2: "poster", '
        '"missed", "unintended", "stronger" or "order" (null with one variant).',
    )
    reason: str | None = Field(
        default=None,
        description="Why #1 ranks above #2 in detail: both readings and the deciding step (null with one variant).",
    )
    ranking: str = Field(description="How variants are ranked, in plain words.")
    scoring: str = Field(description="The ranking's arithmetic (target score), for the exact numbers.")
    note: str | None = None
    flagged: str | None = Field(
        default=None, description="What the poster check means for the ranking, when it flags a variant."
    )
    variants: list[CompareVariant] = Field(description="Best variant first.")
    failures: list[Failure] = Field(default_factory=list)


class GenreInfo(BaseModel):
    genre: str
    threshold: float


class GenresResponse(BaseModel):
    genres: list[GenreInfo]


class ModelResponse(BaseModel):
    backbone: str
    genres: list[str]
    created_at: str | None = None
    synopsis: bool = Field(description="Whether the model reads synopses.")
    metrics: dict[str, Any] = Field(description="Cross-validated metrics stored in the model artifact.")
    card_markdown: str = Field(description="The model card (MODEL_CARD.md) as Markdown.")
    card_html: str = Field(description="The model card rendered as HTML.")


class FiltersResponse(BaseModel):
    collections: list[str] = Field(description="Catalog collections, the studio's own first.")
    ratings: list[str] = Field(description="Every content rating the catalog holds, most common first.")
    default_ratings: list[str] = Field(
        default_factory=list,
        description="The ratings of the studio's collection: comparable titles default to these (empty: every rating).",
    )
    ratings_note: str = Field("", description="The default in words, e.g. why titles of unknown rating are left out.")
    genres: list[str]
    year_min: int | None = None
    year_max: int | None = None


class Level(BaseModel):
    code: str = Field(description='"reads", "hints" or "faint": the codes of `levels` in a prediction.')
    words: str = Field(description='The verb phrase sentences use, e.g. "reads as".')
    legend: str = Field(description="The level in words for a legend.")


class Scale(BaseModel):
    max: float = Field(description="Bars draw strength on 0..max.")
    line: float = Field(description="The decision line's strength (1.0).")
    line_fraction: float = Field(description="Where the line sits on a bar (0..1).")
    reads_as: float = Field(description="Strength from which a decided genre reads as it.")
    unit: str
    decimals: int
    rounding: str = Field(
        description='"down": a strength is shown rounded down, so it never shows a level it has not reached.'
    )
    levels: list[Level]


class Limits(BaseModel):
    brief_max_variants: int
    compare_min_variants: int
    compare_max_variants: int
    default_heatmaps: int = Field(description="Heatmaps drawn when none are asked for.")
    upload_max_bytes: int = Field(description="Largest poster upload or download, in bytes.")
    upload_max_text: str = Field(description='The same cap in words, as the page shows it (e.g. "10 MB").')
    campaign_title_max_chars: int = Field(description="Longest campaign title.")
    campaign_synopsis_max_chars: int = Field(description="Longest campaign synopsis.")


class RulesResponse(BaseModel):
    """What the page draws and holds no copy of: the strength scale, its levels and the limits."""

    scale: Scale
    limits: Limits


class HealthResponse(BaseModel):
    status: str
    version: str
    genres: int
    runtime: str = Field(description="The inference runtime of the backbone (onnx or torch).")
    similar_available: bool = Field(description="Whether the data folder has catalog embeddings for comparable titles.")
    synopsis_available: bool = Field(description="Whether the model reads synopses.")
    max_upload_bytes: int
