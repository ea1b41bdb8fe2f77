"""Retention (REQ-19, REQ-20): records are kept indefinitely while a weapon is in the country's care; a weapon
that left it is purged only after every period that applies, the strictest rule winning, and the purge leaves
a signed tombstone that keeps the audit log verifiable.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit import canonical
from registry.audit import repository as audit_repo
from registry.audit.checker import verify
from registry.audit.models import AuditEntry, TreeHeadRecord
from registry.errors import RetentionNotExpired
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.markings.models import Marking
from registry.profiles import EU, ITI, Profile
from registry.retention import service as retention
from registry.weapons.models import Weapon, WeaponState
from tests.factories import (
    ACTOR,
    manufacture_marking,
    record,
    register_weapon,
    signing_key,
    unique_serial,
    weapon_input,
)

THIS_YEAR = datetime.now(UTC).year


def years_ago(n: int) -> datetime:
    """1 June, n years ago: far enough from today and from 29 February for exact expiry dates."""
    return datetime(THIS_YEAR - n, 6, 1, 12, 0, tzinfo=UTC)


def weapon(session: Session, *, made: int, destroyed: int | None = None) -> uuid.UUID:
    """A weapon manufactured `made` years ago, destroyed `destroyed` years ago (or still active)."""
    serial = unique_serial()
    reg = register_weapon(
        session,
        serial=serial,
        weapon=weapon_input(year_of_manufacture=THIS_YEAR - made),
        markings=[manufacture_marking(serial, year=THIS_YEAR - made)],
        event=EventInput(type="manufactured", occurred_at=years_ago(made)),
    )
    if destroyed is not None:
        record(session, reg.weapon.id, EventInput(type="destroyed", occurred_at=years_ago(destroyed)))
    return reg.weapon.id


def purge(
    session: Session, ids: list[uuid.UUID] | None, profile: Profile = ITI, **kwargs: object
) -> list[uuid.UUID]:
    return retention.purge(
        session, actor=ACTOR, profile=profile, signing_key=signing_key(), weapon_ids=ids, **kwargs
    )


def rows_of(session: Session, wid: uuid.UUID) -> dict[str, int]:
    def n(col: Any) -> int:
        return session.execute(select(func.count()).where(col == wid)).scalar_one()

    return {
        "weapons": n(Weapon.id),
        "weapon_states": n(WeaponState.weapon_id),
        "markings": n(Marking.weapon_id),
        "events": n(Event.weapon_id),
    }


def logged_records(session: Session, wid: uuid.UUID, action: str | None = None) -> set[tuple[str, str, str]]:
    stmt = select(AuditEntry.body).where(AuditEntry.subject == f"weapon:{wid}")
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    out: set[tuple[str, str, str]] = set()
    for body in session.execute(stmt).scalars():
        parsed = canonical.parse_body(bytes(body))
        if parsed["action"] != "records.purged" or action:
            out.update(tuple(r) for r in parsed["records"])
    return out


def heads(session: Session) -> list[TreeHeadRecord]:
    return list(session.execute(select(TreeHeadRecord).order_by(TreeHeadRecord.id)).scalars())


def test_expired_destroyed_weapon_is_purged_with_a_signed_tombstone(session: Session) -> None:
    wid = weapon(session, made=45, destroyed=35)
    written = logged_records(session, wid)
    assert {t for t, _, _ in written} == {"weapons", "markings", "events"}
    heads_before = heads(session)

    assert purge(session, [wid]) == [wid]

    assert rows_of(session, wid) == {"weapons": 0, "weapon_states": 0, "markings": 0, "events": 0}
    # The tombstone names every removed row with the digest it was logged with.
    assert logged_records(session, wid, action="records.purged") == written
    after = heads(session)
    assert len(after) == len(heads_before) + 1
    assert after[-1].tree_size == audit_repo.next_seq(session)
    report = verify(session)
    assert report.ok, report.first


def test_purge_of_everything_expired_takes_only_expired_weapons(session: Session) -> None:
    expired = weapon(session, made=45, destroyed=35)
    active = weapon(session, made=60)
    too_recent = weapon(session, made=25, destroyed=22)

    assert [e.weapon_id for e in retention.expired(session, ITI)] == [expired]
    assert purge(session, None) == [expired]

    assert rows_of(session, expired)["weapons"] == 0
    assert rows_of(session, active)["events"] == 1
    assert rows_of(session, too_recent)["events"] == 2
    assert verify(session).ok


def test_an_active_weapon_is_kept_indefinitely(session: Session) -> None:
    wid = weapon(session, made=80)
    far_future = datetime(THIS_YEAR + 500, 1, 1, tzinfo=UTC)

    assert retention.expiry(session, wid, ITI).expires_at is None
    assert retention.expired(session, ITI, now=far_future) == []
    with pytest.raises(RetentionNotExpired, match="indefinitely"):
        purge(session, [wid], now=far_future)
    assert purge(session, None, now=far_future) == []
    assert rows_of(session, wid)["weapons"] == 1


def test_manufacturing_records_are_kept_30_years(session: Session) -> None:
    """Destroyed 22 years ago (past the 20 years for other records) but made only 25 years ago."""
    wid = weapon(session, made=25, destroyed=22)
    entries_before = audit_repo.next_seq(session)
    kept_until = f"{THIS_YEAR + 5}-06-01"

    with pytest.raises(RetentionNotExpired, match=kept_until) as refused:
        purge(session, [wid])

    assert refused.value.details["kept_until"] == kept_until
    assert "manufacturing records: 30 years" in refused.value.message
    assert rows_of(session, wid)["events"] == 2
    assert audit_repo.next_seq(session) == entries_before  # no tombstone, no head


def test_eu_keeps_records_30_years_after_destruction_where_iti_allows_purge(session: Session) -> None:
    """Made 45 years ago, destroyed 25 years ago: ITI periods (30 after manufacture, 20 after destruction)
    have run out; the EU's 30 years after destruction have not."""
    wid = weapon(session, made=45, destroyed=25)

    assert retention.expiry(session, wid, ITI).expires_at == years_ago(5)
    assert retention.expiry(session, wid, EU).expires_at == years_ago(-5)
    with pytest.raises(RetentionNotExpired, match=f"{THIS_YEAR + 5}-06-01") as refused:
        purge(session, [wid], profile=EU)
    assert "30 years after destruction" in refused.value.message
    assert rows_of(session, wid)["weapons"] == 1

    assert purge(session, [wid], profile=ITI) == [wid]
    assert rows_of(session, wid)["weapons"] == 0
    assert verify(session).ok
