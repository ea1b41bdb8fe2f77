"""Serialised components move between weapons; the history shows every move (issue: modular weapons)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from registry.audit import checker
from registry.errors import Conflict, ValidationError
from registry.history.inputs import EventInput
from registry.markings import components
from registry.reference.service import load_catalogue
from tests.factories import record, register_weapon


def _barrel(session: Session, serial: str = "BRL-0042"):
    return components.register_component(
        session, actor="officer", catalogue=load_catalogue(session), kind="barrel", serial=serial
    )


def test_a_barrel_moves_from_one_weapon_to_another_and_its_history_shows_both(session: Session) -> None:
    a, b = register_weapon(session).weapon.id, register_weapon(session).weapon.id
    barrel = _barrel(session)
    record(session, a, EventInput(type="component_replaced", data={"installed_component_id": str(barrel.id)}))
    assert components.current_weapon(session, barrel.id) == a
    record(session, a, EventInput(type="component_replaced", data={"removed_component_id": str(barrel.id)}))
    record(session, b, EventInput(type="component_replaced", data={"installed_component_id": str(barrel.id)}))
    moves = components.history(session, barrel.id)
    assert [(m.weapon_id, m.action) for m in moves] == [(a, "installed"), (a, "removed"), (b, "installed")]
    assert components.current_weapon(session, barrel.id) == b
    assert checker.verify(session).ok


def test_a_component_still_in_a_weapon_cannot_be_installed_in_another(session: Session) -> None:
    a, b = register_weapon(session).weapon.id, register_weapon(session).weapon.id
    barrel = _barrel(session)
    record(session, a, EventInput(type="component_replaced", data={"installed_component_id": str(barrel.id)}))
    with pytest.raises(Conflict, match=str(a)) as exc:
        record(
            session, b, EventInput(type="component_replaced", data={"installed_component_id": str(barrel.id)})
        )
    assert exc.value.field == "data.installed_component_id"


def test_removing_a_component_that_is_not_there_is_refused(session: Session) -> None:
    a = register_weapon(session).weapon.id
    barrel = _barrel(session)
    with pytest.raises(Conflict, match="not in this weapon"):
        record(
            session, a, EventInput(type="component_replaced", data={"removed_component_id": str(barrel.id)})
        )


def test_a_replacement_names_a_component(session: Session) -> None:
    a = register_weapon(session).weapon.id
    with pytest.raises(ValidationError) as exc:
        record(session, a, EventInput(type="component_replaced"))
    assert exc.value.field == "data.installed_component_id"


def test_component_moves_are_append_only(session: Session) -> None:
    a = register_weapon(session).weapon.id
    barrel = _barrel(session)
    record(session, a, EventInput(type="component_replaced", data={"installed_component_id": str(barrel.id)}))
    with pytest.raises(Exception, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE component_moves SET action = 'removed'"))
