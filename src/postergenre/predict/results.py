"""What the uses layer returns: one genre reading per poster, a prediction (reading + where the poster came from),
and a failure. Plain data; `to_dict` is the one JSON shape shared by the CLI (`--format json`), the Python API and
the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from ..errors import PosterGenreError
from ..model.decisions import levels


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {g: round(float(v), 6) for g, v in values.items()}


@dataclass
class GenreReading:
    """The model's answer for one poster (and, optionally, its synopsis).

    `probabilities` is ordered from most to least probable; with a synopsis it is the combined estimate and
    `poster_probabilities` / `synopsis_probabilities` keep each signal alone. `strength` is probability ÷
    threshold (1.0 = just decided), the one scale every face shows (`model/decisions.py`); with a synopsis,
    `poster_strength` / `synopsis_strength` are each signal's own (its probability ÷ its own decision line).
    """

    probabilities: dict[str, float]
    thresholds: dict[str, float]
    strength: dict[str, float]
    decided: list[str]
    summary: dict[str, Any]
    poster_check: dict[str, Any]
    signal: str = "poster"
    poster_probabilities: dict[str, float] | None = None
    synopsis_probabilities: dict[str, float] | None = None
    poster_strength: dict[str, float] | None = None
    synopsis_strength: dict[str, float] | None = None
    embedding: np.ndarray | None = field(default=None, repr=False)

    def poster_embedding(self) -> np.ndarray:
        """The full embedding of the poster read: every reading of a poster has one (a synopsis alone has none)."""
        if self.embedding is None:
            raise PosterGenreError(f"a {self.signal} reading without a poster has no poster embedding")
        return self.embedding

    @property
    def levels(self) -> dict[str, str]:
        """{genre: "reads" | "hints" | "faint"} for every genre, in reading order (decided strongest first, then
        the rest strongest first): the order every face shows genres in."""
        return levels(self.decided, self.strength)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "probabilities": _rounded(self.probabilities),
            "thresholds": _rounded(self.thresholds),
            "strength": _rounded(self.strength),
            "levels": self.levels,
            "decided": list(self.decided),
            "summary": dict(self.summary),
            "poster_check": dict(self.poster_check),
            "signal": self.signal,
        }
        if not self.poster_check:  # a synopsis read alone: no poster, nothing checked
            del out["poster_check"]
        if self.poster_probabilities is not None:
            out["poster_probabilities"] = _rounded(self.poster_probabilities)
        if self.synopsis_probabilities is not None:
            out["synopsis_probabilities"] = _rounded(self.synopsis_probabilities)
        if self.poster_strength is not None:
            out["poster_strength"] = _rounded(self.poster_strength)
        if self.synopsis_strength is not None:
            out["synopsis_strength"] = _rounded(self.synopsis_strength)
        return out


@dataclass
class PosterPrediction:
    """A reading plus where the poster came from. `heatmap_files`: PNGs written by `predict --explain`."""

    source: str
    reading: GenreReading
    id: str | None = None
    sha256: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the decoded poster
    heatmap_files: list[str] = field(default_factory=list)
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # {genre: H×W 0..1}, when asked for
    image: Any = field(default=None, repr=False)  # the decoded poster (PIL), kept only with heatmaps

    ok: ClassVar[Literal[True]] = True  # tells a prediction from a failure (and narrows the union for mypy)

    # The reading's fields, read through: `prediction.decided` rather than `prediction.reading.decided`.
    @property
    def probabilities(self) -> dict[str, float]:
        return self.reading.probabilities

    @property
    def thresholds(self) -> dict[str, float]:
        return self.reading.thresholds

    @property
    def decided(self) -> list[str]:
        return self.reading.decided

    @property
    def poster_check(self) -> dict[str, Any]:
        return self.reading.poster_check

    @property
    def summary(self) -> dict[str, Any]:
        return self.reading.summary

    @property
    def embedding(self) -> np.ndarray:
        return self.reading.poster_embedding()

    def top(self, n: int) -> list[tuple[str, float]]:
        return list(self.probabilities.items())[:n]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe; the embedding is left out (it is large and model-specific)."""
        return {
            "source": self.source,
            "id": self.id,
            "sha256": self.sha256,
            "width": self.size[0] if self.size else None,
            "height": self.size[1] if self.size else None,
            **self.reading.to_dict(),
            **({"heatmap_files": list(self.heatmap_files)} if self.heatmap_files else {}),
        }


def synopsis_body(reading: GenreReading) -> dict[str, Any]:
    """A synopsis read without a poster, as JSON (CLI and service): the reading marked with source "synopsis"."""
    return {"source": "synopsis", **reading.to_dict()}


@dataclass
class PosterFailure:
    """An input that could not be predicted, with the reason (which names the input) and the error's `kind`
    (errors.TOO_LARGE, errors.PRIVATE_ADDRESS or None) for interfaces to add their hint."""

    source: str
    error: str
    id: str | None = None
    kind: str | None = None

    ok: ClassVar[Literal[False]] = False

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "id": self.id, "error": self.error}
