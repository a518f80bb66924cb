"""What the service knows: genres, the model card, the reading rules and limits the page draws, filter choices,
catalog posters, health, the page and the docs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import fastapi_offline
from fastapi import APIRouter, Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException

from ..._version import __version__
from ...campaigns.store import MAX_SYNOPSIS_CHARS, MAX_TITLE_CHARS
from ...jsonsafe import json_safe
from ...model import decisions
from ...posters.caps import megabytes
from ...render.model_card import card_html
from .. import schemas
from ..state import StateDep

router = APIRouter()
STATIC = Path(__file__).resolve().parents[1] / "static"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI shipped by a PyPI package: /docs offline
_SHA256 = r"^[0-9a-f]{64}$"
_MEDIA = {
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


@router.get(
    "/v1/genres",
    response_model=schemas.GenresResponse,
    tags=["model"],
    summary="Genres the model predicts, with thresholds",
)
async def genres(state: StateDep) -> dict[str, Any]:
    return {"genres": [{"genre": g, "threshold": t} for g, t in state.predictor.thresholds.items()]}


@router.get(
    "/v1/model", response_model=schemas.ModelResponse, tags=["model"], summary="Model card and cross-validated metrics"
)
async def model(state: StateDep) -> dict[str, Any]:
    artifact = state.predictor.artifact
    return {
        "backbone": artifact.backbone,
        "genres": state.predictor.genres,
        "created_at": artifact.created_at,
        "synopsis": state.predictor.has_synopsis,
        "metrics": json_safe(artifact.metrics),
        "card_markdown": state.card_markdown,
        "card_html": card_html(state.card_markdown),
    }


@router.get(
    "/v1/rules",
    response_model=schemas.RulesResponse,
    tags=["model"],
    summary="The reading's strength scale, its levels and the limits: what the page draws",
)
async def rules(state: StateDep) -> dict[str, Any]:
    body = decisions.rules()
    # the page shows these words
    body["limits"].update(
        upload_max_bytes=state.settings.max_upload_bytes,
        campaign_title_max_chars=MAX_TITLE_CHARS,
        campaign_synopsis_max_chars=MAX_SYNOPSIS_CHARS,
        upload_max_text=megabytes(state.settings.max_upload_bytes),
    )
    return body


@router.get(
    "/v1/filters",
    response_model=schemas.FiltersResponse,
    tags=["posters"],
    summary="What the comparable-title filters can take (collections, ratings, genres, years)",
)
async def filters(state: StateDep) -> dict[str, Any]:
    return state.filters or {"collections": [], "ratings": [], "genres": [], "year_min": None, "year_max": None}


@router.get(
    "/v1/posters/{sha256}",
    response_class=FileResponse,
    tags=["posters"],
    summary="A catalog poster image by its sha256",
    responses={
        200: {"content": {"image/*": {}}, "description": "The poster file."},
        404: {"model": schemas.ErrorResponse, "description": "No such poster in the store."},
        422: {"model": schemas.ErrorResponse, "description": "Not a sha256 hex digest."},
    },
)
async def poster(
    state: StateDep, sha256: Annotated[str, PathParam(pattern=_SHA256, description="Lower-case hex sha256.")]
) -> FileResponse:
    try:
        path = state.store.path(sha256)
    except FileNotFoundError:
        raise HTTPException(404, f"poster {sha256} is not in the poster store") from None
    # Content-addressed: the bytes behind a hash never change.
    return FileResponse(
        path,
        media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


@router.get("/healthz", response_model=schemas.HealthResponse, tags=["service"], summary="Liveness and what is loaded")
async def healthz(state: StateDep) -> dict[str, Any]:
    return {
        "status": "ok",
        "version": __version__,
        "genres": len(state.predictor.genres),
        "runtime": state.predictor.core.runtime_name,
        "similar_available": state.similar_error is None,
        "synopsis_available": state.predictor.has_synopsis,
        "max_upload_bytes": state.settings.max_upload_bytes,
    }


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    """Swagger UI from assets served here (FastAPI's default page loads them from a CDN: blank offline)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="postergenre API",
        swagger_js_url="/static/docs/swagger-ui-bundle.js",
        swagger_css_url="/static/docs/swagger-ui.css",
        swagger_favicon_url="/static/docs/favicon.png",
    )
