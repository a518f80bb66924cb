"""What `postergenre train` can set that changes the model (saved in the artifact as used)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field, fields
from typing import Any

from ..catalog.filters import MovieFilter
from ..catalog.store import Catalog
from ..labelled.datasets import Dataset, assemble_dataset
from ..model.head_types import DEFAULT_FEATURE_SET, DEFAULT_HEAD
from .search import Candidate, candidates_for


@dataclass
class TrainOptions:
    """Everything `postergenre train` can set that changes the model; saved in the artifact as used.

    The defaults are the measured winner (DEFAULT_HEAD with its DEFAULT_SETTINGS on DEFAULT_FEATURE_SET), fitted
    with plain k-fold CV; a head search is opt-in (`head="auto"` or `search=True`).
    """

    backbone: str | None = None  # None = the registry's default; the saved options name the one used
    feature_set: str = DEFAULT_FEATURE_SET
    head: str = DEFAULT_HEAD
    params: dict[str, list[Any]] = field(default_factory=dict)
    search: bool = False
    folds: int = 5
    inner_folds: int | None = 3  # None in a saved artifact that did no search
    min_examples: int = 100
    threshold_metric: str = "f1"
    seed: int = 0
    bootstrap: int = 1000
    compact: bool = True
    holdout: float | None = None  # keep this fraction out of training (evaluate it with `evaluate --holdout`)
    threads: int | None = None  # torch CPU threads during training (restored afterwards)
    rating: str | None = None  # content-rating filter as given, e.g. "G,PG"
    year_min: int | None = None
    year_max: int | None = None
    collection: str | None = None  # collection filter as given, e.g. "studio,general"
    embedded_only: bool = False
    note: str | None = None
    studio: bool = True  # train the studio extensions when the catalog has a `studio` collection (training/studio.py)

    @property
    def searches(self) -> bool:
        return self.head == "auto" or self.search

    def candidates(self) -> list[Candidate]:
        """The head settings these options cross-validate; a bad setting name or value raises here."""
        return candidates_for(self.head, self.params, search=self.search)

    def movie_filter(self) -> MovieFilter:
        return MovieFilter.parse(rating=self.rating, collection=self.collection, year_min=self.year_min,
                                 year_max=self.year_max)

    def dataset(self, catalog: Catalog) -> Dataset:
        """The training data set exactly as these options select it (filters, backbone, feature set, genres)."""
        return assemble_dataset(catalog, flt=self.movie_filter(), backbone=self.backbone, feature_set=self.feature_set,
                                min_examples=self.min_examples, skip_unembedded=self.embedded_only)

    def command(self) -> str:
        """The `postergenre train` command that reproduces these options (the data folder comes from
        $POSTERGENRE_HOME, the output folder is the caller's choice, so neither is in it)."""
        flags = {"backbone": "--backbone", "feature_set": "--feature-set", "head": "--head", "search": "--search",
                 "folds": "--folds", "inner_folds": "--inner-folds", "min_examples": "--min-examples",
                 "threshold_metric": "--threshold-metric", "seed": "--seed", "bootstrap": "--bootstrap",
                 "compact": "--no-compact", "holdout": "--holdout", "threads": "--threads", "rating": "--rating",
                 "year_min": "--year-min", "year_max": "--year-max", "collection": "--collection", "embedded_only": "--embedded-only", "note": "--note",
                 "studio": "--no-studio"}
        defaults = TrainOptions()
        always = {"backbone", "feature_set", "head"}  # spelled out so the command still means this if defaults move
        parts = ["postergenre", "train"]
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "params":
                parts += [a for k, v in value.items() for a in ("--param", f"{k}={','.join(_flag_value(x) for x in v)}")]
                continue
            if f.name == "inner_folds" and not self.searches:
                continue  # only a search uses inner folds
            if value is None or (f.name not in always and value == getattr(defaults, f.name)):
                continue
            if isinstance(value, bool):  # a non-default flag: --search, --embedded-only or --no-compact
                parts.append(flags[f.name])
                continue
            parts += [flags[f.name], _flag_value(value)]
        return shlex.join(parts)


def _flag_value(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)
