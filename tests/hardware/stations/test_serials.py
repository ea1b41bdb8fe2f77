"""Reserving the next serial: in order, recorded and audited, never issued twice — also when two stations
ask at the same moment on PostgreSQL (row lock on the counter, unique serial as the referee)."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hardware.stations import serials
from registry import migrate
from registry.audit.models import AuditEntry
from registry.db import make_engine
from registry.errors import Conflict, ValidationError
from registry.profiles import US
from registry.stations.models import SerialCounter, SerialReservation


def _scope() -> str:
    return serials.scope_for(country="KE", year=2026, prefix=f"S{uuid.uuid4().hex[:5].upper()}")


def test_serials_follow_each_other_and_are_audited(session: Session) -> None:
    scope = _scope()
    got = [
        serials.reserve(session, scope=scope, actor="op", station="KE-NBI-01", profile=US) for _ in range(3)
    ]
    assert [g.serial for g in got] == [f"{scope}-0000{n}" for n in (1, 2, 3)]
    assert US.serial_pattern is not None
    assert all(US.serial_pattern.match(g.serial) for g in got)
    subjects = session.scalars(select(AuditEntry.subject).where(AuditEntry.action == "serial.reserved")).all()
    assert {f"serial:{g.serial}" for g in got} <= set(subjects)


def test_a_counter_set_back_by_hand_cannot_reissue_a_serial(session: Session) -> None:
    scope = _scope()
    first = serials.reserve(session, scope=scope, actor="op")
    counter = session.scalars(select(SerialCounter).where(SerialCounter.scope == scope)).one()
    counter.next_seq = 1  # someone "repairs" the counter in SQL
    session.flush()
    with pytest.raises(Conflict, match="already issued"):
        serials.reserve(session, scope=scope, actor="op")
    assert session.scalars(
        select(SerialReservation.serial).where(SerialReservation.scope == scope)
    ).all() == [first.serial]


def test_bad_scopes_and_purposes_are_refused(session: Session) -> None:
    with pytest.raises(ValidationError) as exc:
        serials.scope_for(country="KE", prefix="no spaces!")
    assert exc.value.field == "prefix"
    with pytest.raises(ValidationError) as exc:
        serials.reserve(session, scope=_scope(), actor="op", purpose="whim")
    assert exc.value.field == "purpose"


@pytest.mark.postgres
def test_two_stations_at_once_never_get_the_same_serial(postgres_url: str) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    scope = _scope()
    got: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def station(name: str) -> None:
        try:
            start.wait()
            for _ in range(15):
                with Session(engine) as s, s.begin():
                    got.append(serials.reserve(s, scope=scope, actor=name, station=name).serial)
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=station, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    engine.dispose()
    assert not errors, errors
    assert sorted(got) == [f"{scope}-{n:05d}" for n in range(1, 31)]
