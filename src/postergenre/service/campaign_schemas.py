"""Typed bodies of the campaign and session endpoints: the same fields as `postergenre campaign ... --format json`.

They document the API at /docs; the schema-driven fuzz test checks every answer against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..campaigns.store import MAX_SYNOPSIS_CHARS, MAX_TITLE_CHARS

GenreList = list[str] | str
RatingList = list[str] | str


class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE_CHARS, description="The film's title.")
    synopsis: str | None = Field(
        None,
        max_length=MAX_SYNOPSIS_CHARS,
        description="The film's synopsis: every "
        "variant is also read fused with it, and the brief sets the story against the "
        "posters.",
    )
    intended: GenreList = Field(
        default_factory=list,
        description='Intended genres: a list, or "Family, Adventure". '
        "Without them the story's genres are the targets.",
    )
    ratings: RatingList | None = Field(
        None,
        description='Content ratings of the comparable titles (a list, "G,PG", or "all"); null: the studio\'s own.',
    )


class CampaignUpdate(BaseModel):
    """Only the fields sent change; `synopsis: null` removes the synopsis, `ratings: null` goes back to the studio's."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE_CHARS)
    synopsis: str | None = Field(None, max_length=MAX_SYNOPSIS_CHARS)
    intended: GenreList | None = None
    ratings: RatingList | None = None


class ModelInfo(BaseModel):
    fingerprint: str = Field(description="Hash of the model (and runtime) that answers now.")
    label: str


class StoredReadingOut(BaseModel):
    poster: dict[str, Any] = Field(
        description="The poster's reading alone (what the ranking uses): probabilities, "
        "thresholds, strength, decided, summary, poster_check, signal."
    )
    combined: dict[str, Any] | None = Field(
        description="The reading fused with the campaign's synopsis (null without one)."
    )
    model: str = Field(description="Fingerprint of the model that made the reading.")
    model_label: str
    read_at: str
    stale: bool = Field(description="Made by another model or for another synopsis: re-read it (POST .../reread).")
    stale_because: list[str]
    width: int
    height: int


class VariantOut(BaseModel):
    id: int
    sha256: str
    name: str = Field(description="The file name it was added with.")
    bytes: int
    added_by: str
    added_at: str
    label: str | None = Field(None, description="A, B, C... in the order variants were added (as in the brief).")
    rank: int | None = Field(None, description="Its place in the ranking (1 = ranked first).")
    best: bool = Field(False, description="The variant to run: ranked first and a fit (as in the brief).")
    fits_all_targets: bool | None = None
    verdict: str | None = None
    verdicts: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Per target: genre, decided, strength and level (reads, hints, faint), with the words.",
    )
    target_score: float | None = None
    levels: dict[str, str] | None = Field(
        None,
        description="The poster reading's level of every genre (reads, "
        "hints, faint), in reading order; null without a stored reading.",
    )
    unintended: dict[str, float] = Field(
        default_factory=dict, description="Decided genres that are not targets, with their probability."
    )
    under_sold: list[str] = Field(
        default_factory=list, description="Genres the story carries that this poster does not show."
    )
    over_promised: list[str] = Field(
        default_factory=list, description="Genres this poster shows that the story does not carry."
    )
    reading: StoredReadingOut | None
    poster_url: str = Field(description="The variant's poster (GET; needs a token, like everything of a campaign).")


class ChangeOut(BaseModel):
    member: str
    action: str
    at: str


class CampaignOut(BaseModel):
    id: str
    title: str
    synopsis: str | None
    intended: list[str]
    ratings: list[str] | None
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str
    model: ModelInfo
    stale_readings: int
    variants: list[VariantOut] = Field(description="In the order they were added.")
    ranking: dict[str, Any] | None = Field(
        description="targets, target_source, target_words, recommendation "
        "and story (vs the posters), built from the stored readings by the "
        "brief's rules; null without variants."
    )
    changes: list[ChangeOut] = Field(description="Who changed what, newest first.")
    brief_url: str


class CampaignSummaryOut(BaseModel):
    id: str
    title: str
    variants: int
    updated_by: str
    updated_at: str
    url: str


class CampaignList(BaseModel):
    campaigns: list[CampaignSummaryOut] = Field(description="Most recently changed first.")


class Skipped(BaseModel):
    name: str
    variant: int
    error: str


class FailureOut(BaseModel):
    source: str
    id: str | None = None
    error: str


class AddedVariant(BaseModel):
    id: int
    sha256: str
    name: str
    bytes: int
    added_by: str
    added_at: str


class VariantsAdded(BaseModel):
    campaign: CampaignOut
    added: list[AddedVariant]
    duplicates: list[Skipped] = Field(description="Posters the campaign already holds (not added again).")
    failures: list[FailureOut] = Field(description="Files that could not be read (not stored).")


class RemovedVariant(BaseModel):
    id: int
    name: str
    sha256: str


class RemovalOut(BaseModel):
    campaign: str
    campaign_deleted: bool
    variants: list[RemovedVariant]
    readings_removed: int
    poster_files_removed: list[str] = Field(description="sha256 of each poster file deleted from disk.")
    poster_files_kept: list[str] = Field(description="Poster files kept because another campaign holds them.")
    text: str


class Reread(BaseModel):
    reread: int = Field(description="How many variants were read again.")
    campaign: CampaignOut


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200, description="The token `postergenre team add NAME` printed.")


class SessionOut(BaseModel):
    member: str
    access: str = Field(description='"token", "session", or "open" (a loopback server without --require-token).')
    required: bool = Field(description="Whether this server asks every request for a token.")
    expires_at: str | None = None
