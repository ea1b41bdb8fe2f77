"""All SQL for weapons, their markings, components, history rows and derived state."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    String,
    bindparam,
    func,
    insert,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from registry.history.models import Event
from registry.markings.models import Component, Marking
from registry.weapons.models import SPELLED_OTHERWISE, Weapon, WeaponState


def insert_weapon(session: Session, row: dict[str, Any]) -> None:
    session.execute(insert(Weapon), [row])


def insert_markings(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Marking), list(rows))


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Event), list(rows))


def insert_components(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Component), list(rows))


def insert_states(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(WeaponState), list(rows))


def update_state(session: Session, weapon_id: uuid.UUID, values: dict[str, Any]) -> None:
    session.execute(update(WeaponState).where(WeaponState.weapon_id == weapon_id).values(**values))


def get_weapon(session: Session, weapon_id: uuid.UUID) -> Weapon | None:
    return session.get(Weapon, weapon_id)


def lock_state(session: Session, weapon_id: uuid.UUID) -> WeaponState | None:
    """Lock the weapon's state row: two officers recording events on one weapon queue here."""
    stmt = select(WeaponState).where(WeaponState.weapon_id == weapon_id).with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def get_state(session: Session, weapon_id: uuid.UUID) -> WeaponState | None:
    return session.get(WeaponState, weapon_id)


def by_uniqueness_key(session: Session, key: str) -> Weapon | None:
    return session.execute(select(Weapon).where(Weapon.uniqueness_key == key)).scalar_one_or_none()


def markings_of(session: Session, weapon_id: uuid.UUID) -> list[Marking]:
    stmt = select(Marking).where(Marking.weapon_id == weapon_id).order_by(Marking.recorded_at, Marking.id)
    return list(session.execute(stmt).scalars())


def events_of(session: Session, weapon_id: uuid.UUID) -> list[Event]:
    return list(
        session.execute(select(Event).where(Event.weapon_id == weapon_id).order_by(Event.seq)).scalars()
    )


def get_event(session: Session, event_id: uuid.UUID) -> Event | None:
    return session.get(Event, event_id)


def _ids_by_mark(key: str) -> CompoundSelect:
    by_weapon = select(Weapon.id).where(Weapon.serial_key == key)
    by_mark = select(Marking.weapon_id).where(or_(Marking.text_key == key, Marking.serial == key))
    return by_weapon.union(by_mark)


def find_ids_by_mark(session: Session, key: str, limit: int = 50) -> list[uuid.UUID]:
    """Weapons whose serial, or the text or serial of any of their marks, equals the normalised key."""
    return list(session.execute(_ids_by_mark(key).limit(limit)).scalars())


