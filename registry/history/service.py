"""Recording a weapon's life: append-only events, checked against the lifecycle and the ITI rules.

A correction is an `amended` event pointing at the event it corrects (with `data.changes`, or
`data.retract = true` when the event should not have been recorded at all). Nothing here ever UPDATEs or
DELETEs a history row; the database triggers would refuse it anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.codes import STATE_ORG_KINDS, EventType, MarkCondition, MarkingKind, OriginEstablished, Status
from registry.db import utcnow
from registry.errors import Conflict, DuplicateMarking, MarkingRuleViolation, NotFound, ValidationError
from registry.history import lifecycle
from registry.history.inputs import EventInput, check_recovery_data, check_void_data, normalise_event
from registry.history.models import Event
from registry.markings import components, rules
from registry.markings.models import Marking
from registry.markings.rules import MarkingInput
from registry.organisations.models import Organisation
from registry.profiles import Profile
from registry.reference.service import Catalogue, load_catalogue, text_key
from registry.rows import complete
from registry.warnings import Warning
from registry.weapons import repository as repo
from registry.weapons.models import WeaponState


@dataclass
class Recorded:
    event: Event
    state: WeaponState
    marking: Marking | None = None
    warnings: list[Warning] = field(default_factory=list)


def marking_row(m: MarkingInput, *, weapon_id: uuid.UUID, actor: str, catalogue: Catalogue) -> dict[str, Any]:
    return complete(
        "markings",
        {
            "weapon_id": weapon_id,
            "component_id": uuid.UUID(m.component_id) if m.component_id else None,
            "kind": m.kind,
            "component_kind": m.component,
            "is_primary": rules.is_primary(m, catalogue),
            "text": m.text,
            "text_key": text_key(m.text),
            "manufacturer": m.manufacturer,
            "country": m.country,
            "serial": text_key(m.serial) if m.serial else None,
            "year": m.year,
            "transferring_state": m.transferring_state,
            "scheme_symbol": m.scheme_symbol,
            "method": m.method,
            "location_on_component": m.location,
            "exposed_surface": m.exposed_surface,
            "conspicuous": m.conspicuous,
            "readable": m.readable,
            "durable": m.durable,
            "recoverable": m.recoverable,
            "condition": m.condition,
            "payload": m.payload,
            "applied_on": m.applied_on,
            "station": m.station,
            "operator": m.operator,
            "verified": m.verified,
            "recorded_by": actor,
        },
    )


def event_row(
    ev: EventInput, *, weapon_id: uuid.UUID, seq: int, actor: str, marking_id: uuid.UUID | None
) -> dict[str, Any]:
    return complete(
        "events",
        {
            "weapon_id": weapon_id,
            "seq": seq,
            "type": ev.type,
            "occurred_at": ev.occurred_at,
            "recorded_by": actor,
            "from_org_id": ev.from_org_id,
            "to_org_id": ev.to_org_id,
            "from_person_id": ev.from_person_id,
            "to_person_id": ev.to_person_id,
            "from_country": ev.from_country,
            "to_country": ev.to_country,
            "location": ev.location,
            "documents": ev.documents,
            "data": ev.data,
            "notes": ev.notes,
            "corrects_event_id": ev.corrects_event_id,
            "marking_id": marking_id,
        },
    )


def state_values(state: lifecycle.DerivedState) -> dict[str, Any]:
    return {
        "status": state.status.value if state.status else Status.ACTIVE.value,
        "custodian_org_id": state.custodian_org_id,
        "holder_person_id": state.holder_person_id,
        "location": state.location,
        "country": state.country,
        "illicit": state.illicit,
        "pending_marking": state.pending_marking,
        "pending_transfer_event_id": state.pending_transfer_event_id,
        "details": state.details,
        "event_count": state.event_count,
        "last_event_at": state.last_event_at,
        "updated_at": utcnow(),
    }


class _Row:
    """Adapts an inserted row dict to the attribute access `lifecycle` expects."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)


def as_event_like(row: dict[str, Any]) -> lifecycle.EventLike:
    return _Row(row)  # type: ignore[return-value]


