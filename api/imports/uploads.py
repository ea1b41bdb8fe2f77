"""Receiving an import upload: streamed to disk under the var dir with a size limit enforced while reading,
so an oversize upload is refused (413) without being stored, and a body that is not multipart is 415.

Reusable by any route that takes an import file (the JSON API and the web UI's upload form).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from api.errors import ApiError
from registry.imports.jobs import UnsupportedFileType, UploadTooLarge

FIELD_LIMIT = 64 * 1024


class MalformedUpload(ApiError):
    status = 400
    code = "malformed_upload"
    title = "Malformed upload"


@dataclass(frozen=True)
class SavedUpload:
    job_id: uuid.UUID
    path: Path
    filename: str
    content_type: str | None
    fields: dict[str, str]


def uploads_dir(var_dir: Path) -> Path:
    return var_dir / "imports"


def _too_large(limit: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"the upload is larger than the limit of {limit} bytes (ITI_MAX_UPLOAD_BYTES): split the file",
        field="file",
        limit=limit,
    )


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        yield chunk


async def receive_upload(
    request: Request, *, var_dir: Path, max_bytes: int, job_id: uuid.UUID
) -> SavedUpload:
    """Save the multipart field `file` as var_dir/imports/<job_id>/upload; other fields come back as text."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "multipart/form-data":
        raise UnsupportedFileType(
            f"send the import as multipart/form-data with a `file` field, not {media or 'no content type'}",
            field="file",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)  # refused before reading a byte of it
    parser = MultiPartParser(
        request.headers, _limited(request, max_bytes), max_files=1, max_fields=10, max_part_size=FIELD_LIMIT
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedUpload(f"the multipart body cannot be read: {exc.message}", field="file") from None
    except ClientDisconnect:
        raise MalformedUpload("the upload was cut off before it ended", field="file") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise MalformedUpload(
                "the multipart body has no `file` field holding the import file", field="file"
            )
        folder = uploads_dir(var_dir) / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "upload"
        await run_in_threadpool(_copy, upload, path)
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
        return SavedUpload(job_id, path, upload.filename or "upload", upload.content_type, fields)
    finally:
        await form.close()


def _copy(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("wb") as out:
        shutil.copyfileobj(upload.file, out, 1 << 20)


def discard(saved: SavedUpload) -> None:
    """Remove an upload that did not become a job (refused format, unknown organisation, …)."""
    shutil.rmtree(saved.path.parent, ignore_errors=True)