def search(
    session: Session,
    *,
    make: str | None = None,
    model: str | None = None,
    status: str | None = None,
    category: str | None = None,
    serial_key: str | None = None,
    mark_key: str | None = None,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[tuple[Weapon, WeaponState]]:
    """Weapons matching every filter given, in id order; `mark_key` as `find_ids_by_mark` (serial or any mark).

    A make matches the manufacturer code or the make as written, ignoring case.
    """
    if make and not (model or mark_key or serial_key):
        given = {k: v for k, v in {"status": status, "category": category, "after": after}.items() if v}
        stmt = _make_search(status="status" in given, category="category" in given, after="after" in given)
        return [(w, s) for w, s in session.execute(stmt, {"make": make.upper(), "limit": limit, **given})]
    filters: list[ColumnElement[bool]] = []
    if mark_key:
        filters.append(Weapon.id.in_(_ids_by_mark(mark_key)))
    if make:  # a model, mark or serial index narrows the search further than the make's would
        filters.append(or_(Weapon.manufacturer_code == make.upper(), func.upper(Weapon.make) == make.upper()))
    if model:
        filters.append(func.upper(Weapon.model) == model.upper())
    if status:
        filters.append(WeaponState.status == status)
    if category:
        filters.append(Weapon.category == category)
    if serial_key:
        filters.append(Weapon.serial_key == serial_key)
    if after:
        filters.append(Weapon.id > after)
    stmt = (
        select(Weapon, WeaponState)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .where(*filters)
        .order_by(Weapon.id)
        .limit(limit)
    )
    return [(w, s) for w, s in session.execute(stmt)]


@functools.cache
def _make_search(*, status: bool, category: bool, after: bool) -> Select[tuple[Weapon, WeaponState]]:
    """One page of a search by make: the first `limit` by code and the first by spelling, merged.

    `code = ? OR upper(make) = ?` in one WHERE can only be a walk of the primary key that filters every row
    (it reads most of the table for a rarely written make) or a bitmap of every match (all of a common
    make's weapons) sorted. Each half alone is an ordered scan of its own index, (manufacturer_code, id) or
    (upper(make), id), that stops after `limit` rows; the page of the union is the first `limit` of both
    halves' pages, so it is the same page (docs/performance.md, "Query plans at scale", finding 2). The
    spelling's half leaves out what the code's half finds ("Glock" is GLOCK), as its partial index does.
    Built once per set of filters (bound parameters `make`, `status`, `category`, `after`, `limit`): building
    it took longer than running it.
    """
    make, limit = bindparam("make", type_=String), bindparam("limit", type_=Integer)
    filters: list[ColumnElement[bool]] = []
    if status:
        filters.append(WeaponState.status == bindparam("status"))
    if category:
        filters.append(Weapon.category == bindparam("category"))
    if after:
        filters.append(Weapon.id > bindparam("after"))
    halves = []
    for key, only in ((Weapon.manufacturer_code, true()), (func.upper(Weapon.make), SPELLED_OTHERWISE)):
        # `key BETWEEN make AND make` is `key = make`, so (key, id) order is id order. Written as `=`, PostgreSQL
        # knows the key is constant and may walk the primary key for id order instead: from a prepared
        # statement's generic plan, which cannot tell a rare make from a common one, it does.
        half = (
            select(Weapon.id)
            .join(WeaponState, WeaponState.weapon_id == Weapon.id)
            .where(key >= make, key <= make, only, *filters)
            .order_by(key, Weapon.id)
            .limit(limit)
            .subquery()
        )
        halves.append(select(half.c.id))  # SQLite: no ORDER BY or LIMIT in a UNION's members
    both = union_all(*halves).subquery()  # disjoint: the spelling's half has no weapon of code `make`
    page = select(both.c.id).order_by(both.c.id).limit(limit).subquery("make_page")
    return (
        select(Weapon, WeaponState)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .join(page, page.c.id == Weapon.id)
        .order_by(Weapon.id)
        .limit(limit)
    )


def count_by_status(session: Session) -> dict[str, int]:
    stmt = select(WeaponState.status, func.count()).group_by(WeaponState.status)
    return {row[0]: row[1] for row in session.execute(stmt)}


def count_weapons(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Weapon)).scalar_one()


def pending_marking(session: Session, limit: int = 500) -> list[tuple[Weapon, WeaponState]]:
    stmt = (
        select(Weapon, WeaponState)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .where(WeaponState.pending_marking.is_(True))
        .order_by(WeaponState.last_event_at)
        .limit(limit)
    )
    return [(w, s) for w, s in session.execute(stmt)]


def remark_holder(session: Session, *, country: str | None, serial_key: str) -> uuid.UUID | None:
    """The weapon that already carries a re-mark with this country and serial, if any."""
    stmt = select(Marking.weapon_id).where(
        Marking.kind == "remarking", Marking.country == country, Marking.serial == serial_key
    )
    return session.execute(stmt.limit(1)).scalar_one_or_none()


def recent_events(session: Session, limit: int = 10) -> list[tuple[Event, Weapon]]:
    """The latest events recorded, newest first (ids are UUIDv7, so id order is recording order)."""
    stmt = (
        select(Event, Weapon)
        .join(Weapon, Weapon.id == Event.weapon_id)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return [(e, w) for e, w in session.execute(stmt)]