def check_event_rules(
    session: Session,
    *,
    etype: EventType,
    ev: EventInput,
    marking: MarkingInput | None,
    existing_marks: list[Marking],
    catalogue: Catalogue,
    profile: Profile,
    home_country: str | None,
) -> list[Warning]:
    """Rules specific to one kind of event (ITI 8, 9, Protocol 7). Raises on a broken rule."""
    warnings: list[Warning] = []
    if etype == EventType.EXPORTED:
        if not ev.to_country:
            raise ValidationError("an export must name the importing country", field="to_country")
        licence = next((d for d in ev.documents if d.get("kind") in ("export_licence", "licence")), None)
        if licence is None:
            raise ValidationError(
                "an international transfer records its export licence number (Firearms Protocol 7)",
                field="documents",
            )
        missing = [k for k in ("issued_on", "expires_on") if not licence.get(k)]
        if missing:
            warnings.append(
                Warning(
                    "licence_dates_missing",
                    f"the export licence should carry {' and '.join(missing)}",
                    "documents",
                )
            )
        if not ev.data.get("final_recipient"):
            warnings.append(
                Warning(
                    "final_recipient_missing",
                    "the final recipient should be recorded",
                    "data.final_recipient",
                )
            )
    elif etype == EventType.IMPORTED:
        temporary = bool(ev.data.get("temporary"))
        marks = [*existing_marks, *([marking] if marking else [])]
        has_import_mark = any(m.kind == MarkingKind.IMPORT for m in marks)
        if temporary and not ev.data.get("purpose"):
            raise ValidationError(
                "a temporary import states its verifiable lawful purpose", field="data.purpose"
            )
        if not temporary and not has_import_mark:
            raise MarkingRuleViolation(
                "a permanent import needs an import marking with the country of import (ITI 8(b))",
                field="markings",
            )
        if not temporary and not any(_is_unique(m, catalogue) for m in marks):
            raise MarkingRuleViolation(
                "a weapon without a unique mark cannot complete import until it is given one (ITI 8(b))",
                field="markings",
            )
    elif etype == EventType.TRANSFERRED:
        if not (ev.to_org_id or ev.to_person_id):
            raise ValidationError("a transfer names who receives the weapon", field="to_org_id")
        _check_state_transfer(session, ev, existing_marks, marking)
    elif etype in lifecycle.RECOVERY_EVENTS:
        warnings += recovery_rules(ev, etype, [*existing_marks, *([marking] if marking else [])], catalogue)
    elif etype == EventType.MARKED:
        if marking is None:
            raise ValidationError("a 'marked' event records the marking applied", field="marking")
        ev.data["unique_mark"] = rules.is_unique_mark(marking, catalogue)
    elif etype == EventType.ORIGIN_ASSESSED:
        origin = ev.data.get("origin_established")
        if origin not in OriginEstablished._value2member_map_:
            raise ValidationError(
                "origin_established must be one of: " + ", ".join(o.value for o in OriginEstablished),
                field="data.origin_established",
            )
    elif etype == EventType.RECORD_CUSTODY_TRANSFERRED:
        if not ev.to_org_id:
            raise ValidationError("custody of records passes to a named organisation", field="to_org_id")
    elif etype == EventType.VOIDED:
        check_void_data(ev)
    elif etype == EventType.DEACTIVATED and not any(
        m.kind == MarkingKind.DEACTIVATION for m in [*existing_marks, *([marking] if marking else [])]
    ):
        warnings.append(
            Warning(
                "deactivation_mark_missing",
                "a deactivated weapon should carry a deactivation marking (ISACS 05.30)",
                "marking",
            )
        )
    return warnings


def recovery_rules(
    ev: EventInput,
    etype: EventType,
    marks: list[Marking] | list[MarkingInput] | list[Any],
    catalogue: Catalogue,
) -> list[Warning]:
    """ITI 9 and REQ-14: a recovered weapon without a readable unique mark is pending until marked or
    destroyed; an altered or obliterated mark goes to criminal referral."""
    check_recovery_data(ev.data, etype)
    warnings: list[Warning] = []
    unmarked = not any(_is_unique(m, catalogue) for m in marks)
    damaged = ev.data["mark_condition"] != MarkCondition.INTACT
    ev.data["pending_marking"] = unmarked or damaged
    # The officer's observation or the condition recorded on any of the marks: either one refers.
    tampered = {ev.data["mark_condition"], *(m.condition for m in marks)} & {
        MarkCondition.ALTERED,
        MarkCondition.OBLITERATED,
    }
    if tampered:
        ev.data["criminal_referral"] = True
        warnings.append(
            Warning(
                "criminal_referral",
                f"the mark is {' and '.join(sorted(tampered))}: referred for "
                "criminal investigation (Firearms Protocol 5(1)(c))",
                "data.mark_condition",
            )
        )
    if ev.data["pending_marking"]:
        warnings.append(
            Warning(
                "pending_marking",
                "the weapon is listed as pending until it is uniquely marked "
                "and recorded, or destroyed (ITI 9)",
                "markings",
            )
        )
    return warnings


