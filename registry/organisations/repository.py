"""All SQL for organisations and their licences."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from registry.organisations.models import Licence, Organisation
from registry.reference.models import ManufacturerRef


def add(session: Session, obj: Organisation | Licence) -> None:
    session.add(obj)
    session.flush()


def get(session: Session, org_id: uuid.UUID) -> Organisation | None:
    return session.get(Organisation, org_id)


def lock(session: Session, org_id: uuid.UUID) -> Organisation | None:
    """Lock the organisation's row and re-read it: concurrent updates or a close queue here, and the
    version compared afterwards is the committed one, not a stale copy from the identity map."""
    stmt = (
        select(Organisation)
        .where(Organisation.id == org_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def by_registration(session: Session, country: str, registration_number: str) -> Organisation | None:
    stmt = select(Organisation).where(
        Organisation.country == country, Organisation.registration_number == registration_number
    )
    return session.execute(stmt).scalar_one_or_none()


def manufacturer_exists(session: Session, code: str) -> bool:
    return session.get(ManufacturerRef, code) is not None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def find_by_name(session: Session, name: str, *, limit: int = 50) -> list[Organisation]:
    """Organisations whose name contains `name`, ignoring case; exact matches first."""
    needle = name.strip().lower()
    stmt = (
        select(Organisation)
        .where(func.lower(Organisation.name).like(f"%{_escape_like(needle)}%", escape="\\"))
        .order_by((func.lower(Organisation.name) != needle), Organisation.name, Organisation.id)
        .limit(limit)
    )
    return list(session.execute(stmt).scalars())


def list_organisations(
    session: Session,
    *,
    kind: str | None = None,
    country: str | None = None,
    include_closed: bool = False,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Organisation]:
    """A page of organisations in id order; pass the last id seen as `after` for the next page."""
    stmt = select(Organisation)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    if country is not None:
        stmt = stmt.where(Organisation.country == country)
    if not include_closed:
        stmt = stmt.where(Organisation.closed_at.is_(None))
    if after is not None:
        stmt = stmt.where(Organisation.id > after)
    return list(session.execute(stmt.order_by(Organisation.id).limit(limit)).scalars())


# --- licences ---------------------------------------------------------------------------------------------


def get_licence(session: Session, licence_id: uuid.UUID) -> Licence | None:
    return session.get(Licence, licence_id)


def lock_licence(session: Session, licence_id: uuid.UUID) -> Licence | None:
    stmt = (
        select(Licence)
        .where(Licence.id == licence_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.execute(stmt).scalar_one_or_none()


def licence_by_number(session: Session, issuing_country: str, kind: str, number: str) -> Licence | None:
    stmt = select(Licence).where(
        Licence.issuing_country == issuing_country, Licence.kind == kind, Licence.number == number
    )
    return session.execute(stmt).scalar_one_or_none()


def unrevoked_licences(session: Session, org_id: uuid.UUID) -> list[Licence]:
    """The organisation's licences that are not revoked, locked: closing the organisation revokes them."""
    stmt = (
        select(Licence)
        .where(Licence.organisation_id == org_id, Licence.revoked_at.is_(None))
        .order_by(Licence.issued_on, Licence.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return list(session.execute(stmt).scalars())


def _valid_on(on: date) -> ColumnElement[bool]:
    # A licence revoked at any time on day `on` is not valid on that day: the conservative reading.
    next_midnight = datetime.combine(on + timedelta(days=1), time(), tzinfo=UTC)
    return and_(
        Licence.issued_on <= on,
        or_(Licence.expires_on.is_(None), Licence.expires_on >= on),
        or_(Licence.revoked_at.is_(None), Licence.revoked_at >= next_midnight),
    )


def valid_licences(
    session: Session, org_id: uuid.UUID, on: date, *, kind: str | None = None
) -> list[Licence]:
    stmt = select(Licence).where(Licence.organisation_id == org_id, _valid_on(on))
    if kind is not None:
        stmt = stmt.where(Licence.kind == kind)
    return list(session.execute(stmt.order_by(Licence.kind, Licence.issued_on, Licence.id)).scalars())


def licences_of(session: Session, org_id: uuid.UUID) -> list[Licence]:
    stmt = select(Licence).where(Licence.organisation_id == org_id).order_by(Licence.issued_on, Licence.id)
    return list(session.execute(stmt).scalars())
