"""The HTTP service: a thin FastAPI layer over `Predictor`, plus the page at `/`.

The model loads once, in the app's lifespan. Model calls are blocking, so they run in worker threads behind an
admission gate (`limits.AdmissionGate`) that bounds how many run and wait; a request takes its place in the gate
before its body is read, so a saturated service refuses at once with 503 + Retry-After. Routers translate HTTP ↔
Predictor calls (`routers/`); errors map to statuses by type (`errors.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from .._version import __version__
from ..model.decisions import MAX_BRIEF_VARIANTS as MAX_BRIEF_FILES
from . import MAX_COMPARE_FILES, ServiceSettings
from .access_log import AccessLog
from .auth import TeamAccessGuard
from .errors import install_error_handlers
from .hosts import HostAllowList
from .limits import RequestBodyLimits
from .routers import brief, campaigns, info, posters, session
from .state import ServiceState

_MULTIPART_SLACK = 64 * 1024  # multipart headers and small form fields (targets, synopsis) around the file bytes


def create_app(settings: ServiceSettings | None = None, *, predictor: Any = None) -> FastAPI:
    """The app for `settings`; the model is loaded at startup unless an already-loaded `predictor` is given."""
    settings = settings or ServiceSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = await anyio.to_thread.run_sync(ServiceState.build, settings, predictor)
        try:
            yield
        finally:
            app.state.service.access.close()

    app = FastAPI(
        title="postergenre",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        description="Predict a movie's genres from its poster (and synopsis), find comparable titles, "
        "compare poster variants. The page for people is at `/`.",
    )

    def body_limit(path: str) -> int:
        path = path.rstrip("/")
        files = (
            MAX_COMPARE_FILES
            if path.startswith("/v1/compare")
            else MAX_BRIEF_FILES
            if path == "/v1/brief" or campaigns.is_variants_path(path)
            else 1
        )
        return files * settings.max_upload_bytes + _MULTIPART_SLACK

    app.add_middleware(RequestBodyLimits, limit_for=body_limit, timeout_s=settings.body_timeout_s)
    app.add_middleware(TeamAccessGuard)  # outside the body limits: a stranger's upload is refused before it is read
    app.add_middleware(HostAllowList, allowed=settings.allowed_hosts)
    app.add_middleware(AccessLog)  # added last = outermost: logs what the limits refuse too
    install_error_handlers(app)
    app.include_router(posters.router)
    app.include_router(brief.router)
    app.include_router(info.router)
    app.include_router(session.router)
    app.include_router(campaigns.router)
    app.mount("/static/docs", StaticFiles(directory=info.DOCS_ASSETS), name="docs-assets")
    app.mount("/static", StaticFiles(directory=info.STATIC), name="static")
    return app
