"""What `postergenre train` can set that changes the model (saved in the artifact as used), declared once.

Each field of `TrainOptions` declares its command-line flag beside its default (`option(...)`: the flag, its help,
its bounds): `cli/model.py` builds the `train` command's options from these declarations, and `TrainOptions.command`
writes the command that reproduces a model from the same ones. A new option is one field here.
"""

from __future__ import annotations

import shlex
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from ..catalog.filters import MovieFilter
from ..errors import PosterGenreError
from ..features.views import DEFAULT_VIEWS, parse_views, views_text
from ..model.head_types import DEFAULT_FEATURE_SET, DEFAULT_HEAD
from ..model.heads import head_names

if TYPE_CHECKING:  # the CLI reads these declarations at start-up: what fits and selects data loads when it runs
    from ..catalog.store import Catalog
    from ..labelled.datasets import Dataset
    from .search import Candidate

AUTO = "auto"
"""`--head auto`: search every head type of the default grid."""


@dataclass(frozen=True)
class Flag:
    """How one option reads on the command line.

    `decls`: the flag ("--folds"), or an on/off switch ("--compact/--no-compact"; a bare "--search" is off by
    default); `help`: None for the data filters every selecting command shares (their help is the CLI's one);
    `minimum`: the smallest value accepted; `choices`: the values accepted; `repeated`: given once per item
    ("--param KEY=V1,V2", parsed into the field's dict); `panel`: the --help section; `always`: spelled out in the
    reproduce command even at its default (so the command keeps its meaning if the defaults move);
    `search_only`: only a search uses it (left out of the reproduce command otherwise)."""

    decls: str
    help: str | None
    panel: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    repeated: bool = False
    always: bool = False
    search_only: bool = False

    @property
    def names(self) -> tuple[str, str]:
        """(the flag that turns it on or takes its value, the flag that turns a switch off; "" when none)."""
        on, _, off = self.decls.partition("/")
        return on, off


MODEL, CV, DATA, OUTPUT = "Model", "Cross-validation", "Data", "Output"


