"""postergenre: predict a movie's genres from its poster.

Example::

    from postergenre import Predictor
    Predictor.load().predict("poster.jpg")
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["Predictor", "__version__"]


def __getattr__(name: str):
    # Lazy: `import postergenre` must stay fast for the CLI; torch loads only when predicting.
    if name == "Predictor":
        from .predict.predictor import Predictor

        return Predictor
    raise AttributeError(name)