def _is_unique(m: Marking | MarkingInput, catalogue: Catalogue) -> bool:
    if isinstance(m, MarkingInput):
        return rules.is_unique_mark(m, catalogue)
    return (
        m.kind in rules.UNIQUE_KINDS
        and m.is_primary
        and bool(m.serial)
        and m.readable
        and m.condition == MarkCondition.INTACT
    )


def _check_state_transfer(
    session: Session, ev: EventInput, marks: list[Marking], marking: MarkingInput | None
) -> None:
    """ITI 8(c): state stock going to permanent civilian use carries a mark of the transferring state."""
    src = session.get(Organisation, ev.from_org_id) if ev.from_org_id else None
    dst = session.get(Organisation, ev.to_org_id) if ev.to_org_id else None
    if src is None or src.kind not in STATE_ORG_KINDS:
        return
    if dst is not None and dst.kind in STATE_ORG_KINDS:
        return
    if ev.data.get("temporary"):
        return
    all_marks = [*marks, *([marking] if marking else [])]
    if not any(m.kind == MarkingKind.STATE_TRANSFER for m in all_marks):
        raise MarkingRuleViolation(
            "a transfer from state stocks to permanent civilian use needs a marking that "
            "identifies the transferring state (ITI 8(c))",
            field="marking",
        )


def _organisation(session: Session, org_id: uuid.UUID | None, fld: str) -> Organisation | None:
    if org_id is None:
        return None
    org = session.get(Organisation, org_id)
    if org is None:
        raise ValidationError(f"no organisation {org_id}", field=fld, value=str(org_id))
    return org


def record_event(
    session: Session,
    *,
    actor: str,
    weapon_id: uuid.UUID,
    event: EventInput,
    profile: Profile,
    marking: MarkingInput | None = None,
    catalogue: Catalogue | None = None,
    home_country: str | None = None,
) -> Recorded:
    """Append one event to a weapon's history, with its marking if it records one, and audit it."""
    catalogue = catalogue or load_catalogue(session)
    now = utcnow()
    etype = normalise_event(event, now=now)
    state = repo.lock_state(session, weapon_id)
    if state is None:
        raise NotFound(f"no weapon {weapon_id}", field="weapon_id", value=str(weapon_id))
    src = _organisation(session, event.from_org_id, "from_org_id")
    dst = _organisation(session, event.to_org_id, "to_org_id")
    if marking is not None:
        rules.normalise(marking, catalogue=catalogue)
    warnings = rules.check(marking, profile=profile, catalogue=catalogue) if marking else []
    events = repo.events_of(session, weapon_id)
    existing_marks = repo.markings_of(session, weapon_id)
    current = lifecycle.derive_state(events, home_country=home_country)
    if etype == EventType.TRANSFERRED and event.from_org_id is None and event.from_person_id is None:
        # The giver is the current custodian even when the officer does not name it: ITI 8(c) and the
        # receiver's acceptance must not depend on remembering to fill in from_org_id.
        event.from_org_id = current.custodian_org_id
        src = _organisation(session, event.from_org_id, "from_org_id")
    elif (
        etype == EventType.TRANSFERRED
        and current.custodian_org_id
        and event.from_org_id != current.custodian_org_id
    ):
        # The record must not say a weapon came from someone who did not hold it (and so dodge ITI 8(c)).
        raise ValidationError(
            f"the weapon is held by organisation {current.custodian_org_id}, not by the giver named",
            field="from_org_id",
            value=str(event.from_org_id),
            custodian_org_id=str(current.custodian_org_id),
        )
    if etype == EventType.MARKED and marking is not None and marking.kind == MarkingKind.REMARKING:
        _refuse_duplicate_remark(session, marking)
    if etype == EventType.AMENDED:
        _check_amendment(event, events, home_country)
    else:
        lifecycle.check_transition(current.status, etype)
    if etype == EventType.TRANSFERRED and src is not None and dst is not None:
        # Between two organisations the receiver must accept before custody moves.
        event.data["pending"] = True
    if etype == EventType.TRANSFER_ACCEPTED or etype == EventType.TRANSFER_REJECTED:
        event.corrects_event_id = None
        event.data["transfer_event_id"] = str(current.pending_transfer_event_id)
    warnings += check_event_rules(
        session,
        etype=etype,
        ev=event,
        marking=marking,
        existing_marks=existing_marks,
        catalogue=catalogue,
        profile=profile,
        home_country=home_country,
    )
    moves = (
        components.plan_replacement(session, weapon_id=weapon_id, data=event.data)
        if etype == EventType.COMPONENT_REPLACED
        else []
    )
    m_row = marking_row(marking, weapon_id=weapon_id, actor=actor, catalogue=catalogue) if marking else None
    e_row = event_row(
        event,
        weapon_id=weapon_id,
        seq=len(events) + 1,
        actor=actor,
        marking_id=m_row["id"] if m_row else None,
    )
    try:
        with session.begin_nested():
            if m_row:
                repo.insert_markings(session, [m_row])
            repo.insert_events(session, [e_row])
            move_refs = components.record_moves(
                session,
                weapon_id=weapon_id,
                event_id=e_row["id"],
                occurred_at=e_row["occurred_at"],
                moves=moves,
            )
    except IntegrityError as exc:
        raise Conflict(
            "another officer recorded an event on this weapon at the same moment; reload and retry",
            field="weapon_id",
            value=str(weapon_id),
        ) from exc
    new_state = lifecycle.derive_state([*events, as_event_like(e_row)], home_country=home_country)
    repo.update_state(session, weapon_id, state_values(new_state))
    records = [audit.snapshot("events", e_row), *move_refs] + (
        [audit.snapshot("markings", m_row)] if m_row else []
    )
    audit.record(
        session,
        actor=actor,
        action=f"event.{etype.value}",
        subject=f"weapon:{weapon_id}",
        records=records,
        info={"seq": e_row["seq"]},
    )
    session.flush()
    session.refresh(state)
    ev_obj = repo.get_event(session, e_row["id"])
    mk_obj = session.get(Marking, m_row["id"]) if m_row else None
    assert ev_obj is not None
    return Recorded(ev_obj, state, mk_obj, warnings)


