"""Persons: personal data sealed at rest, found by identity number, every read audited (REQ-23)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from sqlalchemy import LargeBinary, Uuid, bindparam, select, text
from sqlalchemy.orm import Session

from registry.audit import checker
from registry.audit.models import AuditEntry
from registry.errors import Conflict, NotFound, ValidationError
from registry.persons import crypto
from registry.persons import service as persons
from registry.persons.crypto import DataKeys, PersonalDataError
from registry.persons.models import Person

ACTOR = "officer-persons"
NAME = "Amina Wanjiru Otieno"
NUMBER = "AB 123-456"
ADDRESS = "Plot 12, Moi Avenue, Nairobi"
# Every spelling of the personal data that must never reach a column in clear or the audit log.
SECRETS = [NAME, "Wanjiru", NUMBER, "AB123456", "123-456", "123456", ADDRESS, "Moi Avenue", "1985-07-14"]

# registry/audit/checker.py stops at the first problem inside a `yield_per` loop without closing the result, so
# on PostgreSQL psycopg reports the abandoned server-side cursor when it is garbage-collected. Only that one
# warning is let through, only in the test that makes the checker stop early; remove once the checker closes
# its results.
checker_stops_early = pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*ServerCursorMixin:pytest.PytestUnraisableExceptionWarning"
)


@pytest.fixture
def keys() -> DataKeys:
    return DataKeys(crypto.generate_data_key())


def register(session: Session, keys: DataKeys, **overrides: Any) -> Person:
    values: dict[str, Any] = {
        "name": NAME,
        "identity_number": NUMBER,
        "identity_country": "KE",
        "birth_date": date(1985, 7, 14),
        "address": ADDRESS,
        "nationality": "KEN",
    }
    values.update(overrides)
    return persons.register_person(session, actor=ACTOR, keys=keys, **values)


def stored(session: Session, person_id: uuid.UUID) -> tuple[bytes, bytes, str]:
    """The row as the database holds it, bypassing the ORM's identity map."""
    row = session.execute(
        text("SELECT sealed, identity_hmac, key_id FROM persons WHERE id = :id").bindparams(
            bindparam("id", type_=Uuid())
        ),
        {"id": person_id},
    ).one()
    return bytes(row[0]), bytes(row[1]), row[2]


def set_sealed(session: Session, person_id: uuid.UUID, blob: bytes) -> None:
    session.execute(
        text("UPDATE persons SET sealed = :blob WHERE id = :id").bindparams(
            bindparam("id", type_=Uuid()), bindparam("blob", type_=LargeBinary())
        ),
        {"id": person_id, "blob": blob},
    )
    session.expire_all()


def audit_since(session: Session, seq: int) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)
    return list(session.execute(stmt).scalars())


def last_seq(session: Session) -> int:
    return session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()


def assert_no_personal_data(data: bytes) -> None:
    for secret in SECRETS:
        assert secret.encode() not in data
        assert secret.lower().encode() not in data


# --- registering ----------------------------------------------------------------------------------------


def test_registered_person_is_stored_sealed_and_audited_without_personal_data(
    session: Session, keys: DataKeys
) -> None:
    before = last_seq(session)
    person = register(session, keys)

    sealed, digest, key_id = stored(session, person.id)
    assert_no_personal_data(sealed)
    assert_no_personal_data(digest)
    assert key_id == keys.current.key_id
    assert digest == crypto.identity_hmac(keys.current, identity_number="ab123456", identity_country="KE")
    [entry] = audit_since(session, before)
    assert (entry.action, entry.actor, entry.subject) == ("person.registered", ACTOR, f"person:{person.id}")
    assert_no_personal_data(entry.body)
    assert checker.verify(session).ok


def test_register_checks_its_input(session: Session, keys: DataKeys) -> None:
    cases = {
        "name": {"name": "  "},
        "identity_number": {"identity_number": " -/ "},
        "identity_country": {"identity_country": "Kenya"},
        "nationality": {"nationality": "XX"},
        "birth_date": {"birth_date": date(2999, 1, 1)},
        "extra": {"extra": {"photo": object()}},
    }
    for field, overrides in cases.items():
        with pytest.raises(ValidationError) as exc:
            register(session, keys, **overrides)
        assert exc.value.field == field


