"""All SQL for persons. Rows hold only sealed personal data; see `registry.persons.crypto`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.persons.models import Person


def add(session: Session, person: Person) -> None:
    session.add(person)
    session.flush()


def get(session: Session, person_id: uuid.UUID) -> Person | None:
    return session.get(Person, person_id)


def lock(session: Session, person_id: uuid.UUID) -> Person | None:
    """Lock and re-read the row: two officers correcting one person queue here."""
    stmt = (
        select(Person)
        .where(Person.id == person_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def by_identity_hmacs(session: Session, digests: Sequence[bytes]) -> list[Person]:
    if not digests:
        return []
    stmt = (
        select(Person).where(Person.identity_hmac.in_(list(digests))).order_by(Person.created_at, Person.id)
    )
    return list(session.execute(stmt).scalars())


def sealed_with_other_key_after(
    session: Session, current_key_id: str, *, after: uuid.UUID | None, limit: int
) -> list[Person]:
    """The next rows after `after` (id order) not sealed with the current key, locked: a keyset walk, so a
    re-seal of n rows reads each row once instead of rescanning the rows already done at every batch."""
    stmt = select(Person).where(Person.key_id != current_key_id)
    if after is not None:
        stmt = stmt.where(Person.id > after)
    stmt = stmt.order_by(Person.id).limit(limit).with_for_update().execution_options(populate_existing=True)
    return list(session.execute(stmt).scalars())


def count_sealed_with_other_key(session: Session, current_key_id: str) -> int:
    stmt = select(func.count()).select_from(Person).where(Person.key_id != current_key_id)
    return int(session.execute(stmt).scalar_one())


def count_by_key(session: Session) -> dict[str, int]:
    stmt = select(Person.key_id, func.count()).group_by(Person.key_id).order_by(Person.key_id)
    return {key_id: int(n) for key_id, n in session.execute(stmt).all()}
