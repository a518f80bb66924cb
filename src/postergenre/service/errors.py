"""Exceptions → HTTP answers, decided by exception TYPE alone (never by message or cause).

Every user-caused problem becomes a 4xx JSON `{"error": ...}` naming it; a client that hangs up mid-upload is
logged as such (no traceback); anything unexpected becomes a generic 500 (the trace goes to the server log only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from ..errors import ConflictError, FetchError, ModelError, NotAnImageError, NotFoundError, PosterGenreError
from ..safe_text import without_bidi_controls

logger = logging.getLogger("postergenre.service")
FETCH_MESSAGE = (
    "The poster could not be downloaded from that web address. Check that the link opens the image "
    "itself in your browser, or save the poster and drop the file here instead."
)
CLIENT_CLOSED = 499  # nginx's code for "client closed the request"; logged, never seen by the client


def status_for(exc: PosterGenreError) -> int:
    if isinstance(exc, NotAnImageError):
        return 415
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, ModelError):
        return 503  # the server's model or data folder is not ready for this request
    return 422  # bad image, refused or failed URL, unknown genre, ...


def install_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
        # A message names the upload: its bidirectional controls would reverse the rest of the sentence.
        return JSONResponse({"error": without_bidi_controls(message)}, status_code=status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:3]:
            loc = [str(p) for p in err.get("loc", ())]
            where = f"{loc[0]} parameter '{'.'.join(loc[1:])}'" if len(loc) > 1 else ".".join(loc) or "request"
            parts.append(f"{where}: {err.get('msg')}")
        return error(422, "; ".join(parts) or "invalid request")

    @app.exception_handler(PosterGenreError)
    async def user_error(request: Request, exc: PosterGenreError) -> JSONResponse:
        if isinstance(exc, FetchError):  # the technical reason stays in `error`; people read `message`
            return JSONResponse(
                {"error": without_bidi_controls(exc), "message": FETCH_MESSAGE}, status_code=status_for(exc)
            )
        return error(status_for(exc), str(exc))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        logger.info("client disconnected before the request body was complete: %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server logs the traceback; the client gets no detail.
        return error(500, "internal server error (details are in the server log)")