def test_the_same_identity_number_cannot_be_registered_twice(session: Session, keys: DataKeys) -> None:
    register(session, keys)
    with pytest.raises(Conflict) as exc:
        register(session, keys, name="Someone Else", identity_number="ab123456")
    assert exc.value.field == "identity_number"
    assert_no_personal_data(str(exc.value).encode())
    register(session, keys, identity_country="UG")  # another state's number


# --- finding --------------------------------------------------------------------------------------------


def test_lookup_ignores_formatting_and_is_audited_with_purpose(session: Session, keys: DataKeys) -> None:
    person = register(session, keys)
    before = last_seq(session)

    found = persons.find_by_identity(
        session,
        actor="officer-2",
        keys=keys,
        identity_number="ab123456",
        identity_country="KEN",
        purpose="P-17",
    )
    missed = persons.find_by_identity(
        session,
        actor="officer-2",
        keys=keys,
        identity_number="AB123456",
        identity_country="UG",
        purpose="P-17",
    )

    assert [p.id for p in found] == [person.id]
    assert missed == []
    hit, miss = audit_since(session, before)
    assert (hit.action, hit.actor) == ("person.searched", "officer-2")
    assert b'"purpose":"P-17"' in hit.body
    assert str(person.id).encode() in hit.body
    assert str(person.id).encode() not in miss.body
    for entry in (hit, miss):
        assert_no_personal_data(entry.body)


# --- reading (REQ-23) -----------------------------------------------------------------------------------


def test_every_read_is_audited_with_actor_and_purpose_and_no_personal_data(
    session: Session, keys: DataKeys
) -> None:
    person = register(session, keys, extra={"licence_ref": "FA-9"})
    before = last_seq(session)

    first = persons.read_person(session, actor="officer-a", keys=keys, person_id=person.id, purpose="case 42")
    second = persons.read_person(
        session, actor="officer-b", keys=keys, person_id=person.id, purpose="renewal"
    )

    assert first == second
    assert (first.name, first.identity_number, first.identity_country) == (NAME, NUMBER, "KE")
    assert (first.birth_date, first.address, first.nationality) == (date(1985, 7, 14), ADDRESS, "KE")
    assert first.extra == {"licence_ref": "FA-9"}
    entries = audit_since(session, before)
    assert [(e.action, e.actor, e.subject) for e in entries] == [
        ("person.read", "officer-a", f"person:{person.id}"),
        ("person.read", "officer-b", f"person:{person.id}"),
    ]
    assert b'"purpose":"case 42"' in entries[0].body
    assert b'"purpose":"renewal"' in entries[1].body
    for entry in entries:
        assert_no_personal_data(entry.body)
    assert_no_personal_data(repr(first).encode())
    assert checker.verify(session).ok


@pytest.mark.parametrize("purpose", ["", "   ", None])
def test_reading_or_searching_without_a_purpose_is_refused_and_reveals_nothing(
    session: Session, keys: DataKeys, purpose: Any
) -> None:
    person = register(session, keys)
    before = last_seq(session)
    with pytest.raises(ValidationError) as read:
        persons.read_person(session, actor=ACTOR, keys=keys, person_id=person.id, purpose=purpose)
    with pytest.raises(ValidationError) as search:
        persons.find_by_identity(
            session, actor=ACTOR, keys=keys, identity_number=NUMBER, identity_country="KE", purpose=purpose
        )
    assert read.value.field == search.value.field == "purpose"
    assert audit_since(session, before) == []


def test_reading_an_unknown_person_is_not_found(session: Session, keys: DataKeys) -> None:
    with pytest.raises(NotFound):
        persons.read_person(session, actor=ACTOR, keys=keys, person_id=uuid.uuid4(), purpose="check")


def test_a_sealed_blob_copied_onto_another_person_does_not_open(session: Session, keys: DataKeys) -> None:
    victim = register(session, keys)
    other = register(session, keys, name="Other Person", identity_number="ZZ999")
    blob, _digest, _key = stored(session, victim.id)

    set_sealed(session, other.id, blob)

    with pytest.raises(PersonalDataError):
        persons.read_person(session, actor=ACTOR, keys=keys, person_id=other.id, purpose="check")


