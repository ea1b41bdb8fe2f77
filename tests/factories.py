"""Test data with traits: `register_weapon(session, imported=True)`, `manufacture_marking(serial=…)`, …

Defaults describe a lawful, fully marked weapon (a Glock 17 from Austria imported into Kenya) that registers
without warnings; each test overrides only what it is about.
"""

from __future__ import annotations

import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from registry.audit.signing import generate_signing_key
from registry.codes import OrgKind
from registry.db import utcnow
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.markings.rules import MarkingInput
from registry.organisations.models import Organisation
from registry.persons.models import Person
from registry.profiles import ITI, Profile
from registry.weapons import service as weapons
from registry.weapons.service import Registration, WeaponInput

HOME = "KE"
ACTOR = "officer-test"


def unique_serial(prefix: str = "T") -> str:
    """Letters then twelve digits: valid under every profile (the US one wants a digit)."""
    return f"{prefix}{uuid.uuid4().int % 10**12:012d}"


def weapon_input(**overrides: Any) -> WeaponInput:
    values: dict[str, Any] = {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9mm Luger",
        "year_of_manufacture": 2020,
    }
    values.update(overrides)
    return WeaponInput(**values)


class _Auto:
    """Marks a factory argument left to the factory (None is a meaningful value: "no serial")."""


AUTO: Any = _Auto()


def manufacture_marking(serial: str | None = AUTO, **overrides: Any) -> MarkingInput:
    serial = unique_serial() if serial is AUTO else serial
    values: dict[str, Any] = {
        "text": f"GLOCK AUSTRIA {serial or ''}".strip(),
        "kind": "manufacture",
        "component": "frame",
        "manufacturer": "GLOCK",
        "country": "AT",
        "serial": serial,
        "year": 2020,
    }
    values.update(overrides)
    return MarkingInput(**values)


def import_marking(country: str = HOME, year: int | None = 2021, **overrides: Any) -> MarkingInput:
    values: dict[str, Any] = {
        "text": f"IMP {country} {year or ''}".strip(),
        "kind": "import",
        "component": "frame",
        "country": country,
        "year": year,
    }
    values.update(overrides)
    return MarkingInput(**values)


def remarking(serial: str | None = None, **overrides: Any) -> MarkingInput:
    """The unique mark a state gives a found or seized weapon (ITI 9)."""
    serial = serial or unique_serial("KE")
    values: dict[str, Any] = {
        "text": f"KNFP KE {serial}",
        "kind": "remarking",
        "component": "frame",
        "manufacturer": "KENYA NATIONAL FOCAL POINT",
        "country": HOME,
        "serial": serial,
        "year": 2024,
        "method": "dot_peen",
    }
    values.update(overrides)
    return MarkingInput(**values)


def state_transfer_marking(state: str | None = HOME, **overrides: Any) -> MarkingInput:
    values: dict[str, Any] = {
        "text": f"GOV {state or ''}".strip(),
        "kind": "state_transfer",
        "component": "frame",
        "transferring_state": state,
    }
    values.update(overrides)
    return MarkingInput(**values)


def export_event(to_country: str = "UG", **overrides: Any) -> EventInput:
    values: dict[str, Any] = {
        "type": "exported",
        "to_country": to_country,
        "documents": [
            {
                "kind": "export_licence",
                "number": "EXP-1",
                "issued_on": "2024-01-01",
                "expires_on": "2025-01-01",
            }
        ],
        "data": {"final_recipient": "Uganda Police Force"},
    }
    values.update(overrides)
    return EventInput(**values)


def register_weapon(
    session: Session,
    *,
    imported: bool = False,
    manufactured: bool = False,
    found_unmarked: bool = False,
    serial: str | None = None,
    weapon: WeaponInput | None = None,
    markings: list[MarkingInput] | None = None,
    event: EventInput | None = None,
    profile: Profile = ITI,
    home_country: str = HOME,
    actor: str = ACTOR,
) -> Registration:
    """Register one weapon through the service. Traits pick the first event; `imported` is the default."""
    if sum((imported, manufactured, found_unmarked)) > 1:
        raise ValueError("pick one trait")
    serial = serial or unique_serial()
    if found_unmarked:
        default_weapon = weapon_input(make="UNKNOWN", model=None, category="SA-ASR", calibre="7.62x39")
        default_marks: list[MarkingInput] = []
        default_event = EventInput(type="found", location="Kibera", data={"mark_condition": "missing"})
    elif manufactured:
        default_weapon = weapon_input()
        default_marks = [manufacture_marking(serial)]
        default_event = EventInput(type="manufactured")
    else:
        default_weapon = weapon_input()
        default_marks = [manufacture_marking(serial), import_marking()]
        default_event = EventInput(type="imported", to_country=home_country)
    return weapons.register(
        session,
        actor=actor,
        weapon=weapon or default_weapon,
        markings=default_marks if markings is None else markings,
        event=event or default_event,
        profile=profile,
        home_country=home_country,
    )


def record(session: Session, weapon_id: uuid.UUID, event: EventInput, **kwargs: Any) -> history.Recorded:
    """`record_event` with the test defaults (ITI profile, home country KE)."""
    kwargs.setdefault("profile", ITI)
    kwargs.setdefault("home_country", HOME)
    return history.record_event(session, actor=ACTOR, weapon_id=weapon_id, event=event, **kwargs)


def organisation(session: Session, *, kind: str = OrgKind.DEALER, name: str | None = None) -> Organisation:
    """An organisation row written directly, without an audit entry: only for tests that do not verify the
    audit log (the checker would rightly report it as written outside the registry)."""
    now = utcnow()
    org = Organisation(
        name=name or f"{kind} {uuid.uuid4().hex[:6]}",
        kind=str(kind),
        country=HOME,
        registration_number=uuid.uuid4().hex[:12],
        address="",
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(org)
    session.flush()
    return org


def person(session: Session) -> Person:
    """A holder with placeholder sealed data (no personal data in tests), written directly."""
    now = utcnow()
    p = Person(
        identity_hmac=uuid.uuid4().bytes * 2,
        sealed=b"\x00" * 28,
        key_id="test",
        created_at=now,
        updated_at=now,
    )
    session.add(p)
    session.flush()
    return p


def signing_key() -> Ed25519PrivateKey:
    return generate_signing_key()
