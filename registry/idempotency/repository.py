"""All SQL for idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.idempotency.models import IdempotencyKey


def get(session: Session, *, principal: str, key: str) -> IdempotencyKey | None:
    # populate_existing: after losing a race the row must be read as the winner committed it.
    stmt = (
        select(IdempotencyKey)
        .where(IdempotencyKey.principal == principal, IdempotencyKey.key == key)
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def claim(session: Session, row: IdempotencyKey) -> bool:
    """Insert `row`; False if another transaction holds (principal, key). On PostgreSQL the insert waits
    for that transaction to end, so a False means its row is committed and can be read now."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def remove_if_older(session: Session, row: IdempotencyKey, cutoff: datetime) -> None:
    """Delete an expired row. A plain DELETE rather than `session.delete`: a concurrent request may remove
    it first, and matching no row is then the expected outcome, not a stale-data error."""
    stmt = delete(IdempotencyKey).where(IdempotencyKey.id == row.id, IdempotencyKey.created_at < cutoff)
    session.execute(stmt)
    session.expunge(row)


def purge_before(session: Session, cutoff: datetime) -> int:
    stmt = delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)
    return session.execute(stmt).rowcount  # type: ignore[attr-defined, no-any-return]
