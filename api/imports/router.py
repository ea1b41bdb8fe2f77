"""`/api/v1/imports`: upload a file → an import job running in the background, its progress, and the rejects
report of a job that failed on bad rows. Only HTTP here: the jobs are `registry.imports.jobs`, run by the
app's `ImportRunner` (`app.state.import_runner`, started and stopped with the app)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.db import Context, DbSession
from api.errors import ApiError, problem_responses
from api.imports.schemas import ImportJobOut, ImportJobPage
from api.imports.uploads import discard, receive_upload
from registry.db import new_id
from registry.imports import jobs
from registry.imports.jobs_runner import ImportRunner
from registry.users.roles import Permission
from registry.users.service import Principal

log = logging.getLogger("api.imports")
BASE = "/api/v1/imports"
POLL_SECONDS = 2


def runner_for(app: FastAPI) -> ImportRunner:
    """The app's import runner, made on first use from the app's context (sessions, settings, profile)."""
    runner: ImportRunner | None = getattr(app.state, "import_runner", None)
    if runner is None:
        ctx = app.state.ctx
        # Sessions bound to one connection (the tests' transaction) cannot be shared with a second thread.
        inline = isinstance(ctx.sessions.kw.get("bind"), Connection)
        runner = ImportRunner(ctx.sessions, settings=ctx.settings, profile=ctx.profile, inline=inline)
        app.state.import_runner = runner
    return runner


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runner = runner_for(app)
    try:
        await run_in_threadpool(runner.start)
    except Exception:  # an unmigrated database must not stop the server: /readyz reports it
        log.exception("import.runner.start_failed")
    yield
    await run_in_threadpool(runner.stop)


router = APIRouter(prefix=BASE, tags=["imports"], lifespan=lifespan)

Importer = Annotated[Principal, Depends(require(Permission.IMPORT))]


def import_runner(request: Request) -> ImportRunner:
    return runner_for(request.app)


Runner = Annotated[ImportRunner, Depends(import_runner)]


class RegistryBusy(ApiError):
    status = 503
    code = "busy"
    title = "Registry busy"


UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The import file: CSV or JSON Lines, UTF-8 (layout: docs/data-model.md)",
                        },
                        "format": {
                            "type": "string",
                            "enum": ["csv", "jsonl"],
                            "description": "Default: from the file name (.csv, .jsonl) or its content type",
                        },
                        "custody_of": {
                            "type": "string",
                            "description": "The closed company whose records these are (id, registration "
                            "number or exact name) (REQ-21)",
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload a file to import: all or nothing, in the background",
    responses=problem_responses(400, 401, 403, 404, 413, 415, 422, 503),
    openapi_extra=UPLOAD_BODY,
)
async def start_import(
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: DbSession,
    ctx: Context,
    who: Importer,
    runner: Runner,
) -> ImportJobOut:
    saved = await receive_upload(
        request, var_dir=ctx.settings.var_dir, max_bytes=ctx.settings.max_upload_bytes, job_id=new_id()
    )
    try:
        run = await run_in_threadpool(
            jobs.start_job,
            session,
            upload_path=saved.path,
            filename=saved.filename,
            fmt=saved.fields.get("format") or None,
            actor=who.username,
            custody_of=saved.fields.get("custody_of") or None,
            content_type=saved.content_type,
            job_id=saved.job_id,
        )
    except OperationalError:
        discard(saved)
        raise RegistryBusy(
            "the registry is busy writing another import (SQLite allows one writer): try again shortly",
            headers={"Retry-After": "30"},
        ) from None
    except BaseException:
        discard(saved)
        raise
    # After the request's transaction commits (background tasks run after the response), never before:
    # the runner must find the job.
    background.add_task(runner.submit, run.id)
    response.headers["Location"] = f"{BASE}/{run.id}"
    response.headers["Retry-After"] = str(POLL_SECONDS)
    return ImportJobOut.of(jobs.job_status(session, run.id, board=runner.board), BASE)


@router.get(
    "",
    summary="Your recent import jobs, newest first",
    responses=problem_responses(401, 403, 422),
)
def list_imports(
    session: DbSession,
    who: Importer,
    runner: Runner,
    cursor: Annotated[uuid.UUID | None, Query(description="The `next` link's cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ImportJobPage:
    found = jobs.list_jobs(session, actor=who.username, before=cursor, limit=limit, board=runner.board)
    nxt = f"{BASE}?cursor={found[-1].id}&limit={limit}" if len(found) == limit else None
    return ImportJobPage(items=[ImportJobOut.of(j, BASE) for j in found], next=nxt)


@router.get(
    "/{job_id}",
    summary="An import job: status and progress (poll until done or failed)",
    responses=problem_responses(401, 403, 404),
)
def get_import(
    job_id: uuid.UUID, response: Response, session: DbSession, who: Importer, runner: Runner
) -> ImportJobOut:
    job = jobs.job_status(session, job_id, board=runner.board)
    if not job.finished:
        response.headers["Retry-After"] = str(POLL_SECONDS)
    return ImportJobOut.of(job, BASE)


def _download_name(source_name: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(source_name).stem).strip("._") or "import"
    return f"{stem[:80]}-rejects.csv"


@router.get(
    "/{job_id}/rejects",
    summary="The rejects report of a failed job: CSV of row, field, value, message",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The rejects report"},
        **problem_responses(401, 403, 404),
    },
    response_class=StreamingResponse,
)
def get_rejects(job_id: uuid.UUID, session: DbSession, who: Importer) -> StreamingResponse:
    run, path = jobs.rejects_file(session, job_id)
    return StreamingResponse(
        jobs.iter_rejects_csv(path),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(run.source_name)}"'},
    )
