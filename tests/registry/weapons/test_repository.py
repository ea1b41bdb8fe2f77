"""Read queries of the weapons repository behind reports and the pending-marking list (REQ-13, REQ-18)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from registry.history.inputs import EventInput
from registry.reference.service import text_key
from registry.weapons import repository as repo
from registry.weapons.models import Weapon, WeaponState
from tests.factories import record, register_weapon, weapon_input


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


def _former_search(
    session: Session, *, make: str, after: uuid.UUID | None = None, limit: int = 50, **f: str
) -> list[uuid.UUID]:
    """The make search as it was before the two-index page (one WHERE with an OR): the oracle for its results."""
    stmt = (
        select(Weapon.id)
        .join(WeaponState, WeaponState.weapon_id == Weapon.id)
        .where(or_(Weapon.manufacturer_code == make.upper(), func.upper(Weapon.make) == make.upper()))
    )
    if "status" in f:
        stmt = stmt.where(WeaponState.status == f["status"])
    if "category" in f:
        stmt = stmt.where(Weapon.category == f["category"])
    if after:
        stmt = stmt.where(Weapon.id > after)
    return list(session.execute(stmt.order_by(Weapon.id).limit(limit)).scalars())


def _pages(session: Session, make: str, limit: int, **f: str) -> list[list[uuid.UUID]]:
    """Every page of a make search, each checked against the former query, followed by its keyset cursor."""
    pages, after = [], None
    while True:
        page = [w.id for w, _s in repo.search(session, make=make, after=after, limit=limit, **f)]
        assert page == _former_search(session, make=make, after=after, limit=limit, **f)
        pages.append(page)
        if len(page) < limit:
            return pages
        after = page[-1]


def test_search_by_make_matches_code_or_spelling_page_by_page(session: Session) -> None:
    # Interleaved registrations, so each page mixes weapons found by the code and by the spelling.
    spelled = ["Glock", "Glock Ges.m.b.H.", "HK", "Heckler & Koch GmbH", "glock", "Zbrojovka Testova"] * 3
    mine: dict[uuid.UUID, tuple[str, str, str, str]] = {}
    for i, make in enumerate(spelled):
        category = "SA-PIS" if i % 4 else "SA-ASR"
        reg = register_weapon(session, weapon=weapon_input(make=make, category=category))
        if i % 3 == 0:
            record(session, reg.weapon.id, EventInput(type="stolen"))
        status = "stolen" if i % 3 == 0 else "active"
        mine[reg.weapon.id] = (reg.weapon.manufacturer_code or "", make.upper(), status, category)
    assert {code for code, *_ in mine.values()} == {"GLOCK", "HK", ""}

    def expected(make: str, **f: str) -> list[uuid.UUID]:
        return sorted(
            wid
            for wid, (code, written, status, category) in mine.items()
            if make.upper() in (code, written)
            and f.get("status", status) == status
            and f.get("category", category) == category
        )

    filters: list[dict[str, str]] = [{}, {"status": "stolen"}, {"status": "active", "category": "SA-PIS"}]
    for make in ("glock", "Glock Ges.m.b.H.", "Heckler & Koch GmbH", "hk", "zbrojovka testova", "Nobody"):
        for f in filters:
            want = expected(make, **f)
            for limit in (1, 2, 50):
                found = [wid for page in _pages(session, make, limit, **f) for wid in page]
                assert [wid for wid in found if wid in mine] == want, (make, f, limit)
    # The common spelling finds every Glock by its code; the rare one only the weapons written that way.
    assert len(expected("glock")) == 9
    assert len(expected("Glock Ges.m.b.H.")) == 3
    assert len(expected("Heckler & Koch GmbH")) == 3
