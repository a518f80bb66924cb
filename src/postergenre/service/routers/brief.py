"""POST /v1/brief: the campaign brief for 1–6 poster variants of one film. Translates HTTP ↔ Predictor.brief."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ...catalog.filters import parse_ratings
from ...model.decisions import MAX_BRIEF_VARIANTS as MAX_VARIANTS
from ...render.brief import render_brief
from ..state import AdmittedDep
from ..uploads import receive_variants
from .posters import ERRORS

router = APIRouter(prefix="/v1", tags=["posters"])
FIELDS = ("synopsis", "intended", "title", "rating", "film")

_FORM = {
    "type": "object",
    "required": ["posters"],
    "properties": {
        "posters": {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "maxItems": MAX_VARIANTS,
            "description": f"1 to {MAX_VARIANTS} poster variants of one film.",
        },
        "synopsis": {"type": "string", "description": "The film's synopsis: one story for every variant (optional)."},
        "intended": {
            "type": "string",
            "description": "Intended genres, comma-separated, e.g. Family, Adventure "
            "(optional; default: the story's genres).",
        },
        "title": {"type": "string", "description": "The film's title (optional)."},
        "film": {
            "type": "string",
            "description": "The film's IMDb id in the service's catalog, e.g. tt0099785 "
            "(optional): its catalogued genres are never called unwanted, and its "
            "title and plot stand in for a missing title and synopsis.",
        },
        "rating": {
            "type": "string",
            "description": "Ratings of comparable titles, comma-separated, or 'all' "
            "(default: the studio's own ratings).",
        },
    },
}


@router.post(
    "/brief",
    responses={
        200: {
            "content": {"application/json": {}, "text/html": {}},
            "description": "The brief: JSON, or one self-contained HTML page.",
        },
        **ERRORS,
    },
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM}}}},
    summary=f"A campaign brief for 1–{MAX_VARIANTS} poster variants of one film (JSON; HTML with ?format=html)",
)
async def brief(
    request: Request,
    state: AdmittedDep,
    format: Annotated[str, Query(pattern="^(json|html)$", description="json (default) or html.")] = "json",
) -> Any:
    form = receive_variants(request, state, key="posters", max_files=MAX_VARIANTS, names=FIELDS)
    async with form as (posters, fields):
        # as /v1/similar: the page offers these
        ratings = parse_ratings(fields["rating"], (state.filters or {}).get("ratings", ()))

        def work() -> Any:
            variants = [p.input() for p in posters]  # the bytes are read here, in the slot (see uploads)
            # JSON has no maps: no Grad-CAM, no torch
            result = state.predictor.brief(
                variants,
                synopsis=fields["synopsis"],
                intended=fields["intended"],
                title=fields["title"],
                film=fields["film"],
                ratings=ratings,
                home=state.paths.home,
                heatmaps=format == "html",
            )
            if not result.variants:
                raise HTTPException(422, "; ".join(f.error for f in result.failures))
            return render_brief(result) if format == "html" else result.to_dict()

        body = await state.gate.run(work)
    if format == "html":
        return HTMLResponse(body, headers={"Content-Disposition": 'attachment; filename="campaign-brief.html"'})
    return JSONResponse(body)
