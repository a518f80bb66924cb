"""Request bodies → posters: a multipart upload or a JSON URL, with the upload limit applied per file.

A request waits for an inference slot holding file handles, not bytes: Starlette's multipart parser spools each
upload to a temporary file past 1 MB (and a downloaded URL is spooled the same way here), and the bytes are read
only inside the slot (`SpooledPoster.input`, called from the work function that runs there). So the waiting requests
cost disk, not memory: 60 queued briefs of six 9.7 MB posters took the server from 1.2 GB to 4.6 GB while each held
its upload as bytes.

Form fields: a field that takes a list (`intended`, `targets`; the files under the endpoint's key) may be repeated and
its values are merged; any other field sent twice is refused with 422 naming it, never silently "the last one wins".
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO, Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartParser

from ..posters.caps import megabytes
from ..posters.fetch import fetch_image_bytes
from ..predict.inputs import PosterInput
from . import MAX_COMPARE_FILES
from .schemas import UrlRequest
from .state import ServiceState

MAX_SYNOPSIS_CHARS = 5000
MAX_FIELD_BYTES = 64 * 1024  # one text field (a synopsis of 5,000 characters is at most 20 KB of UTF-8)
LIST_FIELDS = frozenset({"intended", "targets"})
"""Text fields that take a comma-separated list: repeated, their values are joined (`intended=Family` twice with
`intended=Comedy` reads as "Family, Comedy"). Every other text field is single-valued."""


@dataclass(frozen=True)
class SpooledPoster:
    """One poster of a request, as a file handle (in memory up to 1 MB, else a temporary file on disk)."""

    name: str
    file: IO[bytes]
    max_bytes: int

    def read(self) -> bytes:
        """The poster's bytes: a blocking read, so call it inside the inference slot (from the work function)."""
        self.file.seek(0)
        data = self.file.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise HTTPException(413, f"{self.name}: exceeds the upload limit of {megabytes(self.max_bytes)}")
        return data

    def input(self) -> PosterInput:
        return PosterInput(source=self.name, data=self.read())


def _spooled(upload: UploadFile, max_bytes: int) -> SpooledPoster:
    """The upload as a SpooledPoster, refused (413) when its size is over the limit: before any slot is taken."""
    name = upload.filename or "upload"
    if upload.size is not None and upload.size > max_bytes:
        raise HTTPException(413, f"{name}: {megabytes(upload.size)} exceeds the upload limit of {megabytes(max_bytes)}")
    return SpooledPoster(name, upload.file, max_bytes)


@asynccontextmanager
async def _multipart(request: Request, *, max_files: int, max_fields: int = 8) -> AsyncIterator[FormData]:
    """The parsed form, open (its spooled files readable) until the block ends."""
    async with request.form(max_files=max_files, max_fields=max_fields, max_part_size=MAX_FIELD_BYTES) as form:
        yield form


def _check_repeats(form: FormData, file_key: str | None) -> None:
    """422 naming the first single-valued field sent more than once (files under `file_key` and LIST_FIELDS merge)."""
    for name in dict.fromkeys(form.keys()):
        count = len(form.getlist(name))
        if count > 1 and name != file_key and name not in LIST_FIELDS:
            raise HTTPException(422, f"form field '{name}' was sent {count} times; it takes one value")


def _text_field(form: FormData, name: str) -> str | None:
    values = [v for v in form.getlist(name) if isinstance(v, str)]
    for value in values:
        if len(value) > MAX_SYNOPSIS_CHARS:
            raise HTTPException(422, f"form field '{name}' is longer than {MAX_SYNOPSIS_CHARS} characters")
    return ", ".join(v.strip() for v in values if v.strip()) or None


@asynccontextmanager
async def receive_poster(
    request: Request,
    state: ServiceState,
    *,
    synopsis_alone: bool = False,
) -> AsyncIterator[tuple[SpooledPoster | None, str | None]]:
    """(poster, synopsis) from a multipart `file` (+ `synopsis`) or JSON {"url", "synopsis"}, readable until the block
    ends. `synopsis_alone`: a synopsis without a poster is accepted too, as (None, synopsis)."""
    content_type = request.headers.get("content-type", "").lower()
    limit = state.settings.max_upload_bytes
    if content_type.startswith("multipart/form-data"):
        async with _multipart(request, max_files=2) as form:  # 2: a repeated `file` is refused by name, below
            _check_repeats(form, None)
            upload = form.get("file")
            synopsis = _text_field(form, "synopsis")
            if not isinstance(upload, UploadFile):
                if synopsis_alone and synopsis:
                    yield None, synopsis
                    return
                raise HTTPException(
                    422,
                    "multipart body has no file field named 'file'"
                    + (" (nor a synopsis to read alone)" if synopsis_alone else ""),
                )
            yield _spooled(upload, limit), synopsis
        return
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
                yield None, synopsis
                return
            raise HTTPException(
                422,
                'JSON body must be {"url": "https://..."}: url: Field required'
                + (' (or {"synopsis": "..."} to read a story alone)' if synopsis_alone else ""),
            )
        with tempfile.SpooledTemporaryFile(max_size=MultiPartParser.spool_max_size) as file:  # as an upload is kept
            async with state.fetch_gate.admission():
                file.write(await state.fetch_gate.run(fetch_image_bytes, url, limits=state.fetch_limits))
            yield SpooledPoster(url, file, limit), synopsis
        return
    raise HTTPException(
        415,
        'send the poster as multipart/form-data with a field \'file\', or as application/json {"url": "https://..."}',
    )


@asynccontextmanager
async def receive_variants(
    request: Request,
    state: ServiceState,
    *,
    key: str = "files",
    max_files: int = MAX_COMPARE_FILES,
    names: tuple[str, ...] = ("targets", "synopsis", "heatmaps"),
) -> AsyncIterator[tuple[list[SpooledPoster], dict[str, Any]]]:
    """The variants (files under `key`, at most `max_files`) and the text fields `names` of a multipart form,
    readable until the block ends."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise HTTPException(
            415,
            f"send the variants as multipart/form-data: files '{key}' and the fields "
            f"{', '.join(repr(n) for n in names)}",
        )
    async with _multipart(request, max_files=max_files) as form:
        _check_repeats(form, key)
        uploads = [f for f in form.getlist(key) if isinstance(f, UploadFile)]
        if not uploads:
            raise HTTPException(422, f"multipart body has no files named '{key}'")
        posters = [_spooled(u, state.settings.max_upload_bytes) for u in uploads]
        yield posters, {name: _text_field(form, name) for name in names}
