"""The import page: upload a CSV or JSON Lines file, watch its progress, download the rejects report.

The jobs are `registry.imports.jobs`, run by the app's import runner, exactly as for `POST /api/v1/imports`;
an import is all or nothing, so a file with bad rows imports none and the page offers the report of every
bad row.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.db import Context, DbSession
from api.errors import ApiError
from api.imports.router import Runner, _download_name
from api.imports.uploads import SavedUpload, discard, receive_upload
from api.ui.i18n import _
from api.ui.session import CSRF_FIELD, CsrfFailed, page_requires
from api.ui.templating import render
from registry.db import new_id
from registry.errors import RegistryError
from registry.imports import jobs
from registry.users import service as users
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/ui/imports", include_in_schema=False)
Importer = Annotated[Principal, Depends(page_requires(Permission.IMPORT))]


def _page(
    request: Request, session: Session, who: Principal, runner: Runner, error: str = "", status: int = 200
) -> Response:
    recent = jobs.list_jobs(session, actor=who.username, limit=20, board=runner.board)
    return render(request, "imports/index.html", {"jobs": recent, "error": error}, status_code=status)


@router.get("", response_class=HTMLResponse)
def imports_page(request: Request, session: DbSession, who: Importer, runner: Runner) -> Response:
    return _page(request, session, who, runner)


def _check_csrf(request: Request, session: Session, saved: SavedUpload) -> None:
    token = request.cookies.get("iti_session", "")
    if not users.check_csrf(session, token, saved.fields.get(CSRF_FIELD)):
        raise CsrfFailed()


@router.post("", response_class=HTMLResponse)
async def upload(
    request: Request,
    background: BackgroundTasks,
    session: DbSession,
    ctx: Context,
    who: Importer,
    runner: Runner,
) -> Response:
    # Signing in read the database in this POST's transaction, which on SQLite holds the write lock (api.db):
    # end it before the upload streams in, or every other writer would wait for the officer's network.
    await run_in_threadpool(session.rollback)
    try:
        saved = await receive_upload(
            request, var_dir=ctx.settings.var_dir, max_bytes=ctx.settings.max_upload_bytes, job_id=new_id()
        )
    except (RegistryError, ApiError) as exc:
        message = exc.message if isinstance(exc, RegistryError) else str(exc)
        return await run_in_threadpool(_page, request, session, who, runner, message, 422)
    try:
        await run_in_threadpool(_check_csrf, request, session, saved)
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
    except RegistryError as exc:
        discard(saved)
        return await run_in_threadpool(_page, request, session, who, runner, exc.message, 422)
    except OperationalError:
        discard(saved)
        busy = _(
            "The registry is busy with another import (SQLite allows one writer). Try again in a minute."
        )
        return await run_in_threadpool(_page, request, session, who, runner, busy, 503)
    except BaseException:
        discard(saved)
        raise
    background.add_task(runner.submit, run.id)  # after the response: the job row is committed by then
    return RedirectResponse(f"/ui/imports/{run.id}", status_code=303)


@router.get("/{job_id}", response_class=HTMLResponse)
def job_page(
    request: Request, job_id: uuid.UUID, session: DbSession, who: Importer, runner: Runner
) -> Response:
    job = jobs.job_status(session, job_id, board=runner.board)
    return render(request, "imports/job.html", {"job": job})


@router.get("/{job_id}/progress", response_class=HTMLResponse)
def job_progress(
    request: Request, job_id: uuid.UUID, session: DbSession, who: Importer, runner: Runner
) -> Response:
    """The progress fragment the job page polls (and the whole state for a reader without JavaScript)."""
    job = jobs.job_status(session, job_id, board=runner.board)
    return render(request, "imports/_progress.html", {"job": job})


@router.get("/{job_id}/rejects")
def job_rejects(job_id: uuid.UUID, session: DbSession, who: Importer) -> StreamingResponse:
    run, path = jobs.rejects_file(session, job_id)
    return StreamingResponse(
        jobs.iter_rejects_csv(path),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_download_name(run.source_name)}"'},
    )
