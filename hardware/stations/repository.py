"""The stations' SQL: the stock the registry places at a site, and the stations' own records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from registry.codes import Status
from registry.db import Base
from registry.stations.models import (
    SerialCounter,
    StationCheckout,
    StationSyncEvent,
    Stocktake,
)
from registry.weapons.models import Weapon, WeaponState

# Statuses of a weapon that is physically in a store (a pending transfer has not left until accepted).
IN_STORE = (Status.ACTIVE, Status.RECOVERED, Status.DEACTIVATED, Status.TRANSFER_PENDING)


def held_at(session: Session, location: str) -> list[tuple[Weapon, WeaponState]]:
    stmt = (
        select(Weapon, WeaponState)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .where(func.lower(WeaponState.location) == location.strip().lower())
        .where(WeaponState.status.in_([s.value for s in IN_STORE]))
        .order_by(Weapon.serial, Weapon.id)
    )
    return [(w, s) for w, s in session.execute(stmt)]


# --- stocktakes -------------------------------------------------------------------------------------------


def get_stocktake(session: Session, stocktake_id: uuid.UUID) -> Stocktake | None:
    return session.get(Stocktake, stocktake_id)


def list_stocktakes(session: Session, *, location: str | None = None, limit: int = 50) -> list[Stocktake]:
    stmt = select(Stocktake).order_by(Stocktake.counted_at.desc(), Stocktake.id.desc()).limit(limit)
    if location:
        stmt = stmt.where(func.lower(Stocktake.location) == location.strip().lower())
    return list(session.scalars(stmt))


# --- serial counters --------------------------------------------------------------------------------------


def lock_counter(session: Session, scope: str) -> SerialCounter | None:
    stmt = select(SerialCounter).where(SerialCounter.scope == scope).with_for_update()
    return session.scalars(stmt).one_or_none()


# --- offline stations -------------------------------------------------------------------------------------


def rows_of(session: Session, table: str, column: str, values: Iterable[object]) -> list[dict[str, Any]]:
    """Whole rows of `table` whose `column` is in `values`, as {column name: value}."""
    wanted = list(dict.fromkeys(v for v in values if v is not None))
    if not wanted:
        return []
    t = table_of(table)
    out: list[dict[str, Any]] = []
    for start in range(0, len(wanted), 500):  # stay under SQLite's bound-parameter limit
        chunk = wanted[start : start + 500]
        out += [dict(r._mapping) for r in session.execute(select(t).where(t.c[column].in_(chunk)))]
    return out


def existing_keys(session: Session, table: str, column: str, values: Iterable[object]) -> set[object]:
    return {r[column] for r in rows_of(session, table, column, values)}


def insert_rows(session: Session, table: str, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(table_of(table)), list(rows))


def table_of(name: str) -> Table:
    return Base.metadata.tables[name]


def get_checkout(session: Session, checkout_id: uuid.UUID) -> StationCheckout | None:
    return session.get(StationCheckout, checkout_id)


def only_checkout(session: Session) -> list[StationCheckout]:
    return list(session.scalars(select(StationCheckout).order_by(StationCheckout.created_at)))


def sync_event(session: Session, offline_event_id: uuid.UUID) -> StationSyncEvent | None:
    stmt = select(StationSyncEvent).where(StationSyncEvent.offline_event_id == offline_event_id)
    return session.scalars(stmt).one_or_none()


def sync_event_by_id(session: Session, sync_id: uuid.UUID) -> StationSyncEvent | None:
    return session.get(StationSyncEvent, sync_id)


def lock_sync_event(session: Session, sync_id: uuid.UUID) -> StationSyncEvent | None:
    stmt = select(StationSyncEvent).where(StationSyncEvent.id == sync_id).with_for_update()
    return session.scalars(stmt).one_or_none()


def sync_events(
    session: Session, *, status: str | None = None, checkout_id: uuid.UUID | None = None
) -> list[StationSyncEvent]:
    stmt = select(StationSyncEvent).order_by(StationSyncEvent.received_at, StationSyncEvent.id)
    if status:
        stmt = stmt.where(StationSyncEvent.status == status)
    if checkout_id:
        stmt = stmt.where(StationSyncEvent.checkout_id == checkout_id)
    return list(session.scalars(stmt))


def applied_count(session: Session, *, checkout_id: uuid.UUID, weapon_id: uuid.UUID) -> int:
    stmt = (
        select(func.count())
        .select_from(StationSyncEvent)
        .where(StationSyncEvent.checkout_id == checkout_id)
        .where(StationSyncEvent.weapon_id == weapon_id)
        .where(StationSyncEvent.status == "applied")
    )
    return session.execute(stmt).scalar_one()


def synced_offline_ids(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(StationSyncEvent.offline_event_id)))
