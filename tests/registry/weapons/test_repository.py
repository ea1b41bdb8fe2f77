"""Read queries of the weapons repository behind reports and the pending-marking list (REQ-13, REQ-18)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.history.inputs import EventInput
from registry.reference.service import text_key
from registry.weapons import repository as repo
from tests.factories import record, register_weapon


def test_count_by_status_counts_the_derived_states(session: Session) -> None:
    before = repo.count_by_status(session)
    stolen = register_weapon(session)
    record(session, stolen.weapon.id, EventInput(type="stolen"))
    register_weapon(session)
    register_weapon(session, found_unmarked=True)
    after = repo.count_by_status(session)
    assert after.get("stolen", 0) - before.get("stolen", 0) == 1
    assert after.get("active", 0) - before.get("active", 0) == 1
    assert after.get("recovered", 0) - before.get("recovered", 0) == 1
    assert repo.count_weapons(session) == sum(after.values())


def test_pending_marking_lists_only_weapons_awaiting_a_unique_mark(session: Session) -> None:
    found = register_weapon(session, found_unmarked=True)
    register_weapon(session)
    pending = {w.id for w, state in repo.pending_marking(session) if state.pending_marking}
    assert found.weapon.id in pending
    assert {w.id for w, _s in repo.pending_marking(session)} == pending


def test_search_filters_by_status_and_serial(session: Session) -> None:
    reg = register_weapon(session, serial="SRCH-4471")
    record(session, reg.weapon.id, EventInput(type="lost"))
    hits = repo.search(session, status="lost", serial_key=text_key("srch 4471"))
    assert [(w.id, s.status) for w, s in hits] == [(reg.weapon.id, "lost")]
    assert repo.search(session, status="active", serial_key=text_key("SRCH4471")) == []
    assert [w.id for w, _s in repo.search(session, make="glock", model="17", serial_key="SRCH4471")] == [
        reg.weapon.id
    ]
