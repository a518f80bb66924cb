"""Endpoints that answer about posters. Each translates HTTP ↔ Predictor calls; the rules live in `predict/`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from ...predict.compare import CompareResult
from ...predict.core import split_genre_list
from ...predict.heatmaps import overlay_data_url
from ...predict.results import PosterPrediction, synopsis_body
from ...predict.similar import SimilarFilter
from ...render.sheet import render_sheet
from .. import MAX_COMPARE_FILES, schemas
from ..state import AdmittedDep, ServiceState
from ..uploads import receive_poster, receive_variants

router = APIRouter(prefix="/v1", tags=["posters"])
MAX_SIMILAR_K = 50

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": schemas.ErrorResponse, "description": "Malformed request body."},
    408: {"model": schemas.ErrorResponse, "description": "The request body stalled."},
    413: {"model": schemas.ErrorResponse, "description": "Upload larger than the limit."},
    415: {"model": schemas.ErrorResponse, "description": "Not an image, or an unsupported request content type."},
    422: {
        "model": schemas.ErrorResponse,
        "description": "Invalid parameter, corrupt/too large/too small image, or URL refused or unreachable.",
    },
    503: {"model": schemas.ErrorResponse, "description": "Busy (with Retry-After), or comparable titles unavailable."},
}


def _poster_body(
    extra_form: dict[str, Any] | None = None, *, many: bool = False, synopsis_alone: bool = False
) -> dict[str, Any]:
    """OpenAPI requestBody for endpoints that read the body themselves (upload or JSON URL); `synopsis_alone`: a
    synopsis without a poster is read too."""
    file_schema = {"type": "string", "format": "binary"}
    key = "files" if many else "file"
    form = {
        "type": "object",
        "properties": {
            key: {"type": "array", "items": file_schema} if many else file_schema,
            "synopsis": {"type": "string", "description": "The film's synopsis (optional)."},
            **(extra_form or {}),
        },
        "required": [*([] if synopsis_alone else [key]), *(extra_form or {})],
    }
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    if not many:
        content["application/json"] = {"schema": schemas.UrlRequest.model_json_schema()}
    return {"requestBody": {"required": True, "content": content}}


def prediction_body(prediction: PosterPrediction) -> dict[str, Any]:
    """A prediction as the CLI's --format json writes it, with heatmaps as transparent PNG overlays."""
    body = prediction.to_dict()
    size = prediction.size or (1, 1)
    body["heatmaps"] = [{"genre": g, "png": overlay_data_url(m, size)} for g, m in prediction.heatmaps.items()]
    return body


def compare_body(result: CompareResult) -> dict[str, Any]:
    body = result.to_dict()
    for variant, data in zip(result.variants, body["variants"], strict=True):
        data["prediction"] = prediction_body(variant.prediction)
        data["heatmaps"] = data["prediction"].pop("heatmaps")
    return body


@router.post(
    "/predict",
    response_model=schemas.Prediction,
    response_model_exclude_unset=True,
    responses=ERRORS,
    openapi_extra=_poster_body(synopsis_alone=True),
    summary="Genre reading of one poster (optionally with the film's synopsis), or of a synopsis alone",
)
async def predict(
    request: Request,
    state: AdmittedDep,
    threshold: Annotated[float | None, Query(ge=0, le=1, description="One threshold for every genre.")] = None,
    top_k: Annotated[int | None, Query(ge=1, le=50, description="Decide at most this many genres.")] = None,
    explain: Annotated[
        bool, Query(description="Heatmaps of where the network looked, for the decided genres (at most 3).")
    ] = False,
    heatmaps: Annotated[
        str | None,
        Query(max_length=400, description="Heatmaps for exactly these genres, comma-separated (any genre)."),
    ] = None,
) -> dict[str, Any]:
    wanted: bool | list[str] = split_genre_list(heatmaps) or explain
    async with receive_poster(request, state, synopsis_alone=True) as (poster, synopsis):

        def work() -> dict[str, Any]:
            if poster is None:  # a synopsis before its poster exists: the story's genres, marked as such
                reading = state.predictor.read_synopsis(synopsis or "", threshold=threshold, top_k=top_k)
                return {**synopsis_body(reading), "heatmaps": []}  # as prediction_body: no poster, no heatmaps
            prediction = state.predictor.predict(
                poster.input(), synopsis, threshold=threshold, top_k=top_k, heatmaps=wanted
            )
            return prediction_body(prediction)

        return await state.gate.run(work)


