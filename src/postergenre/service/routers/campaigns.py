"""/v1/campaigns: a film's poster work, kept. Translates HTTP ↔ `predict/campaigns.py`; the rules live there.

Every change names the team member making it (`MemberDep`). Work that uses the model runs in the admission gate's
threads; the rest in a plain worker thread, each on its own database connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Path as PathParam, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException

from ...campaigns.store import UNSET, CampaignStore
from ...model.decisions import MAX_BRIEF_VARIANTS as MAX_VARIANTS
from ...predict import campaigns as work
from ...render.brief import render_brief
from .. import campaign_schemas as schemas
from ..schemas import ErrorResponse
from ..state import AdmittedDep, MemberDep, ServiceState, StateDep
from ..uploads import receive_variants
from .info import _MEDIA

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
T = TypeVar("T")
CampaignId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{12}$", description="The campaign's id.")]
VariantId = Annotated[int, PathParam(ge=1, description="The variant's id.")]
_VARIANTS_PATH = re.compile(r"^/v1/campaigns/[^/]+/variants$")
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request body."},
    401: {"model": ErrorResponse, "description": "No valid token or session."},
    403: {"model": ErrorResponse, "description": "A cross-site request that would change something."},
    404: {"model": ErrorResponse, "description": "No such campaign or variant."},
    409: {
        "model": ErrorResponse,
        "description": f"The campaign is full (a brief compares at most {MAX_VARIANTS} variants).",
    },
    413: {"model": ErrorResponse, "description": "Upload larger than the limit."},
    415: {"model": ErrorResponse, "description": "Not a multipart upload."},
    422: {"model": ErrorResponse, "description": "Invalid field (unknown genre or rating), or no poster readable."},
    429: {"model": ErrorResponse, "description": "Too many wrong tokens from this address."},
    503: {"model": ErrorResponse, "description": "Busy (with Retry-After)."},
}


def is_variants_path(path: str) -> bool:
    """Whether `path` takes variant uploads (its body may hold MAX_VARIANTS posters)."""
    return bool(_VARIANTS_PATH.match(path))


def campaign_body(view: work.CampaignView) -> dict[str, Any]:
    body = view.to_dict()
    for v in body["variants"]:
        v["poster_url"] = f"/v1/campaigns/{body['id']}/variants/{v['id']}/poster"
    body["brief_url"] = f"/v1/campaigns/{body['id']}/brief"
    return body


def _on_store(state: ServiceState, fn: Callable[[CampaignStore], T]) -> Callable[[], T]:
    """`fn(store)` on a connection of its own, to run in a worker thread."""

    def run() -> T:
        with state.campaigns() as store:
            return fn(store)

    return run


async def _stored(state: ServiceState, fn: Callable[[CampaignStore], T]) -> T:
    """Database work: a plain worker thread."""
    return await anyio.to_thread.run_sync(_on_store(state, fn))


async def _modelled(state: ServiceState, fn: Callable[[CampaignStore], T]) -> T:
    """Work that uses the model: an inference slot (the caller holds an admission: AdmittedDep)."""
    return await state.gate.run(_on_store(state, fn))


def _view(state: ServiceState, store: CampaignStore, campaign_id: str) -> dict[str, Any]:
    return campaign_body(work.campaign_view(store, state.predictor, campaign_id))


@router.post("", status_code=201, response_model=schemas.CampaignOut, responses=ERRORS, summary="Create a campaign")
async def create(body: schemas.CampaignCreate, state: AdmittedDep, member: MemberDep) -> dict[str, Any]:
    held = (state.filters or {}).get("ratings", ())

    def run(store: CampaignStore) -> dict[str, Any]:
        campaign = work.create_campaign(
            store,
            state.predictor.genres,
            body.title,
            synopsis=body.synopsis,
            intended=body.intended,
            ratings=body.ratings,
            held_ratings=held,
            by=member,
        )
        return _view(state, store, campaign.id)

    return await _modelled(state, run)


@router.get("", response_model=schemas.CampaignList, responses=ERRORS, summary="The campaigns, latest first")
async def list_campaigns(state: StateDep) -> dict[str, Any]:
    summaries = await _stored(state, lambda store: store.campaigns())
    return {"campaigns": [{**s.to_dict(), "url": f"/v1/campaigns/{s.id}"} for s in summaries]}


@router.get(
    "/{campaign_id}",
    response_model=schemas.CampaignOut,
    responses=ERRORS,
    summary="A campaign: its variants with their stored readings, ranked, and who changed what",
)
async def read(campaign_id: CampaignId, state: AdmittedDep) -> dict[str, Any]:
    return await _modelled(state, lambda store: _view(state, store, campaign_id))


@router.patch(
    "/{campaign_id}",
    response_model=schemas.CampaignOut,
    responses=ERRORS,
    summary="Change the title, synopsis, intended genres or ratings (a new synopsis re-reads the variants)",
)
async def update(
    campaign_id: CampaignId, body: schemas.CampaignUpdate, state: AdmittedDep, member: MemberDep
) -> dict[str, Any]:
    sent = body.model_fields_set
    if "title" in sent and body.title is None:
        raise HTTPException(422, "a campaign needs a title: title cannot be null")
    changes = {
        name: getattr(body, name) if name in sent else UNSET for name in ("title", "synopsis", "intended", "ratings")
    }
    held = (state.filters or {}).get("ratings", ())

    def run(store: CampaignStore) -> dict[str, Any]:
        work.update_campaign(store, state.predictor, campaign_id, by=member, held_ratings=held, **changes)
        return _view(state, store, campaign_id)

    return await _modelled(state, run)


@router.delete(
    "/{campaign_id}",
    response_model=schemas.RemovalOut,
    responses=ERRORS,
    summary="Delete a campaign: its variants, stored readings and poster files (says what was removed)",
)
async def delete(campaign_id: CampaignId, state: StateDep, member: MemberDep) -> dict[str, Any]:
    removal = await _stored(state, lambda store: store.delete(campaign_id, by=member))
    return removal.to_dict()


_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["posters"],
                    "properties": {
                        "posters": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "maxItems": MAX_VARIANTS,
                            "description": f"One or more poster files (a campaign holds at most {MAX_VARIANTS}).",
                        }
                    },
                }
            }
        },
    }
}


@router.post(
    "/{campaign_id}/variants",
    status_code=201,
    response_model=schemas.VariantsAdded,
    responses={
        200: {
            "model": schemas.VariantsAdded,
            "description": "Nothing new: the campaign already holds every poster sent.",
        },
        **ERRORS,
    },
    openapi_extra=_UPLOAD,
    summary="Add poster variants: each is read and stored with its reading",
)
async def add_variants(campaign_id: CampaignId, request: Request, state: AdmittedDep, member: MemberDep) -> Any:
    await _stored(state, lambda store: store.get(campaign_id))  # 404 before an upload is read for nothing
    async with receive_variants(request, state, key="posters", max_files=MAX_VARIANTS, names=()) as (posters, _):

        def run(store: CampaignStore) -> tuple[work.AddResult, dict[str, Any]]:
            uploads = [(p.read(), p.name) for p in posters]  # the bytes are read here, in the slot (see uploads)
            result = work.add_variants(store, state.predictor, campaign_id, uploads, by=member)
            return result, _view(state, store, campaign_id)

        result, view = await _modelled(state, run)
    if not result.added and not result.duplicates:
        raise HTTPException(422, "; ".join(f.error for f in result.failures) or "no poster could be read")
    return JSONResponse({**result.to_dict(), "campaign": view}, status_code=201 if result.added else 200)


@router.delete(
    "/{campaign_id}/variants/{variant_id}",
    response_model=schemas.RemovalOut,
    responses=ERRORS,
    summary="Remove a variant: its stored reading and (unless another campaign holds it) its poster file",
)
async def remove_variant(
    campaign_id: CampaignId, variant_id: VariantId, state: StateDep, member: MemberDep
) -> dict[str, Any]:
    removal = await _stored(state, lambda store: store.remove_variants(campaign_id, [variant_id], by=member))
    return removal.to_dict()


@router.get(
    "/{campaign_id}/variants/{variant_id}/poster",
    response_class=FileResponse,
    responses={200: {"content": {"image/*": {}}, "description": "The variant's poster file."}, **ERRORS},
    summary="A variant's poster (confidential: never cached by shared caches)",
)
async def poster(campaign_id: CampaignId, variant_id: VariantId, state: StateDep) -> FileResponse:
    def find(store: CampaignStore):
        return store.poster_path(store.variant(campaign_id, variant_id).sha256)

    path = await _stored(state, find)
    return FileResponse(
        path,
        media_type=_MEDIA.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.post(
    "/{campaign_id}/reread",
    response_model=schemas.Reread,
    responses=ERRORS,
    summary="Read again the variants whose stored reading is stale (another model or synopsis)",
)
async def reread(
    campaign_id: CampaignId,
    state: AdmittedDep,
    member: MemberDep,
    every: Annotated[bool, Query(description="Every variant, stale or not.")] = False,
) -> dict[str, Any]:
    def run(store: CampaignStore) -> dict[str, Any]:
        count = work.reread(store, state.predictor, campaign_id, by=member, every=every)
        return {"reread": count, "campaign": _view(state, store, campaign_id)}

    return await _modelled(state, run)


@router.get(
    "/{campaign_id}/brief",
    responses={
        200: {
            "content": {"application/json": {}, "text/html": {}},
            "description": "The brief: JSON, or one self-contained HTML page.",
        },
        **ERRORS,
    },
    summary="The campaign's brief, built from its stored readings (JSON; HTML with ?format=html)",
)
async def brief(
    campaign_id: CampaignId,
    state: AdmittedDep,
    format: Annotated[str, Query(pattern="^(json|html)$", description="json (default) or html.")] = "json",
) -> Any:
    html = format == "html"

    def run(store: CampaignStore) -> Any:
        result, view = work.campaign_brief(store, state.predictor, campaign_id, heatmaps=html, home=state.paths.home)
        return render_brief(result) if html else work.brief_body(result, view)

    body = await _modelled(state, run)
    if html:
        return HTMLResponse(
            body,
            headers={
                "Content-Disposition": 'attachment; filename="campaign-brief.html"',
                "Cache-Control": "private, no-store",
            },
        )
    return JSONResponse(body, headers={"Cache-Control": "private, no-store"})
