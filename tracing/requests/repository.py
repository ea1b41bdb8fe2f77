"""All SQL of the trace workflow."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.history.lifecycle import RECOVERY_EVENTS
from registry.history.models import Event
from registry.organisations.models import Organisation
from registry.weapons.models import Weapon, WeaponState
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition

T = TraceRequest


def add(session: Session, row: Any) -> None:
    session.add(row)
    session.flush()


def get(session: Session, request_id: uuid.UUID) -> TraceRequest | None:
    return session.get(TraceRequest, request_id)


def lock(session: Session, request_id: uuid.UUID) -> TraceRequest | None:
    """Lock the request: two officers acting on one request queue here (and see each other's state)."""
    stmt = select(TraceRequest).where(TraceRequest.id == request_id).with_for_update()
    return session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def next_seq(session: Session, request_id: uuid.UUID) -> int:
    stmt = select(func.coalesce(func.max(TraceTransition.seq), 0)).where(
        TraceTransition.request_id == request_id
    )
    return int(session.execute(stmt).scalar_one()) + 1


def transitions_of(session: Session, request_id: uuid.UUID) -> list[TraceTransition]:
    stmt = (
        select(TraceTransition).where(TraceTransition.request_id == request_id).order_by(TraceTransition.seq)
    )
    return list(session.execute(stmt).scalars())


def attachments_of(session: Session, request_id: uuid.UUID) -> list[TraceAttachment]:
    stmt = (
        select(TraceAttachment).where(TraceAttachment.request_id == request_id).order_by(TraceAttachment.id)
    )
    return list(session.execute(stmt).scalars())


def search(
    session: Session,
    *,
    direction: str | None = None,
    state: str | None = None,
    country: str | None = None,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[TraceRequest]:
    stmt = select(TraceRequest)
    if direction:
        stmt = stmt.where(T.direction == direction)
    if state:
        stmt = stmt.where(T.state == state)
    if country:
        stmt = stmt.where((T.requested_country == country) | (T.requesting_country == country))
    if after:
        stmt = stmt.where(T.id < after)
    return list(session.execute(stmt.order_by(T.id.desc()).limit(limit)).scalars())


def open_requests(session: Session, states: Iterable[str]) -> list[TraceRequest]:
    stmt = select(TraceRequest).where(T.state.in_(list(states))).order_by(T.id)
    return list(session.execute(stmt).scalars())


def all_requests(session: Session) -> list[TraceRequest]:
    return list(session.execute(select(TraceRequest).order_by(T.id)).scalars())


def all_transitions(session: Session) -> list[TraceTransition]:
    return list(
        session.execute(
            select(TraceTransition).order_by(TraceTransition.request_id, TraceTransition.seq)
        ).scalars()
    )


def chain_of(session: Session, request_id: uuid.UUID) -> list[TraceRequest]:
    """The request and every earlier one it follows up, newest first."""
    out: list[TraceRequest] = []
    current = get(session, request_id)
    while current is not None and len(out) < 50:
        out.append(current)
        current = get(session, current.follow_up_of) if current.follow_up_of else None
    return out


def states_of(session: Session, weapon_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WeaponState]:
    if not weapon_ids:
        return {}
    stmt = select(WeaponState).where(WeaponState.weapon_id.in_(list(weapon_ids)))
    return {s.weapon_id: s for s in session.execute(stmt).scalars()}


def weapon(session: Session, weapon_id: uuid.UUID) -> Weapon | None:
    return session.get(Weapon, weapon_id)


def events_of(session: Session, weapon_id: uuid.UUID) -> list[Event]:
    return list(
        session.execute(select(Event).where(Event.weapon_id == weapon_id).order_by(Event.seq)).scalars()
    )


def organisations(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, Organisation]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    stmt = select(Organisation).where(Organisation.id.in_(wanted))
    return {o.id: o for o in session.execute(stmt).scalars()}


def recoveries(
    session: Session, *, since: datetime | None = None, until: datetime | None = None
) -> list[Any]:
    """Found, seized and surrendered events (SDG 16.4.2), by the time of recovery, as plain rows: the weapon, the
    type and data of the event, and the `details` of the weapon's current state (None without a state). One
    statement and no ORM objects: a year holds tens of thousands (docs/performance.md, query plans at scale)."""
    stmt = (
        select(Event.weapon_id, Event.type, Event.data, WeaponState.details)
        .outerjoin(WeaponState, WeaponState.weapon_id == Event.weapon_id)
        .where(Event.type.in_([str(e) for e in RECOVERY_EVENTS]))
    )
    if since:
        stmt = stmt.where(Event.occurred_at >= since)
    if until:
        stmt = stmt.where(Event.occurred_at < until)
    return list(session.execute(stmt.order_by(Event.occurred_at)))


def outgoing_traces_of_weapons(session: Session) -> list[Any]:
    """Every outgoing request about a registered weapon (id, weapon, completeness), and whether it was closed
    with the origin established: the few thousand requests instead of an IN list of every recovered weapon."""
    reqs = session.execute(
        select(T.id, T.weapon_id, T.completeness).where(T.direction == "outgoing", T.weapon_id.is_not(None))
    ).all()
    closes = session.execute(
        select(TraceTransition.request_id, TraceTransition.details)
        .join(TraceRequest, TraceRequest.id == TraceTransition.request_id)
        .where(TraceTransition.action == "close", T.direction == "outgoing", T.weapon_id.is_not(None))
    ).all()
    established = {r for r, details in closes if (details or {}).get("origin_established") is True}
    return [(rid, wid, completeness, rid in established) for rid, wid, completeness in reqs]
