"""The database itself refuses to change or remove history (migration 0002), on SQLite and PostgreSQL.

A DELETE passes only for a weapon named in `purge_permits`, which the retention purge writes inside its own
transaction after checking that the retention period is over (REQ-19, REQ-23).
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, Table, delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.audit.models import AuditEntry, AuditKey, PurgePermit, TreeHeadRecord
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.markings.models import Marking
from registry.weapons.models import Weapon
from tests.factories import record, register_weapon, signing_key

WEAPONS: Table = Weapon.__table__  # type: ignore[assignment]
MARKINGS: Table = Marking.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
ENTRIES: Table = AuditEntry.__table__  # type: ignore[assignment]


def refused(session: Session, statement: object) -> None:
    """The statement fails with the trigger's message; a savepoint keeps the test transaction usable."""
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(statement)  # type: ignore[call-overload]


@pytest.fixture
def weapon_id(session: Session) -> uuid.UUID:
    reg = register_weapon(session)
    record(session, reg.weapon.id, EventInput(type="stolen"))
    return reg.weapon.id


def count(session: Session, table: Table, column: str, value: object) -> int:
    return session.execute(
        select(func.count()).select_from(table).where(table.c[column] == value)
    ).scalar_one()


@pytest.mark.parametrize(
    ("table", "column", "values"),
    [
        (WEAPONS, "id", {"serial": "CHANGED1"}),
        (MARKINGS, "weapon_id", {"condition": "obliterated"}),
        (EVENTS, "weapon_id", {"type": "destroyed"}),
    ],
    ids=["weapons", "markings", "events"],
)
def test_history_rows_cannot_be_updated(
    session: Session, weapon_id: uuid.UUID, table: Table, column: str, values: dict
) -> None:
    refused(session, update(table).where(table.c[column] == weapon_id).values(**values))


@pytest.mark.parametrize(
    ("table", "column"),
    [(EVENTS, "weapon_id"), (MARKINGS, "weapon_id"), (WEAPONS, "id")],
    ids=["events", "markings", "weapons"],
)
def test_history_rows_cannot_be_deleted(
    session: Session, weapon_id: uuid.UUID, table: Table, column: str
) -> None:
    refused(session, delete(table).where(table.c[column] == weapon_id))
    assert count(session, table, column, weapon_id) > 0


def test_audit_entries_cannot_be_updated_or_deleted(session: Session, weapon_id: uuid.UUID) -> None:
    last = audit.entries_for(session, f"weapon:{weapon_id}")[-1]
    refused(session, update(ENTRIES).where(ENTRIES.c.seq == last).values(actor="nobody"))
    refused(session, delete(ENTRIES).where(ENTRIES.c.seq == last))
    assert count(session, ENTRIES, "seq", last) == 1


def test_tree_heads_and_keys_cannot_be_changed(session: Session, weapon_id: uuid.UUID) -> None:
    head = audit.sign_head(session, signing_key(), actor="auditor")
    heads: Table = TreeHeadRecord.__table__  # type: ignore[assignment]
    keys: Table = AuditKey.__table__  # type: ignore[assignment]
    refused(session, update(heads).where(heads.c.id == head.id).values(tree_size=0))
    refused(session, delete(heads).where(heads.c.id == head.id))
    refused(session, update(keys).where(keys.c.key_id == head.key_id).values(public_key=b"\x00" * 32))
    refused(session, delete(keys).where(keys.c.key_id == head.key_id))


def test_a_permit_lets_the_history_of_that_weapon_be_deleted_and_no_other(
    session: Session, weapon_id: uuid.UUID
) -> None:
    other = register_weapon(session).weapon.id
    session.execute(insert(PurgePermit.__table__), [{"weapon_id": weapon_id}])

    session.execute(delete(EVENTS).where(EVENTS.c.weapon_id == weapon_id))
    assert count(session, EVENTS, "weapon_id", weapon_id) == 0
    refused(session, delete(EVENTS).where(EVENTS.c.weapon_id == other))
    assert count(session, EVENTS, "weapon_id", other) == 1
    # A permit allows removal, never a change.
    refused(session, update(MARKINGS).where(MARKINGS.c.weapon_id == weapon_id).values(text="rewritten"))


def test_without_the_permit_the_delete_is_refused_again(session: Session, weapon_id: uuid.UUID) -> None:
    permits: Table = PurgePermit.__table__  # type: ignore[assignment]
    session.execute(insert(permits), [{"weapon_id": weapon_id}])
    session.execute(delete(permits).where(permits.c.weapon_id == weapon_id))
    refused(session, delete(EVENTS).where(EVENTS.c.weapon_id == weapon_id))


@pytest.mark.postgres
@pytest.mark.parametrize("table", ["events", "markings", "weapons", "audit_entries"])
def test_truncate_is_refused_on_postgresql(postgres_engine: Engine, table: str) -> None:
    with postgres_engine.connect() as conn:
        with pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
        conn.rollback()
