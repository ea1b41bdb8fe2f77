"""Organisations and their licences: registration, versioned updates, licensing and closure (REQ-21).

Every write is audited in the caller's transaction with the snapshot of the row as stored after the write
(`organisations` and `licences` are mutable audited tables: the checker compares each row with the last
audit entry naming it). Organisation names and addresses are business data, but audit `info` still carries
only codes and ids: a sole trader's name is a person's name.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.codes import STATE_ORG_KINDS, LicenceKind, OrgKind
from registry.db import utcnow
from registry.errors import Conflict, NotFound, UnknownReference, ValidationError
from registry.organisations import repository as repo
from registry.organisations.models import Licence, Organisation
from registry.reference.countries import normalise_country

UPDATABLE_FIELDS = frozenset(
    {"name", "kind", "country", "registration_number", "address", "manufacturer_code"}
)
CUSTODY_RULE = "REQ-21"


# --- input checks -----------------------------------------------------------------------------------------


def _text(value: Any, *, field: str, max_len: int, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be text", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationError(f"{field} is required", field=field)
    if len(value) > max_len:
        raise ValidationError(f"{field} is longer than {max_len} characters", field=field)
    return value


def _org_kind(value: Any) -> str:
    try:
        return OrgKind(str(value).strip().lower()).value
    except ValueError:
        allowed = ", ".join(k.value for k in OrgKind)
        raise ValidationError(
            f"kind {value!r} is not an organisation kind; use one of: {allowed}", field="kind", value=value
        ) from None


def _licence_kind(value: Any) -> str:
    try:
        return LicenceKind(str(value).strip().lower()).value
    except ValueError:
        allowed = ", ".join(k.value for k in LicenceKind)
        raise ValidationError(
            f"kind {value!r} is not a licence kind; use one of: {allowed}", field="kind", value=value
        ) from None


def _registration_number(value: Any) -> str | None:
    if value is None:
        return None
    return _text(value, field="registration_number", max_len=100, required=False) or None


def _manufacturer_code(session: Session, value: Any) -> str | None:
    if value is None:
        return None
    code = _text(value, field="manufacturer_code", max_len=40, required=False).upper()
    if not code:
        return None
    if not repo.manufacturer_exists(session, code):
        raise UnknownReference(
            f"manufacturer code {code!r} is not in the manufacturer reference table; add it first",
            field="manufacturer_code",
            value=code,
        )
    return code


def _date(value: Any, *, field: str) -> date:
    # datetime is a subclass of date: refuse it, a licence's validity is a calendar date.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError(f"{field} must be a calendar date", field=field)
    return value


def _moment(value: datetime | None, *, field: str) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationError(f"{field} must be a timezone-aware date and time", field=field)
    if value > utcnow():
        raise ValidationError(f"{field} cannot be in the future", field=field)
    return value


def _duplicate_registration(country: str, number: str, existing: Organisation) -> Conflict:
    return Conflict(
        f"an organisation with registration number {number!r} in {country} is already registered",
        field="registration_number",
        existing_id=str(existing.id),
    )


def _check_registration_free(
    session: Session, country: str, number: str | None, *, own_id: uuid.UUID | None = None
) -> None:
    if number is None:
        return
    existing = repo.by_registration(session, country, number)
    if existing is not None and existing.id != own_id:
        raise _duplicate_registration(country, number, existing)


def _flush_guarded(session: Session, org: Organisation, *, new: bool) -> None:
    """Write inside a savepoint: a race lost on the unique registration number becomes a Conflict."""
    try:
        with session.begin_nested():
            if new:
                repo.add(session, org)
            else:
                session.flush()
    except IntegrityError as exc:
        if org.registration_number is not None:
            existing = repo.by_registration(session, org.country, org.registration_number)
            if existing is not None:
                raise _duplicate_registration(org.country, org.registration_number, existing) from exc
        raise


def _subject(org_id: uuid.UUID) -> str:
    return audit.new_subject("organisation", org_id)


# --- queries ----------------------------------------------------------------------------------------------


def get_organisation(session: Session, org_id: uuid.UUID) -> Organisation:
    org = repo.get(session, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}", field="org_id", value=str(org_id))
    return org


def find_by_name(session: Session, name: str, *, limit: int = 50) -> list[Organisation]:
    return repo.find_by_name(session, name, limit=limit)


def list_organisations(
    session: Session,
    *,
    kind: str | None = None,
    country: str | None = None,
    include_closed: bool = False,
    after: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Organisation]:
    return repo.list_organisations(
        session,
        kind=_org_kind(kind) if kind is not None else None,
        country=normalise_country(country) if country is not None else None,
        include_closed=include_closed,
        after=after,
        limit=limit,
    )


def valid_licences(session: Session, org_id: uuid.UUID, on: date) -> list[Licence]:
    """Licences issued on or before `on`, not expired on `on`, and not revoked by the start of `on`."""
    return repo.valid_licences(session, org_id, _date(on, field="on"))


def has_valid_licence(session: Session, org_id: uuid.UUID, kind: str, on: date) -> bool:
    return bool(repo.valid_licences(session, org_id, _date(on, field="on"), kind=_licence_kind(kind)))


# --- organisations ----------------------------------------------------------------------------------------


def create_organisation(
    session: Session,
    *,
    actor: str,
    name: str,
    kind: str,
    country: str,
    registration_number: str | None = None,
    address: str = "",
    manufacturer_code: str | None = None,
) -> Organisation:
    now = utcnow()
    org = Organisation(
        id=uuid.uuid4(),
        name=_text(name, field="name", max_len=300),
        kind=_org_kind(kind),
        country=normalise_country(country),
        registration_number=_registration_number(registration_number),
        address=_text(address, field="address", max_len=2000, required=False),
        manufacturer_code=_manufacturer_code(session, manufacturer_code),
        closed_at=None,
        records_custodian_id=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    _check_registration_free(session, org.country, org.registration_number)
    _flush_guarded(session, org, new=True)
    audit.record(
        session,
        actor=actor,
        action="organisation.created",
        subject=_subject(org.id),
        records=[audit.snapshot_obj(org)],
        info={"kind": org.kind, "country": org.country},
    )
    return org


def _locked(session: Session, org_id: uuid.UUID) -> Organisation:
    org = repo.lock(session, org_id)
    if org is None:
        raise NotFound(f"no organisation {org_id}", field="org_id", value=str(org_id))
    return org


def _normalised_changes(session: Session, changes: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError(
            f"{unknown[0]} cannot be changed here (changeable: {', '.join(sorted(UPDATABLE_FIELDS))}; "
            "close an organisation with close_organisation)",
            field=unknown[0],
        )
    checks = {
        "name": lambda v: _text(v, field="name", max_len=300),
        "kind": _org_kind,
        "country": normalise_country,
        "registration_number": _registration_number,
        "address": lambda v: _text(v, field="address", max_len=2000, required=False),
        "manufacturer_code": lambda v: _manufacturer_code(session, v),
    }
    return {key: checks[key](value) for key, value in changes.items()}


def update_organisation(
    session: Session, *, actor: str, org_id: uuid.UUID, expected_version: int, **changes: Any
) -> Organisation:
    """Change fields of an organisation the caller read at `expected_version` (optimistic locking).

    If someone else changed it since, raises `Conflict(field="version")` naming the current version: the
    caller reloads, re-applies the edit and retries. A change that alters nothing writes nothing.
    """
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise ValidationError("expected_version must be a whole number", field="expected_version")
    values = _normalised_changes(session, changes)
    org = _locked(session, org_id)
    if org.version != expected_version:
        raise Conflict(
            f"organisation {org.id} was changed since you read it: you edited version {expected_version}, "
            f"the current version is {org.version}; reload it and apply your change again",
            field="version",
            expected_version=expected_version,
            current_version=org.version,
        )
    changed = sorted(k for k, v in values.items() if getattr(org, k) != v)
    if not changed:
        return org
    if {"country", "registration_number"} & set(changed):
        _check_registration_free(
            session,
            values.get("country", org.country),
            values.get("registration_number", org.registration_number),
            own_id=org.id,
        )
    for key in changed:
        setattr(org, key, values[key])
    org.version += 1
    org.updated_at = utcnow()
    _flush_guarded(session, org, new=False)
    audit.record(
        session,
        actor=actor,
        action="organisation.updated",
        subject=_subject(org.id),
        records=[audit.snapshot_obj(org)],
        info={"changed": changed, "version": org.version},
    )
    return org


def _check_custodian(session: Session, org: Organisation, custodian_id: uuid.UUID | None) -> Organisation:
    """REQ-21: the records of a closing organisation must pass into the custody of a state body."""
    state_kinds = ", ".join(sorted(k.value for k in STATE_ORG_KINDS))
    prefix = (
        f"{CUSTODY_RULE}: organisation {org.id} cannot be closed until its records have passed into state "
        f"custody"
    )
    if custodian_id is None:
        raise Conflict(
            f"{prefix}; name the state organisation ({state_kinds}) that holds them",
            field="records_custodian_id",
            rule=CUSTODY_RULE,
        )
    if custodian_id == org.id:
        raise Conflict(
            f"{prefix}; an organisation cannot be the custodian of its own records",
            field="records_custodian_id",
            rule=CUSTODY_RULE,
        )
    custodian = repo.get(session, custodian_id)
    if custodian is None:
        raise NotFound(
            f"no organisation {custodian_id} to take custody of the records",
            field="records_custodian_id",
            value=str(custodian_id),
        )
    problem = None
    if custodian.kind not in STATE_ORG_KINDS:
        problem = f"the custodian is a {custodian.kind}, not a state organisation ({state_kinds})"
    elif custodian.closed_at is not None:
        problem = "the custodian is itself closed"
    elif custodian.country != org.country:
        problem = f"the custodian belongs to {custodian.country}, not to {org.country}"
    if problem:
        raise Conflict(f"{prefix}; {problem}", field="records_custodian_id", rule=CUSTODY_RULE)
    return custodian


def close_organisation(
    session: Session,
    *,
    actor: str,
    org_id: uuid.UUID,
    records_custodian_id: uuid.UUID | None,
    closed_at: datetime | None = None,
) -> Organisation:
    """Close an organisation that went out of business (REQ-21).

    Refused unless its records have passed into the custody of a state organisation of the same country.
    Sets `closed_at` and `records_custodian_id`, bumps the version and revokes every licence still in force,
    all in one audit entry.
    """
    at = _moment(closed_at, field="closed_at")
    org = _locked(session, org_id)
    if org.closed_at is not None:
        raise Conflict(
            f"organisation {org.id} was already closed on {org.closed_at.isoformat()}", field="closed_at"
        )
    custodian = _check_custodian(session, org, records_custodian_id)
    licences = repo.unrevoked_licences(session, org.id)
    for licence in licences:
        licence.revoked_at = at
    org.closed_at = at
    org.records_custodian_id = custodian.id
    org.version += 1
    org.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="organisation.closed",
        subject=_subject(org.id),
        records=[audit.snapshot_obj(org), *(audit.snapshot_obj(lic) for lic in licences)],
        info={
            "records_custodian_id": str(custodian.id),
            "revoked_licences": [str(lic.id) for lic in licences],
            "version": org.version,
        },
    )
    return org


# --- licences ---------------------------------------------------------------------------------------------


def add_licence(
    session: Session,
    *,
    actor: str,
    org_id: uuid.UUID,
    number: str,
    kind: str,
    issuing_country: str,
    issued_on: date,
    expires_on: date | None = None,
) -> Licence:
    licence = Licence(
        id=uuid.uuid4(),
        organisation_id=org_id,
        number=_text(number, field="number", max_len=100),
        kind=_licence_kind(kind),
        issuing_country=normalise_country(issuing_country, field="issuing_country"),
        issued_on=_date(issued_on, field="issued_on"),
        expires_on=_date(expires_on, field="expires_on") if expires_on is not None else None,
        revoked_at=None,
        created_at=utcnow(),
    )
    if licence.expires_on is not None and licence.expires_on < licence.issued_on:
        raise ValidationError("a licence cannot expire before it is issued", field="expires_on")
    org = _locked(session, org_id)  # a close running at the same time must not miss this licence
    if org.closed_at is not None:
        raise Conflict(f"organisation {org.id} is closed: it cannot be licensed", field="org_id")
    _add_licence_guarded(session, licence)
    audit.record(
        session,
        actor=actor,
        action="licence.added",
        subject=_subject(org.id),
        records=[audit.snapshot_obj(licence)],
        info={
            "licence_id": str(licence.id),
            "kind": licence.kind,
            "issuing_country": licence.issuing_country,
        },
    )
    return licence


def _add_licence_guarded(session: Session, licence: Licence) -> None:
    def duplicate() -> Licence | None:
        return repo.licence_by_number(session, licence.issuing_country, licence.kind, licence.number)

    def conflict(existing: Licence) -> Conflict:
        return Conflict(
            f"{licence.issuing_country} {licence.kind} licence {licence.number!r} is already recorded",
            field="number",
            existing_id=str(existing.id),
        )

    if (existing := duplicate()) is not None:
        raise conflict(existing)
    try:
        with session.begin_nested():
            repo.add(session, licence)
    except IntegrityError as exc:
        if (existing := duplicate()) is not None:
            raise conflict(existing) from exc
        raise


def revoke_licence(
    session: Session,
    *,
    actor: str,
    licence_id: uuid.UUID,
    revoked_at: datetime | None = None,
    reason: str = "",
) -> Licence:
    """Revoke a licence. `reason` goes into the audit log: a short code or reference, never personal data."""
    at = _moment(revoked_at, field="revoked_at")
    reason = _text(reason, field="reason", max_len=200, required=False)
    licence = repo.lock_licence(session, licence_id)
    if licence is None:
        raise NotFound(f"no licence {licence_id}", field="licence_id", value=str(licence_id))
    if licence.revoked_at is not None:
        raise Conflict(
            f"licence {licence.id} was already revoked on {licence.revoked_at.isoformat()}",
            field="revoked_at",
        )
    if at.astimezone(UTC).date() < licence.issued_on:
        raise ValidationError("a licence cannot be revoked before it was issued", field="revoked_at")
    licence.revoked_at = at
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="licence.revoked",
        subject=_subject(licence.organisation_id),
        records=[audit.snapshot_obj(licence)],
        info={"licence_id": str(licence.id), "reason": reason},
    )
    return licence
