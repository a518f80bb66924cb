"""Where each part of a model lives in a saved artifact, both ways: the slot table (artifact format 1).

    role          part                 tensors          config (in model.json's head_config)
    head          the artifact's       head.*           settings (and feature_slice, the head's columns, and views,
                  head_type                                       the views of a poster it reads: features/views.py)
    poster_check  poster_check         poster_check.*   poster_check
    domain        domain_correction    domain.*         studio.domain     ┐ the studio extensions:
    synopsis      synopsis_head        synopsis.*       studio.synopsis   │ all three or none
    fusion        fusion               fusion.*         studio.fusion     ┘
    the thresholds of a synopsis read alone: tensor synopsis_only.thresholds (described at studio.synopsis_only)

Each part saves its own tensors under its own names and its own config (`parts.Part`); this module only says where
they go. `ModelParts.saved` writes a model's parts (training), `read_part` reads one back (`artifact.load` checks the
head with it; `assembly.assemble`, the one build, reads every part with it). A new part is one more slot here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelError, PosterGenreError
from ..features.views import ONE_VIEW, parse_views
from . import heads  # noqa: F401  (registers the poster heads the head slot names)
from .domain import DomainCorrection
from .fusion import Fusion
from .parts import Part, PosterHead, PosterStage, get_part, prefixed, under
from .poster_check import PosterCheck
from .synopsis import SynopsisHead

SYNOPSIS_ONLY_THRESHOLDS = "synopsis_only.thresholds"
"""Tensor of the thresholds that decide a synopsis read without a poster."""
STUDIO = "studio"


@dataclass(frozen=True)
class Slot:
    """A part's place in an artifact: its tensors' prefix, its config's path in head_config, its registry name (None:
    the artifact's head_type); `poster_stage`: its part refines the poster signal after the head (stages run in the
    order of `SLOTS`)."""

    prefix: str
    config: tuple[str, ...]
    part: str | None
    poster_stage: bool = False


SLOTS: dict[str, Slot] = {
    "head": Slot("head.", ("settings",), None),
    "poster_check": Slot("poster_check.", ("poster_check",), "poster_check"),
    "domain": Slot("domain.", (STUDIO, "domain"), "domain_correction", poster_stage=True),
    "synopsis": Slot("synopsis.", (STUDIO, "synopsis"), "synopsis_head"),
    "fusion": Slot("fusion.", (STUDIO, "fusion"), "fusion"),
}
BUILT_IN = frozenset(SLOTS)


def poster_stage_roles() -> list[str]:
    """The slots whose parts refine the poster signal, in the order they run."""
    return [role for role, slot in SLOTS.items() if slot.poster_stage]


def read_part(
    role: str, head_type: str, head_config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
) -> Part | None:
    """The fitted part in slot `role` of a saved model (None when the model has none); ModelError names the slot."""
    slot = SLOTS[role]
    config: Any = head_config
    for key in slot.config:
        config = config.get(key) if isinstance(config, Mapping) else None
    if config is None and role == "head":
        config = {}  # a head saved without settings has the defaults
    if config is None:
        return None
    name = head_type if slot.part is None else slot.part
    if not isinstance(config, Mapping):
        raise ModelError(f"{role} part: head_config.{'.'.join(slot.config)} must be a JSON object")
    try:
        return get_part(name).from_saved(under(tensors, slot.prefix), config)
    except ModelError as exc:
        raise ModelError(f"{role} part ({name}, tensors {slot.prefix}*): {exc}") from None


@dataclass
class ModelParts:
    """A model's fitted parts by role, as training hands them to the artifact.

    `head_settings`: the settings the head was chosen with (a search candidate's; None: `head.config()`), saved as
    head_config["settings"]; `feature_slice`: the columns of the cached vector the head reads; `views`: the views of
    a poster it reads (head_config["views"]; a model saved without them reads the poster alone)."""

    head: PosterHead
    feature_slice: tuple[int, int]
    head_settings: dict[str, Any] | None = None
    views: tuple[str, ...] = ONE_VIEW
    poster_check: PosterCheck | None = None
    domain: DomainCorrection | None = None
    synopsis: SynopsisHead | None = None
    fusion: Fusion | None = None
    synopsis_thresholds: np.ndarray | None = None
    others: dict[str, Part] = field(default_factory=dict)  # parts of slots added beyond the built-in ones, by role

    @property
    def studio(self) -> bool:
        """Whether the studio extensions are among the parts (all three of them, or none)."""
        present = [p is not None for p in (self.domain, self.synopsis, self.fusion)]
        if any(present) and not all(present):
            raise ModelError("the studio extensions are saved together: domain correction, synopsis head and fusion")
        return all(present)

    def saved(self, *, compact: bool = False) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        """(head_type, head_config, tensors) as the artifact stores these parts; `compact` stores the large arrays
        in smaller dtypes (each part decides which)."""
        settings = self.head.config() if self.head_settings is None else dict(self.head_settings)
        head_config: dict[str, Any] = {
            "settings": settings,
            "feature_slice": [int(v) for v in self.feature_slice],
            "views": list(parse_views(self.views)),
        }
        tensors = prefixed(self.head.to_tensors(compact), SLOTS["head"].prefix)
        parts: dict[str, Part | None] = {"poster_check": self.poster_check}
        if self.studio:
            parts |= {"domain": self.domain, "synopsis": self.synopsis, "fusion": self.fusion}
        built_in = set(self.others) & BUILT_IN
        if built_in:
            raise ModelError(f"`others` holds built-in slots {sorted(built_in)}: give them their own fields")
        parts |= self.others
        for role, part in parts.items():
            if part is None:
                continue
            slot = SLOTS[role]
            tensors |= prefixed(part.to_tensors(compact), slot.prefix)
            _place(head_config, slot.config, part.config())
        if self.studio and self.synopsis_thresholds is not None:
            tensors[SYNOPSIS_ONLY_THRESHOLDS] = np.asarray(self.synopsis_thresholds, dtype=np.float32)
            head_config[STUDIO]["synopsis_only"] = {
                "thresholds": f"tensor {SYNOPSIS_ONLY_THRESHOLDS}, tuned on out-of-fold synopsis probabilities of "
                "studio films (a synopsis read without a poster)"
            }
        return self.head.part_name, head_config, tensors


def _place(config: dict[str, Any], path: tuple[str, ...], value: dict[str, Any]) -> None:
    for key in path[:-1]:
        config = config.setdefault(key, {})
    config[path[-1]] = value


def saved_views(head_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The views of a poster a saved model reads (head_config["views"]; without it, the poster alone); ModelError
    naming the field when they are not views."""
    try:
        return parse_views(head_config.get("views"))
    except PosterGenreError as exc:
        raise ModelError(f"head_config.views: {exc}") from None


def poster_stage(part: Part | None) -> PosterStage | None:
    """`part` as a poster stage (ModelError if a slot of the poster chain holds another kind of part)."""
    if part is not None and not isinstance(part, PosterStage):
        raise ModelError(f"{part.part_name} cannot refine the poster signal")
    return part