def _refuse_duplicate_remark(session: Session, marking: MarkingInput) -> None:
    """A re-mark gives a found weapon its unique identity: two weapons must not share it."""
    if not marking.serial:
        return
    clash = repo.remark_holder(session, country=marking.country, serial_key=text_key(marking.serial))
    if clash is not None:
        raise DuplicateMarking(
            f"re-mark serial {marking.serial} of {marking.country} is already on weapon {clash}",
            field="marking.serial",
            existing_weapon_id=str(clash),
        )


def _check_amendment(ev: EventInput, events: list[Event], home_country: str | None) -> None:
    if ev.corrects_event_id is None:
        raise ValidationError("an amendment names the event it corrects", field="corrects_event_id")
    target = next((e for e in events if e.id == ev.corrects_event_id), None)
    if target is None:
        raise ValidationError(
            "the corrected event is not in this weapon's history",
            field="corrects_event_id",
            value=str(ev.corrects_event_id),
        )
    if target.type == EventType.AMENDED:
        raise ValidationError("amend the original event, not an amendment", field="corrects_event_id")
    if not ev.data.get("changes") and not ev.data.get("retract"):
        raise ValidationError(
            "an amendment gives the corrected fields in data.changes, or data.retract = true",
            field="data.changes",
        )
    if not ev.notes.strip():
        raise ValidationError("an amendment explains why in the notes", field="notes")
    if ev.data.get("retract") and target.seq == 1:
        raise ValidationError(
            "the first event is how the weapon entered the record and cannot be retracted; "
            "void the registration instead (reason duplicate or error)",
            field="corrects_event_id",
            value=str(target.id),
        )
    if ev.data.get("retract"):
        # The history without the retracted event must still make sense.
        remaining = [e for e in events if e.id != target.id]
        lifecycle.derive_state(remaining, home_country=home_country)


def history(session: Session, weapon_id: uuid.UUID) -> list[Event]:
    if repo.get_weapon(session, weapon_id) is None:
        raise NotFound(f"no weapon {weapon_id}", field="weapon_id", value=str(weapon_id))
    return repo.events_of(session, weapon_id)


def effective_changes(events: list[Event]) -> dict[str, dict[str, Any]]:
    """For each event id, the fields as amended (later amendments win)."""
    out: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.type == EventType.AMENDED and e.corrects_event_id:
            out.setdefault(str(e.corrects_event_id), {}).update(e.data.get("changes") or {})
    return out
