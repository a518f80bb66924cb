"""What the campaign tables hold, as plain data. Readings are the uses layer's JSON, stored and returned as is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class StoredReading:
    """A variant's reading as the model made it: `poster` (the poster alone, what ranking uses) and `combined`
    (fused with the synopsis whose sha256 is `synopsis`), with the fingerprint of the model that made them."""

    model: str
    model_label: str
    poster: dict[str, Any]
    embedding: np.ndarray = field(repr=False)
    width: int
    height: int
    read_at: str
    synopsis: str | None = None
    combined: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewVariant:
    """A poster to add: its bytes, the name it came with (a file name: shown to the team, never logged), its reading."""

    data: bytes
    name: str
    reading: StoredReading


@dataclass(frozen=True)
class Variant:
    id: int
    campaign_id: str
    sha256: str
    name: str
    bytes: int
    added_by: str
    added_at: str
    reading: StoredReading | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "name": self.name,
            "bytes": self.bytes,
            "added_by": self.added_by,
            "added_at": self.added_at,
        }


@dataclass(frozen=True)
class Change:
    member: str
    action: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return {"member": self.member, "action": self.action, "at": self.at}


@dataclass(frozen=True)
class Campaign:
    """One film's poster work. `ratings`: the content ratings of comparable titles (None: the studio's own, []:
    every rating). `variants` in the order they were added; `changes` newest first."""

    id: str
    title: str
    synopsis: str | None
    intended: list[str]
    ratings: list[str] | None
    created_by: str
    created_at: str
    updated_by: str
    updated_at: str
    variants: list[Variant] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "synopsis": self.synopsis,
            "intended": list(self.intended),
            "ratings": None if self.ratings is None else list(self.ratings),
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class CampaignSummary:
    id: str
    title: str
    variants: int
    updated_by: str
    updated_at: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "variants": self.variants,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class Added:
    """What `add_variants` did: the variants stored, and the posters skipped because the campaign holds them."""

    variants: list[Variant]
    duplicates: list[tuple[str, int]]  # (name given, id of the variant that already holds the poster)


@dataclass(frozen=True)
class Removal:
    """What a deletion removed from the database and the disk, and which poster files stayed (another campaign
    holds the same poster)."""

    campaign_id: str
    campaign_deleted: bool
    variants: list[Variant]
    readings: int
    files_removed: list[str]
    files_kept: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "campaign_deleted": self.campaign_deleted,
            "variants": [{"id": v.id, "name": v.name, "sha256": v.sha256} for v in self.variants],
            "readings_removed": self.readings,
            "poster_files_removed": list(self.files_removed),
            "poster_files_kept": list(self.files_kept),
            "text": self.text,
        }

    @property
    def text(self) -> str:
        variants = _counted(len(self.variants), "variant")
        what = f"campaign {self.campaign_id}" if self.campaign_deleted else f"{variants} of campaign {self.campaign_id}"
        kept = ""
        if self.files_kept:
            kept = f"; {_counted(len(self.files_kept), 'poster file')} kept (another campaign holds the same poster)"
        return (
            f"Removed {what}: {variants}, {_counted(self.readings, 'stored reading')}, "
            f"{_counted(len(self.files_removed), 'poster file')} deleted from disk{kept}."
        )


def _counted(n: int, word: str) -> str:
    """`n` and `word`, plural unless n is 1: "3 variants", "1 variant"."""
    return f"{n} {word}{'s' if n != 1 else ''}"


@dataclass(frozen=True)
class Sweep:
    """What opening the store cleaned up after a killed writer."""

    orphan_files: list[str]
    temporaries: int

    @property
    def removed(self) -> int:
        return len(self.orphan_files) + self.temporaries
