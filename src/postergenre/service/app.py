"""The HTTP service: a thin FastAPI layer over `Predictor`, plus the page at `/`.

The model loads once, when the app is created. Model calls are blocking (torch), so they run in worker
threads behind an `AdmissionGate` that bounds how many run and wait; the event loop stays free to
answer health checks and refuse excess work with 503 + Retry-After. Every user-caused problem becomes a
4xx JSON `{"error": ...}` naming it; anything unexpected becomes a generic 500 (the trace goes to the
server log, never to the client).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from .. import __version__
from ..config import get_paths
from ..errors import ModelError, PosterDecodeError, PosterGenreError
from ..posters.fetch import FetchLimits, fetch_image_bytes
from ..predict.compare import parse_targets, score_variant
from ..posters.images import decode_image
from ..posters.store import PosterStore
from . import DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_MAX_WAITING, schemas
from .access_log import AccessLog
from .heatmaps import heatmap_data_url
from .limits import AdmissionGate, BodySizeLimit

logger = logging.getLogger("postergenre.service")

MAX_COMPARE_FILES = 8
MAX_SIMILAR_K = 50
EXPLAIN_GENRES = 3  # heatmaps for this many top genres (each costs one backward pass)
_MULTIPART_SLACK = 64 * 1024  # multipart headers and small form fields around the file bytes
_SHA256 = r"^[0-9a-f]{64}$"
STATIC = Path(__file__).parent / "static"

_ERRORS = {
    400: {"model": schemas.ErrorResponse, "description": "Malformed request body."},
    413: {"model": schemas.ErrorResponse, "description": "Upload larger than the limit."},
    415: {"model": schemas.ErrorResponse, "description": "Not an image, or an unsupported request content type."},
    422: {"model": schemas.ErrorResponse, "description": "Invalid parameter, corrupt/too large/too small image, or URL refused or unreachable."},
    503: {"model": schemas.ErrorResponse, "description": "Busy (with Retry-After), or comparable titles unavailable."},
}


def _poster_body(extra_form: dict[str, Any] | None = None, *, many: bool = False) -> dict[str, Any]:
    """OpenAPI requestBody for endpoints that read the body themselves (upload or JSON URL)."""
    file_schema = {"type": "string", "format": "binary"}
    form = {
        "type": "object",
        "properties": {("files" if many else "file"): ({"type": "array", "items": file_schema} if many else file_schema),
                       **(extra_form or {})},
        "required": ["files" if many else "file", *(extra_form or {})],
    }
    content: dict[str, Any] = {"multipart/form-data": {"schema": form}}
    if not many:
        content["application/json"] = {"schema": {
            "type": "object", "properties": {"url": {"type": "string", "description": "http(s) URL of a poster"}},
            "required": ["url"]}}
    return {"requestBody": {"required": True, "content": content}}


def create_app(
    predictor: Any = None,
    *,
    home: Optional[Path] = None,
    model_dir: Optional[Path] = None,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    max_waiting: int = DEFAULT_MAX_WAITING,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    allow_private_urls: bool = False,
) -> FastAPI:
    """Build the app around a loaded `Predictor` (loaded here from `model_dir`/`home` when not given)."""
    if predictor is None:
        from ..predict.predictor import Predictor

        predictor = Predictor.load(model_dir=model_dir, home=home)
    paths = get_paths(home if home is not None else predictor.home)  # comparable titles and their posters
    store = PosterStore(paths.posters)
    gate = AdmissionGate(max_concurrency, max_waiting)
    fetch_gate = AdmissionGate(4, 16)  # URL downloads wait on the network, not the CPU: their own small pool
    fetch_limits = FetchLimits(timeout_s=10.0, max_bytes=max_upload_bytes, retries=1,
                               allow_private_hosts=allow_private_urls)
    info = _model_info(predictor, paths.home)

    app = FastAPI(
        title="postergenre",
        version=__version__,
        description="Predict a movie's genres from its poster, find comparable titles, compare poster variants. "
                    "The page for people is at `/`.",
    )

    def body_limit(path: str) -> int:
        files = MAX_COMPARE_FILES if path.rstrip("/") == "/v1/compare" else 1
        return files * max_upload_bytes + _MULTIPART_SLACK

    app.add_middleware(BodySizeLimit, limit_for=body_limit)
    app.add_middleware(AccessLog)  # added last = outermost: logs what the limits refuse too
    _install_error_handlers(app)

    async def read_upload(upload: UploadFile) -> tuple[bytes, str]:
        name = upload.filename or "upload"
        if upload.size is not None and upload.size > max_upload_bytes:
            raise HTTPException(413, f"{name}: {upload.size:,} bytes exceeds the upload limit of {max_upload_bytes:,} bytes")
        data = await upload.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise HTTPException(413, f"{name}: exceeds the upload limit of {max_upload_bytes:,} bytes")
        return data, name

    async def read_one_poster(request: Request) -> tuple[bytes, str]:
        """The poster bytes and a display name, from a multipart `file` or a JSON `{"url": ...}`."""
        content_type = request.headers.get("content-type", "").lower()
        if content_type.startswith("multipart/form-data"):
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if not isinstance(upload, UploadFile):
                    raise HTTPException(422, "multipart body has no file field named 'file'")
                return await read_upload(upload)
        if content_type.startswith("application/json"):
            try:
                body = schemas.UrlRequest.model_validate_json(await request.body())
            except ValidationError as exc:
                raise HTTPException(422, f"JSON body must be {{\"url\": \"https://...\"}}: {_first_error(exc)}") from exc
            url = body.url.strip()
            return await fetch_gate.run(fetch_image_bytes, url, limits=fetch_limits), url
        raise HTTPException(415, "send the poster as multipart/form-data with a field 'file', "
                                 "or as application/json {\"url\": \"https://...\"}")

    @app.post("/v1/predict", response_model=schemas.PredictResponse, responses=_ERRORS, openapi_extra=_poster_body(),
              summary="Genre probabilities for one poster")
    async def predict(
        request: Request,
        threshold: Annotated[Optional[float], Query(ge=0, le=1, description="One threshold for every genre instead of the model's per-genre thresholds.")] = None,
        top_k: Annotated[Optional[int], Query(ge=1, le=50, description="Decide at most this many genres.")] = None,
        explain: Annotated[bool, Query(description=f"Add heatmaps of where the network looked, for the top {EXPLAIN_GENRES} genres.")] = False,
    ) -> schemas.PredictResponse:
        data, name = await read_one_poster(request)

        def work() -> schemas.PredictResponse:
            image = _decode(data, name)
            prediction = predictor.predict(image, threshold=threshold, top_k=top_k)
            maps = predictor.explain(image, genres=list(prediction.probabilities)[:EXPLAIN_GENRES]) if explain else {}
            return _prediction_response(prediction, name, maps)

        return await gate.run(work)

    @app.post("/v1/similar", response_model=schemas.SimilarResponse, responses=_ERRORS, openapi_extra=_poster_body(),
              summary="Comparable catalog titles (nearest posters)")
    async def similar(
        request: Request,
        k: Annotated[int, Query(ge=1, le=MAX_SIMILAR_K, description="How many titles.")] = 10,
    ) -> schemas.SimilarResponse:
        data, name = await read_one_poster(request)

        def work() -> schemas.SimilarResponse:
            embedding = predictor.predict(_decode(data, name)).embedding
            # The upload itself, when it is a catalog poster, is not its own comparable title.
            titles = predictor.similarity(paths.home).search(embedding, k, exclude_sha256=hashlib.sha256(data).hexdigest())
            return schemas.SimilarResponse(source=name, titles=[_similar_title(t) for t in titles])

        return await gate.run(work)

    @app.post("/v1/compare", response_model=schemas.CompareResponse, responses=_ERRORS,
              openapi_extra=_poster_body({"targets": {"type": "string", "description": "Target genres, comma-separated, e.g. Family,Comedy"}}, many=True),
              summary="Rank poster variants by how strongly they signal the target genres")
    async def compare(request: Request) -> schemas.CompareResponse:
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise HTTPException(415, "send the variants as multipart/form-data: files 'files' and a field 'targets'")
        async with request.form(max_files=MAX_COMPARE_FILES, max_fields=8) as form:
            uploads = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
            targets_field = form.get("targets")
            if not uploads:
                raise HTTPException(422, "multipart body has no files named 'files'")
            posters = [await read_upload(u) for u in uploads]
        # Case-insensitive names -> the model's genres; raises (422) naming unknown ones and listing the known.
        targets = parse_targets(targets_field if isinstance(targets_field, str) else "", predictor.genres)

        def work() -> schemas.CompareResponse:
            predictions = [predictor.predict(_decode(data, name)) for data, name in posters]
            return _compare_response(targets, predictions, [name for _, name in posters])

        return await gate.run(work)

    @app.get("/v1/genres", response_model=schemas.GenresResponse, summary="Genres the model predicts, with thresholds")
    async def genres() -> schemas.GenresResponse:
        return schemas.GenresResponse(genres=[schemas.GenreInfo(genre=g, threshold=t) for g, t in info["thresholds"].items()])

    @app.get("/v1/model", response_model=schemas.ModelResponse, summary="Model card and cross-validated metrics")
    async def model() -> schemas.ModelResponse:
        return schemas.ModelResponse(backbone=info["backbone"], genres=list(info["thresholds"]), created_at=info["created_at"],
                                     metrics=info["metrics"], card_markdown=info["card"])

    @app.get("/v1/posters/{sha256}", response_class=FileResponse, summary="A catalog poster image by its sha256",
             responses={200: {"content": {"image/*": {}}, "description": "The poster file."},
                        404: {"model": schemas.ErrorResponse, "description": "No such poster in the store."},
                        422: {"model": schemas.ErrorResponse, "description": "Not a sha256 hex digest."}})
    async def poster(sha256: Annotated[str, PathParam(pattern=_SHA256, description="Lower-case hex sha256 of the poster file.")]) -> FileResponse:
        try:
            path = store.path(sha256)
        except FileNotFoundError:
            raise HTTPException(404, f"poster {sha256} is not in the poster store") from None
        media = {".jpg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".gif": "image/gif",
                 ".bmp": "image/bmp", ".tif": "image/tiff"}.get(path.suffix, "application/octet-stream")
        # Content-addressed: the bytes behind a hash never change.
        return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                              "X-Content-Type-Options": "nosniff"})

    @app.get("/healthz", response_model=schemas.HealthResponse, summary="Liveness and what is loaded")
    async def healthz() -> schemas.HealthResponse:
        return schemas.HealthResponse(status="ok", version=__version__, genres=len(predictor.genres),
                                      similar_available=info["similar_available"])

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob: https: http:; style-src 'self'; "
                                       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


# -- request handling helpers -------------------------------------------------------------------------

def _decode(data: bytes, name: str) -> Image.Image:
    """decode_image with the HTTP status a client should see: 415 for non-images, 422 for bad images."""
    try:
        return decode_image(data, name=name)
    except PosterDecodeError as exc:
        if not data or isinstance(exc.__cause__, UnidentifiedImageError):
            raise _NotAnImage(str(exc)) from exc
        raise


class _NotAnImage(PosterDecodeError):
    """A PosterDecodeError for bytes in no image format at all (415 rather than 422)."""


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "body"
    return f"{where}: {err.get('msg')}"


def _install_error_handlers(app: FastAPI) -> None:
    def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

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
        if isinstance(exc, _NotAnImage):
            return error(415, str(exc))
        if isinstance(exc, ModelError):
            return error(503, str(exc))  # the server's data folder or model is not ready for this request
        return error(422, str(exc))  # bad image, refused or failed URL (FetchError), unknown genre, ...

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # Starlette re-raises after this answer, so the server (uvicorn) logs the traceback; the client
        # gets no detail that could leak paths or internals.
        return error(500, "internal server error (details are in the server log)")



# -- predictor results -> response models -------------------------------------------------------------

def _model_info(predictor: Any, home: Path) -> dict[str, Any]:
    """What /v1/genres, /v1/model and /healthz report; read once, at startup.

    The catalog similarity index is built here too, so the first visitor does not wait for it.
    """
    artifact = predictor.artifact
    card_path = Path(predictor.model_dir) / "MODEL_CARD.md" if predictor.model_dir else None
    card = card_path.read_text(encoding="utf-8") if card_path and card_path.is_file() else "(this model has no card)"
    try:
        predictor.similarity(home)
        similar_available = True
    except PosterGenreError as exc:
        logger.warning("comparable titles unavailable: %s", exc)
        similar_available = False
    return {"thresholds": predictor.thresholds, "backbone": artifact.backbone, "created_at": artifact.created_at,
            "metrics": _json_safe(artifact.metrics), "card": card, "similar_available": similar_available}


def _json_safe(value: Any) -> Any:
    """numpy scalars/arrays inside metrics -> plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    return value


