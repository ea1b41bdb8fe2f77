"""The SQL the documents and charts need beyond what the registry's and tracing's repositories offer:
counts by category, marks and events by kind within a period, what the marks of a kind record."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import String, func, select
from sqlalchemy.orm import Session

from registry.history.models import Event
from registry.markings.models import Marking
from registry.reference.models import CategoryRef
from registry.weapons.models import Weapon, WeaponState


def count_by_category(session: Session) -> dict[str, int]:
    stmt = select(Weapon.category, func.count()).group_by(Weapon.category)
    return {row[0]: row[1] for row in session.execute(stmt)}


def category_names(session: Session) -> dict[str, str]:
    return {row[0]: row[1] for row in session.execute(select(CategoryRef.code, CategoryRef.name))}


def weapons_registered(session: Session, *, since: datetime | None, until: datetime) -> int:
    stmt = select(func.count()).select_from(Weapon).where(Weapon.registered_at < until)
    if since is not None:
        stmt = stmt.where(Weapon.registered_at >= since)
    return int(session.execute(stmt).scalar_one())


def pending_marking(session: Session) -> int:
    stmt = select(func.count()).select_from(WeaponState).where(WeaponState.pending_marking.is_(True))
    return int(session.execute(stmt).scalar_one())


def marks_by_kind(session: Session, *, since: date, until: date) -> dict[str, int]:
    """Marks applied in [since, until): on the day the station or officer gives, else the day recorded."""
    day = _applied_day()
    stmt = select(Marking.kind, func.count()).where(day >= since, day < until).group_by(Marking.kind)
    return {row[0]: row[1] for row in session.execute(stmt)}


def _applied_day() -> Any:
    return func.coalesce(Marking.applied_on, func.date(Marking.recorded_at))


def mark_contents(session: Session, *, kind: str, since: date, until: date) -> dict[str, int]:
    """Marks of `kind` applied in [since, until): how many, and how many record each element of a mark
    (maker, country, serial, year), as the template's "what information is included in the marking" asks."""
    day = _applied_day()

    def present(column: Any) -> Any:
        return func.count(func.nullif(func.trim(func.cast(column, String)), ""))

    stmt = select(
        func.count(),
        present(Marking.manufacturer),
        present(Marking.country),
        present(Marking.serial),
        present(Marking.year),
    ).where(Marking.kind == kind, day >= since, day < until)
    total, manufacturer, country, serial, year = session.execute(stmt).one()
    return {"marks": total, "manufacturer": manufacturer, "country": country, "serial": serial, "year": year}


def marks_by_component(session: Session, *, kind: str, since: date, until: date) -> dict[str, int]:
    """Marks of `kind` applied in [since, until) by the component that carries them (frame, barrel …)."""
    day = _applied_day()
    stmt = (
        select(Marking.component_kind, func.count())
        .where(Marking.kind == kind, day >= since, day < until)
        .group_by(Marking.component_kind)
        .order_by(func.count().desc(), Marking.component_kind)
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def marks_by_condition(session: Session, *, since: datetime, until: datetime) -> dict[str, int]:
    """Marks recorded in the period by condition (altered or obliterated ones are flagged, REQ-14)."""
    stmt = (
        select(Marking.condition, func.count())
        .where(Marking.recorded_at >= since, Marking.recorded_at < until)
        .group_by(Marking.condition)
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def events_by_type(session: Session, *, since: datetime, until: datetime) -> dict[str, int]:
    stmt = (
        select(Event.type, func.count())
        .where(Event.occurred_at >= since, Event.occurred_at < until)
        .group_by(Event.type)
    )
    return {row[0]: row[1] for row in session.execute(stmt)}


def recovery_years(session: Session, types: tuple[str, ...]) -> list[int]:
    """Years in which any weapon was found, seized or surrendered (the SDG 16.4.2 series)."""
    stmt = select(func.min(Event.occurred_at), func.max(Event.occurred_at)).where(Event.type.in_(types))
    first, last = session.execute(stmt).one()
    if first is None or last is None:
        return []
    return list(range(first.year, last.year + 1))
