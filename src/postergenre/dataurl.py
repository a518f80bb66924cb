"""Inline images as data URLs: the one encoder behind self-contained HTML reports, sheets and API heatmaps."""

from __future__ import annotations

import base64
import io
from typing import Any


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


def image_data_url(image: Any, fmt: str = "PNG", *, max_side: int | None = None, **save_options: Any) -> str:
    """A PIL image (downscaled to `max_side` on its long side when given) or a matplotlib figure → data URL."""
    buffer = io.BytesIO()
    if hasattr(image, "savefig"):  # a matplotlib figure
        image.savefig(buffer, format=fmt.lower(), bbox_inches="tight", **save_options)
    else:
        if max_side is not None and max(image.size) > max_side:
            scale = max_side / max(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        if fmt.upper() == "JPEG" and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format=fmt, **save_options)
    return data_url(buffer.getvalue(), f"image/{fmt.lower()}")
