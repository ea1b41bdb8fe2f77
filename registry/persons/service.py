"""Persons who hold weapons: register, find, read, correct, and re-seal after a key rotation (REQ-23).

Personal data is sealed before it reaches the database (`registry.persons.crypto`). Every write is audited
with the snapshot of the row as stored; every read of clear personal data, and every search, is audited with
the actor and the purpose they gave. Audit entries carry ids, field names and the purpose, never the data.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import utcnow
from registry.errors import Conflict, NotFound, ValidationError
from registry.persons import crypto, rotation
from registry.persons import repository as repo
from registry.persons.crypto import DataKeys
from registry.persons.models import Person
from registry.reference.countries import normalise_country

UPDATABLE_FIELDS = frozenset(
    {"name", "identity_number", "identity_country", "birth_date", "address", "nationality", "extra"}
)
MAX_PURPOSE = 500


@dataclass(frozen=True)
class PersonView:
    """A person's clear data, for display only: never persisted, and kept out of reprs and logs."""

    id: uuid.UUID
    key_id: str
    created_at: datetime
    updated_at: datetime
    name: str = field(repr=False)
    identity_number: str = field(repr=False)
    identity_country: str = field(repr=False)
    birth_date: date | None = field(repr=False, default=None)
    address: str | None = field(repr=False, default=None)
    nationality: str | None = field(repr=False, default=None)
    extra: dict[str, Any] = field(repr=False, default_factory=dict)


# --- input checks -----------------------------------------------------------------------------------------


def _text(value: Any, *, field: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} is required", field=field)
    if len(value.strip()) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters", field=field)
    return value.strip()


def _purpose(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            "a purpose is required to search for or read personal data (it is recorded in the audit log)",
            field="purpose",
        )
    return _text(value, field="purpose", max_len=MAX_PURPOSE)


