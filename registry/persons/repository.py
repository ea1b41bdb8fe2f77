"""All SQL for persons. Rows hold only sealed personal data; see `registry.persons.crypto`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
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


def sealed_with_other_key(session: Session, current_key_id: str, *, limit: int) -> list[Person]:
    """Rows not sealed with the current key, locked, in id order (a re-seal after a key rotation)."""
    stmt = (
        select(Person)
        .where(Person.key_id != current_key_id)
        .order_by(Person.id)
        .limit(limit)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.execute(stmt).scalars())
