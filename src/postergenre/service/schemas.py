"""Typed request and response bodies of the HTTP API.

These models are the API documentation: FastAPI turns them into the OpenAPI schema at /docs, and the
schema-driven fuzz test checks every response against them.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, Field


class ErrorResponse(BaseModel):
    """Every 4xx/5xx answer: one message naming the problem (never a stack trace)."""

    error: str = Field(description="What went wrong and, where possible, how to fix it.")


class UrlRequest(BaseModel):
    """JSON alternative to an upload: the service downloads the poster itself."""

    url: str = Field(description="http(s) URL of a poster image; private and loopback hosts are refused.")


class GenreScore(BaseModel):
    genre: str
    probability: float = Field(ge=0, le=1)
    threshold: float = Field(description="The decision threshold applied to this genre.")
    decided: bool = Field(description="True when the genre is in the decided set.")


class PosterCheck(BaseModel):
    """Whether the input looks like a movie poster at all (distance from the training posters)."""

    score: float
    is_poster: bool
    message: Optional[str] = None


class Heatmap(BaseModel):
    genre: str
    png: str = Field(description="data:image/png;base64 URL; a colour overlay with transparency, same aspect as the poster.")


class PredictResponse(BaseModel):
    source: str
    genres: list[GenreScore] = Field(description="All genres, most probable first.")
    decided: list[str] = Field(description="The decided genre set, most probable first.")
    poster_check: PosterCheck
    heatmaps: list[Heatmap] = Field(default_factory=list, description="Only with explain=true: one per top genre.")


class SimilarTitle(BaseModel):
    imdb_id: str
    title: Optional[str] = None
    year: Optional[int] = None
    genres: list[str]
    similarity: float = Field(description="Cosine similarity of the poster embeddings (1 = identical).")
    poster_url: Optional[str] = Field(None, description="Relative URL of the catalog poster (GET /v1/posters/{sha256}).")


class SimilarResponse(BaseModel):
    source: str
    titles: list[SimilarTitle]


class CompareVariant(BaseModel):
    rank: int = Field(ge=1)
    index: int = Field(ge=0, description="Position of this variant among the uploaded files.")
    source: str
    target_score: float = Field(description="How strongly the poster signals the target genres: the geometric mean over "
                                            "targets of probability / decision threshold (1.0 = just decided; higher is better).")
    target_probabilities: dict[str, float]
    unintended: list[GenreScore] = Field(description="Decided genres that are not targets.")
    genres: list[GenreScore]
    poster_check: PosterCheck


class CompareResponse(BaseModel):
    targets: list[str]
    variants: list[CompareVariant] = Field(description="Best variant first.")


class GenreInfo(BaseModel):
    genre: str
    threshold: float


class GenresResponse(BaseModel):
    genres: list[GenreInfo]


class ModelResponse(BaseModel):
    backbone: str
    genres: list[str]
    created_at: Optional[str] = None
    metrics: dict[str, Any] = Field(description="Cross-validated metrics stored in the model artifact.")
    card_markdown: str = Field(description="The model card (MODEL_CARD.md) as Markdown.")


class HealthResponse(BaseModel):
    status: str
    version: str
    genres: int
    similar_available: bool = Field(description="Whether the data folder has catalog embeddings for comparable titles.")
