"""Reserving the next serial for new manufacture or import marking, when a weapon has none yet.

A serial scope is `<country><year>` (e.g. `KE2026`), optionally with a station prefix, and a serial is the
scope, a hyphen and a zero-padded number (`KE2026-00042`): Roman letters, digits and a hyphen, which every
profile accepts. The scope's counter row is locked while a number is taken, and every serial handed out is
kept in `serial_reservations` under a unique constraint, so two stations can never be given the same one —
even if someone resets a counter by hand, the insert fails rather than issue a serial twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hardware.stations import repository as repo
from registry.audit import service as audit
from registry.db import utcnow
from registry.errors import Conflict, ValidationError
from registry.profiles import Profile
from registry.reference.countries import normalise_country
from registry.stations.models import SerialCounter, SerialReservation

PURPOSES = ("manufacture", "import", "remarking")
_PREFIX = re.compile(r"^[A-Z0-9]{0,12}$")
WIDTH = 5


@dataclass(frozen=True)
class Reserved:
    serial: str
    scope: str
    seq: int
    reservation: SerialReservation


def scope_for(*, country: str, year: int | None = None, prefix: str = "") -> str:
    """`<prefix><country><year>`: the country of marking (ISO 3166 alpha-2) and the year of marking."""
    cc = normalise_country(country, field="country")
    prefix = prefix.strip().upper()
    if not _PREFIX.match(prefix):
        raise ValidationError(
            "a serial prefix is up to 12 Roman letters or digits", field="prefix", value=prefix
        )
    return f"{prefix}{cc}{year or date.today().year}"


def reserve(
    session: Session,
    *,
    scope: str,
    actor: str,
    purpose: str = "manufacture",
    station: str | None = None,
    profile: Profile | None = None,
) -> Reserved:
    """Take the next number of `scope` and record the serial as issued (audited, in the caller's
    transaction: a rolled-back transaction gives the number back, a committed one never reissues it)."""
    if purpose not in PURPOSES:
        raise ValidationError(
            f"purpose must be one of: {', '.join(PURPOSES)}", field="purpose", value=purpose
        )
    counter = _locked_counter(session, scope)
    seq = counter.next_seq
    serial = f"{scope}-{seq:0{WIDTH}d}"
    if (
        profile is not None
        and profile.serial_pattern is not None
        and not profile.serial_pattern.match(serial)
    ):
        raise ValidationError(
            f"serial {serial} breaks the {profile.name} profile ({profile.serial_pattern_text})",
            field="scope",
            value=scope,
        )
    res = SerialReservation(
        scope=scope, seq=seq, serial=serial, purpose=purpose, station=station or None, reserved_by=actor
    )
    counter.next_seq = seq + 1
    counter.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.add(res)
            session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"serial {serial} was already issued; the counter of {scope} is behind its reservations",
            field="scope",
            value=scope,
        ) from exc
    audit.record(
        session,
        actor=actor,
        action="serial.reserved",
        subject=audit.new_subject("serial", serial),
        records=[audit.snapshot_obj(res), audit.snapshot_obj(counter)],
        info={"purpose": purpose, "station": station},
    )
    return Reserved(serial=serial, scope=scope, seq=seq, reservation=res)


def _locked_counter(session: Session, scope: str) -> SerialCounter:
    if not scope or len(scope) > 40:
        raise ValidationError("a serial scope has 1 to 40 characters", field="scope", value=scope)
    counter = repo.lock_counter(session, scope)
    if counter is not None:
        return counter
    # First serial of the scope: two stations may create the counter at once; the unique scope decides,
    # and the loser locks the winner's row.
    try:
        with session.begin_nested():
            session.add(SerialCounter(scope=scope, next_seq=1))
            session.flush()
    except IntegrityError:
        pass
    counter = repo.lock_counter(session, scope)
    if counter is None:  # pragma: no cover - created or found just above
        raise Conflict(f"the serial counter {scope} vanished", field="scope", value=scope)
    return counter
