"""Registering a weapon: its master record, its marks, the first event of its history, all audited.

The checks follow ITI sections II and III and the node's profile; see docs/iti-compliance.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.codes import EventType, FrameMaterial
from registry.db import utcnow
from registry.errors import (
    DuplicateMarking,
    MarkingRuleViolation,
    NotFound,
    OutOfScope,
    UnknownReference,
    ValidationError,
)
from registry.history import lifecycle
from registry.history import service as history
from registry.history.inputs import EventInput, normalise_event
from registry.history.models import Event
from registry.markings import rules
from registry.markings.models import Marking
from registry.markings.rules import MarkingInput
from registry.profiles import Profile
from registry.reference.countries import normalise_country
from registry.reference.service import Catalogue, load_catalogue, text_key
from registry.rows import bulk_insert, complete
from registry.warnings import Warning
from registry.weapons import repository as repo
from registry.weapons.models import Weapon, WeaponState


@dataclass
class WeaponInput:
    category: str
    make: str
    model: str | None = None
    calibre: str | None = None
    serial: str | None = None
    country_of_manufacture: str | None = None
    year_of_manufacture: int | None = None
    frame_material: str = FrameMaterial.METAL
    mark_carrier: str | None = None
    description: str = ""


@dataclass
class Registration:
    weapon: Weapon
    state: WeaponState
    markings: list[Marking]
    event: Event
    warnings: list[Warning] = field(default_factory=list)


@dataclass
class PreparedWeapon:
    """Everything to insert for one new weapon, checked but not yet written (bulk imports batch these)."""

    weapon: dict[str, Any]
    markings: list[dict[str, Any]]
    event: dict[str, Any]
    state: dict[str, Any]
    warnings: list[Warning]

    def audit_entry(
        self, actor: str, *, action: str = "weapon.registered", info: dict[str, Any] | None = None
    ) -> audit.PendingEntry:
        records = [
            audit.snapshot("weapons", self.weapon),
            *(audit.snapshot("markings", m) for m in self.markings),
            audit.snapshot("events", self.event),
        ]
        return audit.PendingEntry(
            actor=actor,
            action=action,
            subject=f"weapon:{self.weapon['id']}",
            records=records,
            info=info or {},
        )


def uniqueness_key(
    *, maker: str, country: str | None, serial_key: str | None, model: str | None, profile: Profile
) -> str | None:
    """REQ-07: maker + country of manufacture + serial (+ model where the profile says so)."""
    if not serial_key:
        return None
    parts = [text_key(maker), country or "", serial_key]
    if profile.uniqueness_includes_model:
        parts.append(text_key(model or ""))
    return "|".join(parts)


def _check_weapon(
    w: WeaponInput, *, catalogue: Catalogue, profile: Profile
) -> tuple[str | None, str | None, list[Warning]]:
    warnings: list[Warning] = []
    cat = catalogue.categories.get(w.category)
    if cat is None:
        raise UnknownReference(
            f"category {w.category!r} is not a known weapon category "
            f"({', '.join(sorted(catalogue.categories))})",
            field="category",
            value=w.category,
        )
    if not w.make or not w.make.strip():
        raise ValidationError(
            "the make (manufacturer or brand) is required; use UNKNOWN for a weapon whose maker "
            "cannot be read",
            field="make",
        )
    maker_code = catalogue.manufacturer_code(w.make)
    if maker_code is None and text_key(w.make) != "UNKNOWN":
        warnings.append(
            Warning(
                "make_off_table",
                f"make {w.make!r} is not in the manufacturers table; recorded as "
                "written. Add it with `iti ref add-manufacturer` if it is right.",
                "make",
            )
        )
    calibre_code = None
    if w.calibre:
        calibre_code = catalogue.calibre_code(w.calibre)
        if calibre_code is None:
            warnings.append(
                Warning(
                    "calibre_off_table",
                    f"calibre {w.calibre!r} is not in the calibres table; recorded as written",
                    "calibre",
                )
            )
    else:
        warnings.append(Warning("calibre_missing", "the calibre is encouraged (ITI 8(a))", "calibre"))
    bore = catalogue.bore_mm(calibre_code or w.calibre)
    if cat.max_calibre_mm is not None and bore is not None and bore >= cat.max_calibre_mm:
        raise OutOfScope(
            f"a {cat.name.lower()} of {bore:g} mm is outside the ITI (light weapons include mortars of "
            f"calibres less than {cat.max_calibre_mm:g} mm)",
            field="calibre",
            value=w.calibre,
        )
    if w.model:
        if maker_code and not catalogue.known_model(maker_code, w.model):
            warnings.append(
                Warning(
                    "model_off_table",
                    f"model {w.model!r} is not a known {maker_code} model; recorded as written",
                    "model",
                )
            )
    elif profile.model_required:
        raise ValidationError(f"the {profile.name} profile requires the model", field="model")
    else:
        warnings.append(Warning("model_missing", "the model is encouraged (ITI 8(a))", "model"))
    if w.year_of_manufacture is None:
        warnings.append(
            Warning("year_missing", "the year of manufacture is encouraged (ITI 8(a))", "year_of_manufacture")
        )
    elif not 1300 <= w.year_of_manufacture <= utcnow().year:
        raise ValidationError(
            f"year of manufacture {w.year_of_manufacture} is not plausible",
            field="year_of_manufacture",
            value=w.year_of_manufacture,
        )
    try:
        FrameMaterial(w.frame_material)
    except ValueError:
        raise ValidationError(
            f"frame_material must be one of: {', '.join(f.value for f in FrameMaterial)}",
            field="frame_material",
            value=w.frame_material,
        ) from None
    if w.frame_material == FrameMaterial.POLYMER and not w.mark_carrier:
        msg = "a polymer frame records the metal plate or insert that carries the mark (ISACS 05.30)"
        if profile.polymer_carrier_required:
            raise MarkingRuleViolation(msg, field="mark_carrier")
        warnings.append(Warning("mark_carrier_missing", msg, "mark_carrier"))
    return maker_code, calibre_code, warnings


def prepare(
    *,
    actor: str,
    weapon: WeaponInput,
    markings: list[MarkingInput],
    event: EventInput,
    catalogue: Catalogue,
    profile: Profile,
    home_country: str | None = None,
    import_job_id: uuid.UUID | None = None,
) -> PreparedWeapon:
    """Check a new weapon and build its rows, without touching the database."""
    now = utcnow()
    maker_code, calibre_code, warnings = _check_weapon(weapon, catalogue=catalogue, profile=profile)
    country = (
        normalise_country(weapon.country_of_manufacture, field="country_of_manufacture")
        if weapon.country_of_manufacture
        else None
    )
    if country is None and maker_code:
        country = catalogue.manufacturers[maker_code].country
    etype = normalise_event(event, now=now)
    if etype not in lifecycle.INITIAL_EVENTS:
        lifecycle.check_transition(None, etype)
    for i, m in enumerate(markings):
        rules.normalise(m, catalogue=catalogue, prefix=f"markings[{i}]")
        warnings += rules.check(m, profile=profile, catalogue=catalogue, prefix=f"markings[{i}]")
    # The weapon's serial is the one of its unique mark on the frame or receiver, not of a barrel or slide.
    serial = weapon.serial or next(
        (
            m.serial
            for m in markings
            if m.kind in rules.UNIQUE_KINDS and m.serial and rules.is_primary(m, catalogue)
        ),
        None,
    )
    serial_key = text_key(serial) if serial else None
    if serial:
        rules.check_serial(serial, profile=profile, field="serial")
    unique = [m for m in markings if rules.is_unique_mark(m, catalogue)]
    if etype in (EventType.MANUFACTURED,) and not unique:
        raise MarkingRuleViolation(
            "a manufactured weapon needs its unique mark on the frame or receiver (ITI 8(a), "
            "ITI 10): a manufacture marking with a serial on a primary component",
            field="markings",
        )
    for i, m in enumerate(markings):
        if (
            m.kind in rules.UNIQUE_KINDS
            and m.serial
            and serial_key
            and text_key(m.serial) != serial_key
            and rules.is_primary(m, catalogue)
        ):
            raise ValidationError(
                f"marking serial {m.serial!r} differs from the weapon's serial {serial!r}",
                field=f"markings[{i}].serial",
            )
    if etype == EventType.IMPORTED:
        warnings += _check_import(event, markings, catalogue)
    elif etype in lifecycle.RECOVERY_EVENTS:
        warnings += history.recovery_rules(event, etype, markings, catalogue)
    w_row = complete(
        "weapons",
        {
            "category": weapon.category,
            "manufacturer_code": maker_code,
            "make": weapon.make.strip(),
            "model": weapon.model,
            "calibre": calibre_code or weapon.calibre,
            "serial": serial,
            "serial_key": serial_key,
            "country_of_manufacture": country,
            "year_of_manufacture": weapon.year_of_manufacture,
            "frame_material": weapon.frame_material,
            "mark_carrier": weapon.mark_carrier,
            "description": weapon.description,
            "uniqueness_key": uniqueness_key(
                maker=maker_code or weapon.make,
                country=country,
                serial_key=serial_key,
                model=weapon.model,
                profile=profile,
            ),
            "registered_at": now,
            "registered_by": actor,
            "import_job_id": import_job_id,
        },
    )
    wid = w_row["id"]
    m_rows = [history.marking_row(m, weapon_id=wid, actor=actor, catalogue=catalogue) for m in markings]
    e_row = history.event_row(event, weapon_id=wid, seq=1, actor=actor, marking_id=None)
    derived = lifecycle.derive_state([history.as_event_like(e_row)], home_country=home_country)
    s_row = {"weapon_id": wid, **history.state_values(derived)}
    return PreparedWeapon(w_row, m_rows, e_row, s_row, warnings)


def _check_import(event: EventInput, markings: list[MarkingInput], catalogue: Catalogue) -> list[Warning]:
    if event.data.get("temporary"):
        if not event.data.get("purpose"):
            raise ValidationError(
                "a temporary import states its verifiable lawful purpose", field="data.purpose"
            )
        return []
    if not any(m.kind == "import" for m in markings):
        raise MarkingRuleViolation(
            "a permanent import needs an import marking with the country of import (ITI 8(b))",
            field="markings",
        )
    if not any(rules.is_unique_mark(m, catalogue) for m in markings):
        raise MarkingRuleViolation(
            "a weapon without a unique mark cannot complete import until it is given one (ITI 8(b))",
            field="markings",
        )
    return []


def register(
    session: Session,
    *,
    actor: str,
    weapon: WeaponInput,
    markings: list[MarkingInput],
    event: EventInput,
    profile: Profile,
    home_country: str | None = None,
    catalogue: Catalogue | None = None,
) -> Registration:
    catalogue = catalogue or load_catalogue(session)
    p = prepare(
        actor=actor,
        weapon=weapon,
        markings=markings,
        event=event,
        catalogue=catalogue,
        profile=profile,
        home_country=home_country,
    )
    key = p.weapon["uniqueness_key"]
    if key is not None and (existing := repo.by_uniqueness_key(session, key)) is not None:
        raise _duplicate(p, existing.id)
    try:
        with session.begin_nested():
            write_prepared(session, [p])
    except IntegrityError as exc:
        # Lost a race with another officer registering the same weapon: the constraint is the referee.
        if key is not None and (existing := repo.by_uniqueness_key(session, key)) is not None:
            raise _duplicate(p, existing.id) from exc
        raise
    audit.record_many(session, [p.audit_entry(actor)])
    weapon_obj = repo.get_weapon(session, p.weapon["id"])
    state = repo.get_state(session, p.weapon["id"])
    if weapon_obj is None or state is None:  # pragma: no cover - just inserted in this transaction
        raise NotFound("the new weapon vanished inside its own transaction", field="weapon_id")
    return Registration(
        weapon_obj,
        state,
        repo.markings_of(session, weapon_obj.id),
        repo.events_of(session, weapon_obj.id)[0],
        p.warnings,
    )


def _duplicate(p: PreparedWeapon, existing: uuid.UUID) -> DuplicateMarking:
    w = p.weapon
    return DuplicateMarking(
        f"a weapon by {w['make']} ({w['country_of_manufacture'] or '??'}) with serial {w['serial']} is "
        f"already registered as {existing} (ITI 8(a): marks are unique)",
        field="serial",
        existing_weapon_id=str(existing),
    )


def write_prepared(session: Session, batch: list[PreparedWeapon]) -> None:
    """Insert prepared weapons (no audit): callers add the audit entries in the same transaction."""
    bulk_insert(session, "weapons", [p.weapon for p in batch])
    bulk_insert(session, "markings", [m for p in batch for m in p.markings])
    bulk_insert(session, "events", [p.event for p in batch])
    bulk_insert(session, "weapon_states", [complete("weapon_states", p.state) for p in batch])


def get(session: Session, weapon_id: uuid.UUID) -> tuple[Weapon, WeaponState]:
    weapon = repo.get_weapon(session, weapon_id)
    state = repo.get_state(session, weapon_id)
    if weapon is None or state is None:
        raise NotFound(f"no weapon {weapon_id}", field="weapon_id", value=str(weapon_id))
    return weapon, state


def find_by_mark(
    session: Session,
    text: str,
    *,
    make: str | None = None,
    model: str | None = None,
    status: str | None = None,
    category: str | None = None,
    limit: int = 50,
) -> list[tuple[Weapon, WeaponState]]:
    """Exact look-up by serial or any mark text, ignoring case, spaces and punctuation (REQ-18), narrowed by
    make, model, status and category when given (all filters combine)."""
    key = text_key(text)
    if not key:
        raise ValidationError(
            "give a serial or marking text with letters or digits", field="serial", value=text
        )
    if make or model or status or category:
        # In SQL, not after the limit: a mark many weapons share (an import mark) must not hide matches.
        return repo.search(
            session, mark_key=key, make=make, model=model, status=status, category=category, limit=limit
        )
    return [get(session, wid) for wid in repo.find_ids_by_mark(session, key, limit)]
