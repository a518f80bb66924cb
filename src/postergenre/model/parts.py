"""The one contract of a model's parts, and the registry that names them (as `features.registry` names backbones).

A part is one fitted piece of a saved model: a poster head (`heads.py`: logreg, mlp, ensemble), the poster check,
the studio's domain correction, the synopsis head, the fusion. Every part

- follows scikit-learn's estimator contract: parameters are `__init__` keywords stored as given, `fit(...)` validates
  them and returns self, learned state ends in `_`; `get_params`/`set_params` are scikit-learn's own (imported on
  first use, so answering a request never loads scikit-learn), so `sklearn.base.clone` and grids work on every part;
- answers with `predict_proba` (the fusion of two signals with `fuse`, the poster check, no classifier, with `check`);
- saves as `to_tensors(compact=False)`, numpy arrays under the part's own names (the artifact adds the prefix of the
  part's slot, `layout.py`), plus `config()`, a JSON-safe dict; `from_saved(tensors, config)` rebuilds it fitted;
- gives a torch view (`torch_view()`) where Grad-CAM differentiates through it: poster heads and poster stages.

Adding a part (e.g. a look-alike vote stacked on the poster head): write its class on one of the bases below, decorate
it with `@register_part("name")`, and give it a slot in `layout.SLOTS`; `assembly.assemble`, the one build of a saved
model, then loads it, runs it and gives Grad-CAM its view.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, overload

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from torch import nn

Tensors = Mapping[str, np.ndarray]
PartT = TypeVar("PartT", bound="Part")


class Part:
    """What every part of a model has (see the module docstring); subclasses add `fit` and their predict method."""

    part_name: ClassVar[str] = ""  # the registry name, set by `register_part`

    # -- scikit-learn's parameter protocol, its own implementation ---------------------------------------------

    @classmethod
    def _get_param_names(cls) -> list[str]:
        """The `__init__` keywords, sorted (scikit-learn's rule; its `get_params`/`set_params` call this)."""
        if cls.__init__ is object.__init__:
            return []
        params = inspect.signature(cls.__init__).parameters.values()
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            raise TypeError(f"{cls.__name__}: parameters must be named in __init__ (no *args)")
        return sorted(p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The `__init__` parameters (with `deep`, a nested part's as `name__param`), as scikit-learn defines them."""
        from sklearn.base import BaseEstimator

        params: dict[str, Any] = BaseEstimator.get_params(self, deep)
        return params

    def set_params(self: PartT, **params: Any) -> PartT:
        from sklearn.base import BaseEstimator

        BaseEstimator.set_params(self, **params)
        return self

    # -- saving ----------------------------------------------------------------------------------------------

    def to_tensors(self, compact: bool = False) -> dict[str, np.ndarray]:
        """The learned arrays under the part's own names; `compact`: the large ones in a smaller dtype."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        """JSON-safe settings and small learned values, what `from_saved` needs beside the tensors."""
        raise NotImplementedError

    @classmethod
    def from_saved(cls: type[PartT], tensors: Tensors, config: Mapping[str, Any]) -> PartT:
        """The fitted part from `to_tensors()` (prefix removed) and `config()`; ModelError names what is wrong."""
        raise NotImplementedError

    def _require_fitted(self, *learned: str) -> None:
        if not all(hasattr(self, name) for name in learned):
            raise ModelError(f"{self.part_name or type(self).__name__} is not fitted: call fit first")


class PosterHead(Part):
    """Full-feature columns [N, D] → genre logits: `fit(X, Y, sample_weight=None)`, `decision_function(X)`,
    `predict_proba(X)`; `n_features_in_`, `n_outputs_`; `torch_view()` maps a torch [N, D] batch to logits."""

    n_features_in_: int
    n_outputs_: int

    def fit(self: PartT, X: np.ndarray, Y: np.ndarray, sample_weight: np.ndarray | None = None) -> PartT:
        raise NotImplementedError

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Logits [N, G] as float32."""
        raise NotImplementedError

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Probabilities [N, G] (float64): the sigmoid of the logits."""
        from .logistic import sigmoid

        return sigmoid(self.decision_function(X).astype(np.float64))

    def torch_view(self) -> nn.Module:
        raise NotImplementedError


class PosterStage(Part):
    """A part stacked on the poster head: `refine(probs, features)` → probabilities [N, G] from the poster signal so
    far (the head's reading of every view the model reads) and the full feature vectors of the poster as given, for a
    stage that reads them; `torch_view()` maps (logits, features) → logits exactly as `refine` maps probabilities, so
    Grad-CAM differentiates the model that answered."""

    def refine(self, probs: np.ndarray, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def torch_view(self) -> nn.Module:
        raise NotImplementedError


_PARTS: dict[str, type[Part]] = {}


def register_part(name: str) -> Callable[[type[PartT]], type[PartT]]:
    """Class decorator: name a part class in the registry (its saved models name it by this)."""

    def register(cls: type[PartT]) -> type[PartT]:
        if name in _PARTS and _PARTS[name] is not cls:
            raise ModelError(f"model part {name!r} is already registered ({_PARTS[name].__qualname__})")
        cls.part_name = name
        _PARTS[name] = cls
        return cls

    return register


@overload
def get_part(name: str) -> type[Part]: ...


@overload
def get_part(name: str, kind: type[PartT]) -> type[PartT]: ...


def get_part(name: str, kind: type[Part] = Part) -> type[Part]:
    """The part class registered as `name` (a `kind` of part); ModelError lists the known names of that kind."""
    cls = _PARTS.get(name)
    if cls is None or not issubclass(cls, kind):
        raise ModelError(f"unknown {_kind_name(kind)} {name!r}; known: {', '.join(part_names(kind))}")
    return cls


def part_names(kind: type[Part] = Part) -> list[str]:
    """Registered names of one kind of part, in registration order."""
    return [name for name, cls in _PARTS.items() if issubclass(cls, kind)]


def _kind_name(kind: type[Part]) -> str:
    return {PosterHead: "head", PosterStage: "poster stage"}.get(kind, "model part")


def prefixed(tensors: Tensors, prefix: str) -> dict[str, np.ndarray]:
    """`tensors` with `prefix` put before every name (a slot's or an ensemble member's)."""
    return {prefix + name: value for name, value in tensors.items()}


def under(tensors: Tensors, prefix: str) -> dict[str, np.ndarray]:
    """The tensors whose names start with `prefix`, prefix removed."""
    return {name.removeprefix(prefix): value for name, value in tensors.items() if name.startswith(prefix)}


def tensor(tensors: Tensors, name: str, part: str) -> np.ndarray:
    """One tensor a part needs; ModelError naming it when it is missing."""
    try:
        return tensors[name]
    except KeyError:
        raise ModelError(f"{part} tensors incomplete: missing {name}") from None