def _birth_date(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError("birth_date must be a calendar date", field="birth_date")
    if value > utcnow().date():
        raise ValidationError("birth_date cannot be in the future", field="birth_date")
    return value.isoformat()


def _optional_text(value: Any, *, field: str, max_len: int) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _text(value, field=field, max_len=max_len)


def _extra(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError("extra must map field names to values", field="extra")
    out = dict(value)
    crypto.canonical_fields(out)  # refuses values that are not plain JSON
    return out


def _identity_number(value: Any) -> str:
    crypto.normalise_identity_number(value)  # refuses a number with no letters or digits
    return _text(value, field="identity_number", max_len=100)


_CHECKS = {
    "name": lambda v: _text(v, field="name", max_len=300),
    "identity_number": _identity_number,
    "identity_country": lambda v: normalise_country(v, field="identity_country"),
    "birth_date": _birth_date,
    "address": lambda v: _optional_text(v, field="address", max_len=2000),
    "nationality": lambda v: None if v is None else normalise_country(v, field="nationality"),
    "extra": _extra,
}


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The dict that is sealed: every standard field (None when unknown) and `extra`."""
    return {key: check(values.get(key)) for key, check in _CHECKS.items()}


def _as_input(sealed: Mapping[str, Any]) -> dict[str, Any]:
    """Opened fields back in input form (dates as dates), so they pass the same checks as new input."""
    born = sealed.get("birth_date")
    return {**sealed, "birth_date": date.fromisoformat(born) if born else None}


def _view(person: Person, fields: Mapping[str, Any]) -> PersonView:
    clear = _as_input(fields)
    return PersonView(
        id=person.id,
        key_id=person.key_id,
        created_at=person.created_at,
        updated_at=person.updated_at,
        name=fields["name"],
        identity_number=fields["identity_number"],
        identity_country=fields["identity_country"],
        birth_date=clear["birth_date"],
        address=fields.get("address"),
        nationality=fields.get("nationality"),
        extra=dict(fields.get("extra") or {}),
    )


def _seal_into(person: Person, keys: DataKeys, fields: Mapping[str, Any]) -> None:
    key = keys.current
    person.sealed = crypto.seal(key, person.id, fields)
    person.identity_hmac = crypto.identity_hmac(
        key, identity_number=fields["identity_number"], identity_country=fields["identity_country"]
    )
    person.key_id = key.key_id


def _refuse_duplicate(
    session: Session, keys: DataKeys, fields: Mapping[str, Any], *, own_id: uuid.UUID | None = None
) -> None:
    # The message names neither the number nor the other person: this is not an (audited) search.
    digests = crypto.identity_hmacs(
        keys, identity_number=fields["identity_number"], identity_country=fields["identity_country"]
    )
    if any(p.id != own_id for p in repo.by_identity_hmacs(session, digests)):
        raise Conflict(
            f"a person with this identity number issued by {fields['identity_country']} is already "
            "registered: search for them instead of registering them again",
            field="identity_number",
        )


def _subject(person_id: uuid.UUID) -> str:
    return audit.new_subject("person", person_id)


def _get(session: Session, person_id: uuid.UUID, *, lock: bool = False) -> Person:
    person = repo.lock(session, person_id) if lock else repo.get(session, person_id)
    if person is None:
        raise NotFound(f"no person {person_id}", field="person_id", value=str(person_id))
    return person


# --- writes -----------------------------------------------------------------------------------------------


def register_person(
    session: Session,
    *,
    actor: str,
    keys: DataKeys,
    name: str,
    identity_number: str,
    identity_country: str,
    birth_date: date | None = None,
    address: str | None = None,
    nationality: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Person:
    fields = _fields(
        {
            "name": name,
            "identity_number": identity_number,
            "identity_country": identity_country,
            "birth_date": birth_date,
            "address": address,
            "nationality": nationality,
            "extra": extra,
        }
    )
    _refuse_duplicate(session, keys, fields)
    now = utcnow()
    person = Person(id=uuid.uuid4(), created_at=now, updated_at=now)
    _seal_into(person, keys, fields)
    repo.add(session, person)
    audit.record(
        session,
        actor=actor,
        action="person.registered",
        subject=_subject(person.id),
        records=[audit.snapshot_obj(person)],
    )
    return person


def update_person(
    session: Session, *, actor: str, keys: DataKeys, person_id: uuid.UUID, **changes: Any
) -> Person:
    """Correct a person's fields. The row is re-sealed with the current key (a fresh nonce every time)."""
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"{unknown[0]} is not a person field (fields: {', '.join(sorted(UPDATABLE_FIELDS))})",
            field=unknown[0],
        )
    person = _get(session, person_id, lock=True)
    old = crypto.unseal_with(keys, person.key_id, person.id, person.sealed)
    fields = _fields({**_as_input(old), **changes})
    changed = sorted(k for k in UPDATABLE_FIELDS if fields.get(k) != old.get(k))
    if not changed:
        return person
    if {"identity_number", "identity_country"} & set(changed):
        _refuse_duplicate(session, keys, fields, own_id=person.id)
    _seal_into(person, keys, fields)
    person.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="person.updated",
        subject=_subject(person.id),
        records=[audit.snapshot_obj(person)],
        info={"changed": changed},
    )
    return person


def reseal_all(session: Session, *, actor: str, keys: DataKeys, batch: int = 500) -> int:
    """Re-seal, inside the caller's transaction, every row whose key is not the current one; returns how
    many. One audit entry per batch. For a live registry use `registry.persons.rotation.run` (`iti person
    reseal`), which commits batch by batch and resumes after an interruption."""
    if batch < 1:
        raise ValidationError("batch must be at least 1", field="batch")
    total, after = 0, None
    while ids := rotation.reseal_batch(session, actor=actor, keys=keys, after=after, limit=batch):
        total, after = total + len(ids), ids[-1]
    return total


# --- reads (each one audited) -----------------------------------------------------------------------------


def find_by_identity(
    session: Session,
    *,
    actor: str,
    keys: DataKeys,
    identity_number: str,
    identity_country: str,
    purpose: str,
) -> list[Person]:
    """Persons with this identity number (formatting ignored) issued by this country. Audited."""
    why = _purpose(purpose)
    digests = crypto.identity_hmacs(keys, identity_number=identity_number, identity_country=identity_country)
    found = repo.by_identity_hmacs(session, digests)
    audit.record(
        session,
        actor=actor,
        action="person.searched",
        info={"purpose": why, "matches": [str(p.id) for p in found]},
    )
    return found


def read_person(
    session: Session, *, actor: str, keys: DataKeys, person_id: uuid.UUID, purpose: str
) -> PersonView:
    """A person's clear data. Every call is audited with the actor and the purpose (REQ-23)."""
    why = _purpose(purpose)
    person = _get(session, person_id)
    fields = crypto.unseal_with(keys, person.key_id, person.id, person.sealed)
    audit.record(
        session, actor=actor, action="person.read", subject=_subject(person.id), info={"purpose": why}
    )
    return _view(person, fields)