@router.post(
    "/similar",
    response_model=schemas.SimilarResponse,
    responses=ERRORS,
    openapi_extra=_poster_body(),
    summary="Comparable catalog titles, optionally filtered",
)
async def similar(
    request: Request,
    state: AdmittedDep,
    k: Annotated[int, Query(ge=1, le=MAX_SIMILAR_K, description="How many titles.")] = 10,
    collection: Annotated[
        str | None, Query(max_length=200, description="Collections, comma-separated (e.g. studio).")
    ] = None,
    rating: Annotated[
        str | None, Query(max_length=200, description="Content ratings, comma-separated (e.g. G,PG).")
    ] = None,
    year_min: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    year_max: Annotated[int | None, Query(ge=1800, le=2200)] = None,
    genre: Annotated[str | None, Query(max_length=400, description="Keep titles with any of these genres.")] = None,
) -> dict[str, Any]:
    # the page offers these
    where = SimilarFilter.parse(
        collection=collection,
        rating=rating,
        year_min=year_min,
        year_max=year_max,
        genre=genre,
        held_ratings=(state.filters or {}).get("ratings", ()),
    )
    async with receive_poster(request, state) as (poster, _):
        assert poster is not None  # only synopsis_alone yields none

        def work() -> dict[str, Any]:
            result = state.predictor.similar(poster.input(), k, where=where, home=state.paths.home)
            titles = [{**t.to_dict(), "poster_url": f"/v1/posters/{t.poster_sha256}"} for t in result]
            return {"source": poster.name, "titles": titles, "query_is_poster": result.query_is_poster}

        return await state.gate.run(work)


def _compare_form_doc() -> dict[str, Any]:
    return _poster_body(
        {
            "targets": {"type": "string", "description": "Target genres, comma-separated, e.g. Family,Comedy"},
        },
        many=True,
    )


async def _compare(request: Request, state: ServiceState) -> CompareResult:
    async with receive_variants(request, state) as (posters, fields):
        want_heatmaps = (fields["heatmaps"] or "true").lower() not in ("false", "0", "no")

        def work() -> CompareResult:
            variants = [p.input() for p in posters]  # the bytes are read here, in the slot (see uploads)
            return state.predictor.compare(
                variants, fields["targets"] or "", synopsis=fields["synopsis"], heatmaps=want_heatmaps
            )

        return await state.gate.run(work)


@router.post(
    "/compare",
    response_model=schemas.CompareResponse,
    response_model_exclude_unset=True,
    responses=ERRORS,
    openapi_extra=_compare_form_doc(),
    summary=f"Rank 2–{MAX_COMPARE_FILES} poster variants by how strongly they signal the target genres",
)
async def compare(request: Request, state: AdmittedDep) -> dict[str, Any]:
    return compare_body(await _compare(request, state))


@router.post(
    "/compare/sheet",
    responses={200: {"content": {"text/html": {}}, "description": "The sheet (HTML)."}, **ERRORS},
    openapi_extra=_compare_form_doc(),
    summary="The compare sheet as one self-contained HTML file (download)",
)
async def compare_sheet(request: Request, state: AdmittedDep) -> HTMLResponse:
    html = await state.gate.run(render_sheet, await _compare(request, state))
    return HTMLResponse(html, headers={"Content-Disposition": 'attachment; filename="poster-variants.html"'})
