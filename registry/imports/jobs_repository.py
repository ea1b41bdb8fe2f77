"""All SQL of import jobs run over HTTP (`import_job_runs`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from registry.imports.jobs_models import ACTIVE, ImportJobRun, JobStatus


def get(session: Session, job_id: uuid.UUID) -> ImportJobRun | None:
    return session.get(ImportJobRun, job_id)


def oldest_queued(session: Session) -> uuid.UUID | None:
    stmt = (
        select(ImportJobRun.id)
        .where(ImportJobRun.status == JobStatus.QUEUED.value)
        .order_by(ImportJobRun.id)
        .limit(1)
    )
    return session.execute(stmt).scalar_one_or_none()


def claim(session: Session, job_id: uuid.UUID, *, runner: str, values: dict[str, object]) -> bool:
    """Move a queued job to validating for `runner`; False if another process claimed it first. One UPDATE
    with the status in its WHERE clause, so two processes can never both run a job."""
    stmt = (
        update(ImportJobRun)
        .where(ImportJobRun.id == job_id, ImportJobRun.status == JobStatus.QUEUED.value)
        .values(status=JobStatus.VALIDATING.value, runner=runner, **values)
        .execution_options(synchronize_session=False)
    )
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def active(session: Session) -> Sequence[ImportJobRun]:
    stmt = select(ImportJobRun).where(ImportJobRun.status.in_([s.value for s in ACTIVE]))
    return session.execute(stmt).scalars().all()


def any_queued(session: Session) -> bool:
    return oldest_queued(session) is not None


def recent(
    session: Session, *, created_by: str | None, before: uuid.UUID | None, limit: int
) -> Sequence[ImportJobRun]:
    """Newest first (ids are time-ordered UUIDv7), from before the cursor."""
    stmt = select(ImportJobRun).order_by(ImportJobRun.id.desc()).limit(limit)
    if created_by is not None:
        stmt = stmt.where(ImportJobRun.created_by == created_by)
    if before is not None:
        stmt = stmt.where(ImportJobRun.id < before)
    return session.execute(stmt).scalars().all()


def finished_before(session: Session, cutoff: object) -> Sequence[ImportJobRun]:
    stmt = select(ImportJobRun).where(
        ImportJobRun.finished_at.is_not(None), ImportJobRun.finished_at < cutoff
    )
    return session.execute(stmt).scalars().all()
