"""/v1/session: the page logs in once with a team token and keeps a session cookie (HttpOnly, SameSite=Strict,
Secure over HTTPS); the rules are in `service/auth.py`."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from starlette.exceptions import HTTPException

from ..auth import CROSS_SITE, SESSION_COOKIE, SESSION_LIFETIME_S, WRONG_TOKEN, credentials, same_origin
from ..campaign_schemas import SessionIn, SessionOut
from ..schemas import ErrorResponse
from ..state import MemberDep, StateDep

router = APIRouter(prefix="/v1", tags=["team"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Malformed request body."},
    401: {"model": ErrorResponse, "description": "No valid token or session."},
    403: {"model": ErrorResponse, "description": "A cross-site request."},
    429: {"model": ErrorResponse, "description": "Too many wrong tokens from this address (see Retry-After)."},
}


@router.post(
    "/session",
    response_model=SessionOut,
    responses=_ERRORS,
    summary="Log in with a team token: answers with a session cookie for the page",
)
async def log_in(request: Request, response: Response, state: StateDep, body: SessionIn) -> dict[str, Any]:
    access = state.access
    if same_origin(request.scope, dict(request.scope["headers"])) is False:
        raise HTTPException(403, CROSS_SITE)  # else a site could log a visitor in as someone else
    address = request.client.host if request.client else "?"
    wait = access.throttle.retry_after(address)
    if wait:
        raise HTTPException(
            429, "too many wrong tokens from this address; wait and try again", headers={"Retry-After": str(wait)}
        )
    member = await anyio.to_thread.run_sync(access.member_for, body.token.strip(), None)
    if member is None:
        access.throttle.failed(address)
        raise HTTPException(401, WRONG_TOKEN, headers={"WWW-Authenticate": "Bearer"})
    access.throttle.succeeded(address)
    request.state.member = member
    value, expires = await anyio.to_thread.run_sync(access.open_session, member)
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_LIFETIME_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return {"member": member, "access": "session", "required": access.required, "expires_at": expires}


@router.get(
    "/session",
    response_model=SessionOut,
    responses=_ERRORS,
    summary="Who this request acts as, and whether the server asks for a token",
)
async def who(request: Request, state: StateDep, member: MemberDep) -> dict[str, Any]:
    return {"member": member, "access": request.state.access, "required": state.access.required}


@router.delete("/session", status_code=204, responses=_ERRORS, summary="Log out: the session ends on the server")
async def log_out(request: Request, state: StateDep, member: MemberDep) -> Response:
    _, session = credentials(dict(request.scope["headers"]))
    if session is not None:
        await anyio.to_thread.run_sync(state.access.close_session, session)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response
