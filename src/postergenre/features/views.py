"""A poster's views: the poster as given and its mirror image, each a vector of its own (issue 28's test-time views).

A model that reads two views (`head_config["views"]`, e.g. ["poster", "mirror"]) averages its head's logits over
both: by 5-fold CV on the same folds (benchmarks/quality_levers.py, levers_mirror.json) a head trained on both views
and read on their mean gained +0.0025 macro ROC AUC on general posters and +0.006 on the studio's G/PG posters, for
one more forward pass per poster. The first view is always the poster as given: the poster check, comparable titles
and Grad-CAM read it alone.

The mirror is made after the letterbox: the resized poster is flipped left-right where it lies on the canvas, so the
padding stays where it was. That is pixel for pixel what letterboxing the mirrored image gives (PIL's bilinear
resize is mirror-symmetric; tests/features/test_features_views.py checks real posters), without a second resize;
flipping the whole canvas instead moves the poster by a pixel whenever the padding is odd (most posters).

Each view's vectors are cached under their own key (`view_key`): the poster's under the runtime's key, the mirror's
under the same with "+mirror" after the backbone's name, so the two never mix and `postergenre embed` resumes each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import PosterGenreError

if TYPE_CHECKING:
    from PIL import Image

    from .preprocess import Letterbox

POSTER = "poster"
"""The poster as given: every model's first view."""
MIRROR = "mirror"
"""The poster flipped left-right (inside its letterbox)."""
VIEWS: tuple[str, ...] = (POSTER, MIRROR)
"""Every view there is, in the order a model lists them."""
DEFAULT_VIEWS: tuple[str, ...] = (POSTER, MIRROR)
"""What the default recipe reads, and so what `postergenre embed` computes unless told otherwise."""
ONE_VIEW: tuple[str, ...] = (POSTER,)
"""What a model without a `views` entry reads (models trained before views existed)."""


def parse_views(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """ "poster,mirror" or ["poster", "mirror"] → ("poster", "mirror"), checked: known views, each once, the poster
    first (None or empty: the poster alone). PosterGenreError naming what is wrong."""
    if value is None:
        return ONE_VIEW
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(v, str) for v in items):
        raise PosterGenreError(f"views must be names ({', '.join(VIEWS)}), got {value!r}")
    names = tuple(v.strip() for v in items if v.strip())
    if not names:
        return ONE_VIEW
    unknown = [v for v in names if v not in VIEWS]
    if unknown:
        raise PosterGenreError(
            f"unknown view{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; known: {', '.join(VIEWS)}"
        )
    if len(set(names)) != len(names):
        raise PosterGenreError(f"views {','.join(names)}: each view once")
    if names[0] != POSTER:
        raise PosterGenreError(f"views {','.join(names)}: the first view must be {POSTER!r} (the poster as given)")
    return names


def views_text(views: Sequence[str]) -> str:
    """("poster", "mirror") → "poster,mirror" (how an option spells them)."""
    return ",".join(views)


def view_key(key: tuple[str, str], view: str) -> tuple[str, str]:
    """The embedding-cache key of `view`'s vectors, from the runtime's key (`InferenceRuntime.vector_key`)."""
    if view not in VIEWS:
        raise PosterGenreError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    backbone, version = key
    return (backbone, version) if view == POSTER else (f"{backbone}+{view}", version)


def view_pixels(pixels: np.ndarray, placement: tuple[int, int, int, int], view: str) -> np.ndarray:
    """One view of a letterboxed poster (uint8 [H, W, 3], `Letterbox.prepare_pixels`) placed at `placement`
    (`Letterbox.placement`: left, top, width, height)."""
    if view == POSTER:
        return pixels
    if view == MIRROR:
        left, top, width, height = placement
        out = pixels.copy()
        out[top : top + height, left : left + width] = pixels[top : top + height, left : left + width][:, ::-1]
        return out
    raise PosterGenreError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")


def prepare_views(box: Letterbox, image: Image.Image, views: Sequence[str]) -> np.ndarray:
    """A decoded poster → its views, letterboxed once: uint8 [len(views), H, W, 3] in the order of `views`."""
    pixels = box.prepare_pixels(image)
    placement = box.placement(*image.size)
    return np.stack([view_pixels(pixels, placement, v) for v in views])