def _scores(prediction: Any) -> list[schemas.GenreScore]:
    decided = set(prediction.decided)
    return [schemas.GenreScore(genre=g, probability=min(max(p, 0.0), 1.0), threshold=prediction.thresholds[g], decided=g in decided)
            for g, p in prediction.probabilities.items()]


def _check(prediction: Any) -> schemas.PosterCheck:
    return schemas.PosterCheck(**prediction.poster_check)


def _prediction_response(prediction: Any, name: str, maps: dict[str, Any]) -> schemas.PredictResponse:
    return schemas.PredictResponse(
        source=name, genres=_scores(prediction), decided=list(prediction.decided), poster_check=_check(prediction),
        heatmaps=[schemas.Heatmap(genre=g, png=heatmap_data_url(m)) for g, m in maps.items()])


def _similar_title(title: Any) -> schemas.SimilarTitle:
    return schemas.SimilarTitle(imdb_id=title.imdb_id, title=title.title, year=title.year, genres=list(title.genres),
                                similarity=title.score, poster_url=f"/v1/posters/{title.poster_sha256}")


def _compare_response(targets: list[str], predictions: list[Any], names: list[str]) -> schemas.CompareResponse:
    """Rank with the predictor's own variant score (predict.compare.score_variant), keeping upload positions."""
    scored = sorted(((score_variant(p, targets), i) for i, p in enumerate(predictions)), key=lambda t: -t[0].score)
    variants = []
    for rank, (variant, index) in enumerate(scored, start=1):
        genres = _scores(variant.prediction)
        variants.append(schemas.CompareVariant(
            rank=rank, index=index, source=names[index], target_score=variant.score,
            target_probabilities=variant.target_probabilities,
            unintended=[s for s in genres if s.genre in variant.unintended],
            genres=genres, poster_check=_check(variant.prediction)))
    return schemas.CompareResponse(targets=targets, variants=variants)
