"""`verify`: a clean log passes, and every kind of tampering is found and the first bad entry named.

Tampering goes around the registry with direct SQL. The append-only triggers would refuse it, so each test
first removes them inside its own transaction; the removal is rolled back with the test (checked below).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson
import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.orm import Session

from registry.audit import canonical, merkle
from registry.audit import repository as audit_repo
from registry.audit import service as audit
from registry.audit.checker import verify
from registry.audit.models import AuditEntry, TreeHeadRecord
from registry.db import utcnow
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.markings.models import Marking
from registry.rows import complete
from registry.weapons.models import Weapon
from tests.factories import organisation, record, register_weapon, signing_key

ENTRIES = AuditEntry.__table__
HEADS = TreeHeadRecord.__table__


def unlock(conn: Connection, *tables: str) -> None:
    """Remove the append-only triggers of `tables` in the current transaction (DDL is transactional on both
    backends, so a rollback puts them back)."""
    for table in tables:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        else:
            conn.execute(text(f"DROP TRIGGER trg_{table}_no_update"))
            conn.execute(text(f"DROP TRIGGER trg_{table}_no_delete"))


def append_only_triggers(conn: Connection, table: str) -> set[str]:
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                "AND NOT tgisinternal AND tgenabled = 'O'"
            ),
            {"t": table},
        )
    else:
        rows = conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"), {"t": table}
        )
    return set(rows.scalars())


@dataclass
class Log:
    weapon_id: uuid.UUID
    event_id: uuid.UUID
    marking_id: uuid.UUID
    first: int  # first entry written by this test
    last: int


@pytest.fixture
def log(session: Session) -> Log:
    """A few weapons and events on top of whatever the shared database holds; the log is clean."""
    first = audit_repo.next_seq(session)
    reg = register_weapon(session)
    stolen = record(session, reg.weapon.id, EventInput(type="stolen"))
    register_weapon(session, manufactured=True)
    record(session, reg.weapon.id, EventInput(type="found"))
    register_weapon(session, found_unmarked=True)
    audit.record(session, actor="auditor", action="person.viewed", subject="person:42")
    last = audit_repo.next_seq(session) - 1
    assert last - first == 5
    return Log(reg.weapon.id, stolen.event.id, reg.markings[0].id, first, last)


def entry_of(session: Session, table: str, row_id: uuid.UUID) -> int:
    """The seq of the audit entry that recorded a row."""
    for e in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        if any(
            t == table and rid == str(row_id) for t, rid, _d in canonical.parse_body(bytes(e.body))["records"]
        ):
            return e.seq
    raise AssertionError(f"no audit entry records {table} {row_id}")


def rewrite_body(session: Session, seq: int, *, recompute_leaf: bool = False) -> None:
    body = bytes(session.execute(select(ENTRIES.c.body).where(ENTRIES.c.seq == seq)).scalar_one())
    parsed = canonical.parse_body(body)
    parsed["info"] = {**parsed["info"], "tampered": True}
    new = orjson.dumps(parsed, option=orjson.OPT_SORT_KEYS)
    values = {"body": new, "leaf_hash": merkle.leaf_hash(new)} if recompute_leaf else {"body": new}
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == seq).values(**values))


# --- a clean log ----------------------------------------------------------------------------------------


def test_clean_log_verifies(session: Session, log: Log) -> None:
    audit.sign_head(session, signing_key(), actor="auditor")
    report = verify(session)
    assert report.ok, report.problems
    assert report.first is None
    assert report.entries == audit_repo.next_seq(session)
    assert report.tree_heads == 1
    assert report.records >= 3 + 3 + 5  # weapons, markings, events written by the fixture alone


def test_clean_log_with_several_heads_and_keys_verifies(session: Session, log: Log) -> None:
    audit.sign_head(session, signing_key(), actor="auditor")
    register_weapon(session)
    audit.sign_head(session, signing_key(), actor="auditor")
    audit.sign_head(session, signing_key(), actor="auditor")
    report = verify(session)
    assert report.ok, report.problems
    assert report.tree_heads == 3


# --- tampering with the log itself ----------------------------------------------------------------------


def test_altered_body_is_named(session: Session, log: Log) -> None:
    unlock(session.connection(), "audit_entries")
    rewrite_body(session, log.first + 2)
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("altered", log.first + 2)


def test_first_of_two_altered_entries_is_named(session: Session, log: Log) -> None:
    unlock(session.connection(), "audit_entries")
    rewrite_body(session, log.last)
    rewrite_body(session, log.first + 1)
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("altered", log.first + 1)


def test_altered_query_column_is_named(session: Session, log: Log) -> None:
    unlock(session.connection(), "audit_entries")
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == log.first + 3).values(actor="someone-else"))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("altered", log.first + 3)
    assert "actor/action/subject" in problem.message


def test_deleted_entry_is_named(session: Session, log: Log) -> None:
    unlock(session.connection(), "audit_entries")
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq == log.first + 2))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("missing", log.first + 2)


def test_deleted_last_entry_is_found_without_a_head(session: Session, log: Log) -> None:
    # The last entry records no rows (a read of personal data), so only the log's own count can tell.
    unlock(session.connection(), "audit_entries")
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq == log.last))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("truncated", log.last)


def test_deleted_entries_covered_by_a_head_are_found(session: Session, log: Log) -> None:
    audit.sign_head(session, signing_key(), actor="auditor")
    unlock(session.connection(), "audit_entries")
    session.execute(delete(ENTRIES).where(ENTRIES.c.seq >= log.last - 1))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("truncated", log.last - 1)


def test_swapped_entries_are_named(session: Session, log: Log) -> None:
    a, b = log.first + 1, log.first + 4
    unlock(session.connection(), "audit_entries")
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == a).values(seq=-1))
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == b).values(seq=a))
    session.execute(update(ENTRIES).where(ENTRIES.c.seq == -1).values(seq=b))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("reordered", a)


def test_recomputed_leaf_hashes_contradict_the_signed_head(session: Session, log: Log) -> None:
    head = audit.sign_head(session, signing_key(), actor="auditor")
    unlock(session.connection(), "audit_entries")
    rewrite_body(session, log.first + 2, recompute_leaf=True)
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("head_mismatch", 0)
    assert f"#{head.id}" in problem.message


def test_head_mismatch_names_the_range_after_the_last_good_head(session: Session, log: Log) -> None:
    key = signing_key()
    good = audit.sign_head(session, key, actor="auditor")
    register_weapon(session)
    register_weapon(session)
    bad = audit.sign_head(session, key, actor="auditor")
    unlock(session.connection(), "audit_entries")
    rewrite_body(session, bad.tree_size - 1, recompute_leaf=True)
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("head_mismatch", good.tree_size)
    assert f"entries {good.tree_size}..{bad.tree_size - 1}" in problem.message


def test_forged_head_signature_is_found(session: Session, log: Log) -> None:
    head = audit.sign_head(session, signing_key(), actor="auditor")
    unlock(session.connection(), "audit_tree_heads")
    session.execute(update(HEADS).where(HEADS.c.id == head.id).values(signature=b"\x00" * 64))
    session.expire_all()
    problem = verify(session).first
    assert problem is not None
    assert problem.kind == "bad_signature"


# --- tampering with the records the log describes -------------------------------------------------------


def test_direct_update_of_an_event_is_found(session: Session, log: Log) -> None:
    unlock(session.connection(), "events")
    events = Event.__table__
    session.execute(update(events).where(events.c.id == log.event_id).values(location="somewhere else"))
    problem = verify(session).first
    assert problem is not None
    assert problem.kind == "record_altered"
    assert str(log.event_id) in problem.message
    assert problem.seq == entry_of(session, "events", log.event_id)


def test_direct_update_of_a_marking_is_found(session: Session, log: Log) -> None:
    unlock(session.connection(), "markings")
    markings = Marking.__table__
    session.execute(
        update(markings).where(markings.c.id == log.marking_id).values(text="GLOCK AUSTRIA XYZ999")
    )
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("record_altered", entry_of(session, "markings", log.marking_id))


def test_direct_update_of_a_weapon_is_found(session: Session, log: Log) -> None:
    unlock(session.connection(), "weapons")
    weapons = Weapon.__table__
    session.execute(
        update(weapons).where(weapons.c.id == log.weapon_id).values(serial="OTHER1", serial_key="OTHER1")
    )
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("record_altered", entry_of(session, "weapons", log.weapon_id))


def test_direct_delete_of_an_event_is_found(session: Session, log: Log) -> None:
    seq = entry_of(session, "events", log.event_id)
    unlock(session.connection(), "events")
    session.execute(delete(Event.__table__).where(Event.__table__.c.id == log.event_id))
    problem = verify(session).first
    assert problem is not None
    assert (problem.kind, problem.seq) == ("record_deleted", seq)
    assert str(log.event_id) in problem.message


def test_direct_insert_of_an_event_is_found(session: Session, log: Log) -> None:
    row = complete(
        "events",
        {
            "weapon_id": log.weapon_id,
            "seq": 99,
            "type": "destroyed",
            "occurred_at": utcnow(),
            "recorded_by": "x",
        },
    )
    session.execute(insert(Event.__table__), [row])
    problem = verify(session).first
    assert problem is not None
    assert problem.kind == "record_unlogged"
    assert str(row["id"]) in problem.message


def test_direct_insert_of_a_weapon_is_found(session: Session, log: Log) -> None:
    row = complete(
        "weapons",
        {"category": "SA-PIS", "make": "Ghost", "registered_at": utcnow(), "registered_by": "x"},
    )
    session.execute(insert(Weapon.__table__), [row])
    problem = verify(session).first
    assert problem is not None
    assert problem.kind == "record_unlogged"
    assert str(row["id"]) in problem.message


def test_organisation_written_outside_the_registry_is_found(session: Session, log: Log) -> None:
    org = organisation(session)
    problem = verify(session).first
    assert problem is not None
    assert problem.kind == "record_unlogged"
    assert str(org.id) in problem.message


def test_record_check_can_be_skipped(session: Session, log: Log) -> None:
    unlock(session.connection(), "events")
    events = Event.__table__
    session.execute(update(events).where(events.c.id == log.event_id).values(notes="edited"))
    assert verify(session, check_records=False).ok
    assert not verify(session).ok


# --- the tampering above never outlives its test ---------------------------------------------------------


def test_removing_triggers_is_rolled_back_with_the_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        before = append_only_triggers(conn, "events")
        conn.rollback()
    assert len(before) == 2
    with engine.connect() as conn:
        tx = conn.begin()
        unlock(conn, "events", "audit_entries")
        assert append_only_triggers(conn, "events") == set()
        tx.rollback()
    with engine.connect() as conn:
        assert append_only_triggers(conn, "events") == before
        assert len(append_only_triggers(conn, "audit_entries")) == 2
