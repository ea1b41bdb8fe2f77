"""Retention (ITI 12, REQ-19/20): records are kept indefinitely by default; only the records of a weapon that
has left the registry's care (destroyed, exported, voided) may be purged, and only after every period that
applies has run out — the strictest rule wins. A purge leaves a tombstone in the audit log naming every row
removed with its digest, followed by a freshly signed tree head.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.audit.models import PurgePermit
from registry.codes import EventType, Status
from registry.db import utcnow
from registry.errors import NotFound, RetentionNotExpired
from registry.history.models import Event
from registry.markings.models import ComponentMove, Marking
from registry.profiles import Profile
from registry.weapons.models import Weapon, WeaponState

PURGEABLE = frozenset({Status.DESTROYED, Status.EXPORTED, Status.VOIDED})


def _add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)


@dataclass(frozen=True)
class Expiry:
    weapon_id: uuid.UUID
    status: str
    expires_at: datetime | None  # None: kept indefinitely
    reason: str


def expiry_of(status: str, events: list[Event], profile: Profile) -> tuple[datetime | None, str]:
    if status not in PURGEABLE:
        return None, f"the weapon is {status}: its record is kept while it is in the country's care"
    candidates: list[tuple[datetime, str]] = []
    for e in events:
        years = (
            profile.retention_manufacture_years
            if e.type == EventType.MANUFACTURED
            else profile.retention_other_years
        )
        kind = "manufacturing" if e.type == EventType.MANUFACTURED else "other"
        candidates.append((_add_years(e.occurred_at, years), f"{kind} records: {years} years after {e.type}"))
        if e.type == EventType.DESTROYED and profile.retention_after_destruction_years:
            n = profile.retention_after_destruction_years
            candidates.append((_add_years(e.occurred_at, n), f"{profile.name}: {n} years after destruction"))
    if not candidates:
        return None, "no history"
    return max(candidates, key=lambda c: c[0])


def expiry(session: Session, weapon_id: uuid.UUID, profile: Profile) -> Expiry:
    state = session.get(WeaponState, weapon_id)
    if state is None:
        raise NotFound(f"no weapon {weapon_id}", field="weapon_id", value=str(weapon_id))
    events = list(
        session.execute(select(Event).where(Event.weapon_id == weapon_id).order_by(Event.seq)).scalars()
    )
    when, reason = expiry_of(state.status, events, profile)
    return Expiry(weapon_id, state.status, when, reason)


def expired(
    session: Session, profile: Profile, *, now: datetime | None = None, limit: int = 10_000, batch: int = 1000
) -> list[Expiry]:
    """Up to `limit` weapons whose records may be purged now, scanning every purgeable weapon in id order."""
    now = now or utcnow()
    out: list[Expiry] = []
    after: uuid.UUID | None = None
    while len(out) < limit:
        stmt = select(WeaponState.weapon_id).where(WeaponState.status.in_([s.value for s in PURGEABLE]))
        if after is not None:
            stmt = stmt.where(WeaponState.weapon_id > after)
        ids = list(session.execute(stmt.order_by(WeaponState.weapon_id).limit(batch)).scalars())
        if not ids:
            break
        for wid in ids:
            e = expiry(session, wid, profile)
            if e.expires_at is not None and e.expires_at <= now:
                out.append(e)
        after = ids[-1]
    return out[:limit]


def purge(
    session: Session,
    *,
    actor: str,
    profile: Profile,
    signing_key: Ed25519PrivateKey,
    weapon_ids: list[uuid.UUID] | None = None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Remove expired records. Naming a weapon whose period has not run out is an error, not a skip."""
    now = now or utcnow()
    if weapon_ids is None:
        targets = [e.weapon_id for e in expired(session, profile, now=now)]
    else:
        targets = []
        for wid in weapon_ids:
            e = expiry(session, wid, profile)
            if e.expires_at is None or e.expires_at > now:
                until = e.expires_at.date().isoformat() if e.expires_at else "indefinitely"
                raise RetentionNotExpired(
                    f"the records of weapon {wid} must be kept until {until}: {e.reason}",
                    field="weapon_id",
                    value=str(wid),
                    kept_until=until,
                )
            targets.append(wid)
    for wid in targets:
        _purge_one(session, wid, actor=actor, now=now)
    if targets:
        audit.sign_head(session, signing_key, actor=actor)
    return targets


def _purge_one(session: Session, wid: uuid.UUID, *, actor: str, now: datetime) -> None:
    tables = (
        ("component_moves", ComponentMove, ComponentMove.weapon_id),
        ("events", Event, Event.weapon_id),
        ("markings", Marking, Marking.weapon_id),
        ("weapons", Weapon, Weapon.id),
    )
    records = []
    for name, model, col in tables:
        for row in session.execute(select(model.__table__).where(col == wid)).mappings():
            records.append(audit.snapshot(name, dict(row)))
    session.execute(insert(PurgePermit), [{"weapon_id": wid}])
    session.execute(delete(WeaponState).where(WeaponState.weapon_id == wid))
    for _name, model, col in tables:
        session.execute(delete(model).where(col == wid).execution_options(synchronize_session=False))
    session.execute(delete(PurgePermit).where(PurgePermit.weapon_id == wid))
    audit.record(
        session,
        actor=actor,
        action="records.purged",
        subject=f"weapon:{wid}",
        records=records,
        info={"purged_at": now.isoformat(), "rows": len(records)},
    )