def test_a_wrong_key_does_not_open(session: Session, keys: DataKeys) -> None:
    person = register(session, keys)
    impostor = crypto.generate_data_key()
    wrong = DataKeys(crypto.DataKey(keys.current.key_id, impostor.encryption_key, impostor.hmac_key))
    with pytest.raises(PersonalDataError, match="key is wrong"):
        persons.read_person(session, actor=ACTOR, keys=wrong, person_id=person.id, purpose="check")


# --- correcting -----------------------------------------------------------------------------------------


def test_update_reseals_and_audits_the_changed_field_names(session: Session, keys: DataKeys) -> None:
    person = register(session, keys)
    old_blob, old_digest, _ = stored(session, person.id)
    before = last_seq(session)

    persons.update_person(
        session,
        actor=ACTOR,
        keys=keys,
        person_id=person.id,
        address="PO Box 1, Mombasa",
        identity_number="CD 77",
    )

    new_blob, new_digest, _ = stored(session, person.id)
    assert new_blob != old_blob
    assert new_digest != old_digest
    [entry] = audit_since(session, before)
    assert entry.action == "person.updated"
    assert b'"changed":["address","identity_number"]' in entry.body
    assert b"Mombasa" not in entry.body
    assert b"Mombasa" not in new_blob
    view = persons.read_person(session, actor=ACTOR, keys=keys, person_id=person.id, purpose="check")
    assert (view.address, view.identity_number, view.name) == ("PO Box 1, Mombasa", "CD 77", NAME)
    find = {"actor": ACTOR, "keys": keys, "identity_country": "KE", "purpose": "check"}
    assert persons.find_by_identity(session, identity_number="cd77", **find) == [person]
    assert persons.find_by_identity(session, identity_number=NUMBER, **find) == []
    assert checker.verify(session).ok


def test_update_refuses_unknown_fields_and_writes_nothing_when_nothing_changes(
    session: Session, keys: DataKeys
) -> None:
    person = register(session, keys)
    with pytest.raises(ValidationError) as exc:
        persons.update_person(session, actor=ACTOR, keys=keys, person_id=person.id, key_id="x")
    assert exc.value.field == "key_id"
    before = last_seq(session)
    persons.update_person(session, actor=ACTOR, keys=keys, person_id=person.id, name=f" {NAME} ")
    assert audit_since(session, before) == []


# --- key rotation ---------------------------------------------------------------------------------------


def test_reseal_all_moves_old_rows_to_the_current_key_in_batches(session: Session, keys: DataKeys) -> None:
    people = [register(session, keys, identity_number=f"ID-{i}") for i in range(3)]
    rotated = DataKeys(crypto.generate_data_key(), (keys.current,))
    find = {"actor": ACTOR, "keys": rotated, "identity_country": "KE", "purpose": "rotation check"}
    assert persons.find_by_identity(session, identity_number="id0", **find) == [people[0]]  # before re-seal
    before = last_seq(session)

    assert persons.reseal_all(session, actor="key-admin", keys=rotated, batch=2) == 3

    assert {stored(session, p.id)[2] for p in people} == {rotated.current.key_id}
    assert [e.action for e in audit_since(session, before)] == ["person.resealed", "person.resealed"]
    assert persons.find_by_identity(session, identity_number="id0", **find) == [people[0]]
    only_new = DataKeys(rotated.current)
    view = persons.read_person(session, actor=ACTOR, keys=only_new, person_id=people[2].id, purpose="check")
    assert view.identity_number == "ID-2"
    assert persons.reseal_all(session, actor="key-admin", keys=rotated) == 0  # resumable: nothing left
    with pytest.raises(PersonalDataError, match="not loaded"):
        persons.read_person(session, actor=ACTOR, keys=keys, person_id=people[0].id, purpose="check")
    assert checker.verify(session).ok


# --- the audit checker sees writes made outside the registry --------------------------------------------


@checker_stops_early
def test_checker_reports_a_person_row_changed_with_sql(session: Session, keys: DataKeys) -> None:
    person = register(session, keys)
    assert checker.verify(session).ok

    session.execute(
        text("UPDATE persons SET key_id = 'forged' WHERE id = :id").bindparams(bindparam("id", type_=Uuid())),
        {"id": person.id},
    )

    report = checker.verify(session)
    assert report.first is not None
    assert report.first.kind == "record_altered"
    assert str(person.id) in report.first.message