def option(
    default: Any = MISSING, decls: str = "", help: str | None = None, *, panel: str, factory: Any = MISSING, **flag: Any
) -> Any:
    """A `TrainOptions` field with its flag (see `Flag`)."""
    metadata = {"flag": Flag(decls, help, panel, **flag)}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainOptions:
    """Everything `postergenre train` can set that changes the model; saved in the artifact as used.

    The defaults are the measured winner (DEFAULT_HEAD with its DEFAULT_SETTINGS on DEFAULT_FEATURE_SET), fitted
    with plain k-fold CV; a head search is opt-in (`head="auto"` or `search=True`).
    """

    backbone: str | None = option(  # None = the registry's default; the saved options name the one used
        None,
        "--backbone",
        "Backbone whose cached embeddings to use (default efficientnet-lite0).",
        panel=DATA,
        always=True,
    )
    feature_set: str = option(
        DEFAULT_FEATURE_SET,
        "--feature-set",
        "Slice of the cached vector: pooled, pooled+stats, pooled+allstats or stats.",
        panel=DATA,
        always=True,
    )
    views: str = option(
        views_text(DEFAULT_VIEWS),
        "--views",
        "The views of each poster the head trains on and reads: poster,mirror "
        "(the default: each poster and its mirror image, a film's two in one fold; at prediction the mean of the "
        "head's logits over both) or poster (the poster alone). `postergenre embed` computes both by default.",
        panel=MODEL,
        always=True,
    )
    head: str = option(
        DEFAULT_HEAD,
        "--head",
        "logreg (default: the measured winner, l2=3e-3), mlp or ensemble with fixed settings; "
        "auto searches logreg and mlp (slow: nested CV); seed-cnn runs the predecessor's CNN on pixels (CV only).",
        panel=MODEL,
        choices=(AUTO, *head_names()),
        always=True,
    )
    params: dict[str, list[Any]] = option(
        decls="--param",
        help="Head setting KEY=VALUE, or KEY=V1,V2 to search several (repeatable), e.g. --param hidden=256,512.",
        panel=MODEL,
        factory=dict,
        repeated=True,
    )
    search: bool = option(
        False,
        "--search",
        "Search the head's settings grid with nested CV (minutes to an hour on 2 cores; resumes after Ctrl+C).",
        panel=MODEL,
    )
    folds: int = option(5, "--folds", "Cross-validation folds.", panel=CV, minimum=2)
    inner_folds: int | None = option(  # None in a saved artifact that did no search
        3,
        "--inner-folds",
        "Inner folds of the nested CV when several candidates are searched (1: one 25% hold-out).",
        panel=CV,
        minimum=1,
        search_only=True,
    )
    min_examples: int = option(
        100, "--min-examples", "Leave out genres with fewer movies than this.", panel=DATA, minimum=1
    )
    threshold_metric: str = option(
        "f1", "--threshold-metric", "Per-genre threshold maximises this: f1, f0.5, f2 (any f<beta>).", panel=CV
    )
    seed: int = option(0, "--seed", "Seed of splits and training.", panel=CV)
    bootstrap: int = option(1000, "--bootstrap", "Bootstrap resamples for the 95% intervals.", panel=CV, minimum=0)
    compact: bool = option(
        True,
        "--compact/--no-compact",
        "Store the large weight matrices compactly: poster head float16 "
        "(probabilities move < 1e-3), synopsis head int8 (a quarter of the size; probabilities move ~4e-4 on "
        "average).",
        panel=OUTPUT,
    )
    holdout: float | None = option(
        None, "--holdout", "Keep this stratified fraction out of training (then `evaluate --holdout` on it).", panel=CV
    )
    threads: int | None = option(  # torch CPU threads during training (restored afterwards)
        None, "--threads", "torch CPU threads (default: all cores; 1 is faster on a busy machine).", panel=CV, minimum=1
    )
    rating: str | None = option(None, "--rating", panel=DATA)  # content-rating filter as given, e.g. "G,PG"
    year_min: int | None = option(None, "--year-min", panel=DATA)
    year_max: int | None = option(None, "--year-max", panel=DATA)
    collection: str | None = option(None, "--collection", panel=DATA)  # as given, e.g. "studio,general"
    embedded_only: bool = option(
        False,
        "--embedded-only",
        "Use only posters already embedded (e.g. while `postergenre embed` runs) instead of refusing.",
        panel=DATA,
    )
    note: str | None = option(
        None, "--note", "A sentence for the model card (e.g. where the settings were chosen).", panel=OUTPUT
    )
    studio: bool = option(
        True,
        "--studio/--no-studio",
        "When the catalog has a `studio` collection: train the poster head on the "
        "general films and, on top of it, the studio's domain correction, synopsis head and fusion, chosen by CV on "
        "studio films only.",
        panel=MODEL,
    )

    def __post_init__(self) -> None:
        try:
            self.views = views_text(parse_views(self.views))
        except PosterGenreError as exc:
            raise PosterGenreError(f"--views {self.views}: {exc}") from None

    @property
    def view_names(self) -> tuple[str, ...]:
        """The views as names, the poster first."""
        return parse_views(self.views)

    @classmethod
    def from_flags(cls, values: dict[str, Any]) -> TrainOptions:
        """The options from command-line values by field name (a repeated flag as its list of strings)."""
        from .search import parse_params

        given = dict(values)
        for f in fields(cls):
            if flag_of(f).repeated:
                given[f.name] = parse_params(given.get(f.name) or [])
        return cls(**given)

    @property
    def searches(self) -> bool:
        return self.head == AUTO or self.search

    def candidates(self) -> list[Candidate]:
        """The head settings these options cross-validate; a bad setting name or value raises here."""
        from .search import candidates_for

        return candidates_for(self.head, self.params, search=self.search)

    def movie_filter(self) -> MovieFilter:
        return MovieFilter.parse(
            rating=self.rating, collection=self.collection, year_min=self.year_min, year_max=self.year_max
        )

    def dataset(self, catalog: Catalog) -> Dataset:
        """The training data set exactly as these options select it (filters, backbone, feature set, genres)."""
        from ..labelled.datasets import assemble_dataset

        return assemble_dataset(
            catalog,
            flt=self.movie_filter(),
            backbone=self.backbone,
            feature_set=self.feature_set,
            min_examples=self.min_examples,
            skip_unembedded=self.embedded_only,
            views=self.view_names,
        )

    def command(self) -> str:
        """The `postergenre train` command that reproduces these options (the data folder comes from
        $POSTERGENRE_HOME, the output folder is the caller's choice, so neither is in it)."""
        defaults = TrainOptions()
        parts = ["postergenre", "train"]
        for f in fields(self):
            flag, value = flag_of(f), getattr(self, f.name)
            on, off = flag.names
            if flag.repeated:
                parts += [a for k, v in value.items() for a in (on, f"{k}={','.join(_flag_value(x) for x in v)}")]
            elif (
                value is None
                or (flag.search_only and not self.searches)
                or (not flag.always and value == getattr(defaults, f.name))
            ):
                continue
            elif isinstance(value, bool):  # a switch away from its default: --search, --no-compact, --no-studio
                parts.append(on if value else off)
            else:
                parts += [on, _flag_value(value)]
        return shlex.join(parts)


def flag_of(f: Field[Any]) -> Flag:
    """The command-line declaration of a `TrainOptions` field."""
    flag = f.metadata["flag"]
    assert isinstance(flag, Flag)
    return flag


def _flag_value(v: Any) -> str:
    return repr(v) if isinstance(v, float) else str(v)
