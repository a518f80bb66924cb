"""Request bodies → poster bytes: a multipart upload or a JSON URL, with the upload limit applied per file."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from ..posters.fetch import fetch_image_bytes
from . import MAX_COMPARE_FILES
from .limits import megabytes
from .schemas import UrlRequest
from .state import ServiceState

MAX_SYNOPSIS_CHARS = 5000


async def read_upload(upload: UploadFile, max_bytes: int) -> tuple[bytes, str]:
    name = upload.filename or "upload"
    if upload.size is not None and upload.size > max_bytes:
        raise HTTPException(413, f"{name}: {megabytes(upload.size)} exceeds the upload limit of {megabytes(max_bytes)}")
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise HTTPException(413, f"{name}: exceeds the upload limit of {megabytes(max_bytes)}")
    return data, name


def _text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    if len(value) > MAX_SYNOPSIS_CHARS:
        raise HTTPException(422, f"form field '{name}' is longer than {MAX_SYNOPSIS_CHARS} characters")
    return value.strip() or None


async def read_one_poster(request: Request, state: ServiceState, *,
                          synopsis_alone: bool = False) -> tuple[bytes | None, str, str | None]:
    """(poster bytes, display name, synopsis) from a multipart `file` (+ `synopsis`) or JSON {"url", "synopsis"}.
    `synopsis_alone`: a synopsis without a poster is accepted too, as (None, "synopsis", synopsis)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=8) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                synopsis = _text_field(form, "synopsis")
                if synopsis_alone and synopsis:
                    return None, "synopsis", synopsis
                raise HTTPException(422, "multipart body has no file field named 'file'"
                                         + (" (nor a synopsis to read alone)" if synopsis_alone else ""))
            data, name = await read_upload(upload, state.settings.max_upload_bytes)
            return data, name, _text_field(form, "synopsis")
    if content_type.startswith("application/json"):
        try:
            body = UrlRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ())) or "body"
            raise HTTPException(422, f'JSON body must be {{"url": "https://..."}}: {where}: {err.get("msg")}') from exc
        synopsis = (body.synopsis or "").strip() or None
        url = (body.url or "").strip()
        if not url:
            if synopsis_alone and synopsis:
                return None, "synopsis", synopsis
            raise HTTPException(422, 'JSON body must be {"url": "https://..."}: url: Field required'
                                     + (' (or {"synopsis": "..."} to read a story alone)' if synopsis_alone else ""))
        async with state.fetch_gate.admission():
            data = await state.fetch_gate.run(fetch_image_bytes, url, limits=state.fetch_limits)
        return data, url, synopsis
    raise HTTPException(415, "send the poster as multipart/form-data with a field 'file', "
                             "or as application/json {\"url\": \"https://...\"}")


async def read_variants(request: Request, state: ServiceState, *, key: str = "files",
                        max_files: int = MAX_COMPARE_FILES, names: tuple[str, ...] = ("targets", "synopsis", "heatmaps"),
                        ) -> tuple[list[tuple[bytes, str]], dict[str, str | None]]:
    """The variants (files under `key`, at most `max_files`) and the text fields `names` of a multipart form."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(415, f"send the variants as multipart/form-data: files '{key}' and the fields "
                                 f"{', '.join(repr(n) for n in names)}")
    async with request.form(max_files=max_files, max_fields=8) as form:
        uploads = [f for f in form.getlist(key) if isinstance(f, UploadFile)]
        if not uploads:
            raise HTTPException(422, f"multipart body has no files named '{key}'")
        posters = [await read_upload(u, state.settings.max_upload_bytes) for u in uploads]
        fields = {name: _text_field(form, name) for name in names}
    return posters, fields
