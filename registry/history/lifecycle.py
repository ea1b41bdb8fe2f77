"""The weapon lifecycle as data: which event may follow which status, and the state a history implies.

Pure: no database. The service checks each new event with `check_transition`; `derive_state` replays a whole
history, which is how the stored projection is rebuilt and checked.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from registry.codes import EventType as E
from registry.codes import Status as S  # noqa: N817
from registry.errors import InvalidTransition

LIVE = frozenset({S.ACTIVE, S.TRANSFER_PENDING, S.EXPORTED, S.LOST, S.STOLEN, S.RECOVERED, S.DEACTIVATED})
ANY_RECORDED = LIVE | {S.DESTROYED}
INITIAL = None  # a weapon with no history yet


@dataclass(frozen=True)
class Rule:
    allowed_from: frozenset[S | None]
    to: S | None  # None: the status does not change


RULES: dict[E, Rule] = {
    E.MANUFACTURED: Rule(frozenset({INITIAL}), S.ACTIVE),
    E.IMPORTED: Rule(frozenset({INITIAL, S.EXPORTED}), S.ACTIVE),  # first entry, or re-import
    E.MARKED: Rule(frozenset({S.ACTIVE, S.RECOVERED, S.DEACTIVATED, S.TRANSFER_PENDING}), None),
    E.EXPORTED: Rule(frozenset({S.ACTIVE}), S.EXPORTED),
    E.TRANSFERRED: Rule(frozenset({S.ACTIVE, S.RECOVERED}), S.ACTIVE),  # or TRANSFER_PENDING, see below
    E.TRANSFER_ACCEPTED: Rule(frozenset({S.TRANSFER_PENDING}), S.ACTIVE),
    E.TRANSFER_REJECTED: Rule(frozenset({S.TRANSFER_PENDING}), S.ACTIVE),
    E.LOST: Rule(frozenset({S.ACTIVE, S.TRANSFER_PENDING, S.RECOVERED}), S.LOST),
    E.STOLEN: Rule(frozenset({S.ACTIVE, S.TRANSFER_PENDING, S.RECOVERED, S.DEACTIVATED}), S.STOLEN),
    E.FOUND: Rule(frozenset({INITIAL, S.ACTIVE, S.LOST, S.STOLEN, S.EXPORTED}), S.RECOVERED),
    E.SEIZED: Rule(
        frozenset({INITIAL, S.ACTIVE, S.TRANSFER_PENDING, S.LOST, S.STOLEN, S.EXPORTED, S.DEACTIVATED}),
        S.RECOVERED,
    ),
    E.SURRENDERED: Rule(
        frozenset({INITIAL, S.ACTIVE, S.LOST, S.STOLEN, S.EXPORTED, S.DEACTIVATED}), S.RECOVERED
    ),
    E.ORIGIN_ASSESSED: Rule(ANY_RECORDED, None),
    E.DEACTIVATED: Rule(frozenset({S.ACTIVE, S.RECOVERED}), S.DEACTIVATED),
    E.DESTROYED: Rule(frozenset({S.ACTIVE, S.RECOVERED, S.DEACTIVATED}), S.DESTROYED),
    E.COMPONENT_REPLACED: Rule(frozenset({S.ACTIVE, S.RECOVERED}), None),
    E.RECORD_CUSTODY_TRANSFERRED: Rule(ANY_RECORDED, None),
    E.AMENDED: Rule(ANY_RECORDED | {S.VOIDED}, None),
    E.VOIDED: Rule(ANY_RECORDED, S.VOIDED),
}

RECOVERY_EVENTS = frozenset({E.FOUND, E.SEIZED, E.SURRENDERED})
INITIAL_EVENTS = frozenset(t for t, r in RULES.items() if INITIAL in r.allowed_from)


def check_transition(current: S | None, event_type: E) -> None:
    rule = RULES[event_type]
    if current not in rule.allowed_from:
        if current is None:
            raise InvalidTransition(
                f"a weapon's history cannot start with '{event_type}'; it starts with one of "
                f"{', '.join(sorted(INITIAL_EVENTS))}",
                field="type",
                current_status=None,
                event_type=str(event_type),
            )
        allowed = sorted(str(s) for s in rule.allowed_from if s is not None)
        raise InvalidTransition(
            f"cannot record '{event_type}': the weapon is {current}; '{event_type}' needs it to be one of "
            f"{', '.join(allowed)}",
            field="type",
            current_status=str(current),
            event_type=str(event_type),
        )


class EventLike(Protocol):
    id: uuid.UUID
    seq: int
    type: str
    occurred_at: datetime
    to_org_id: uuid.UUID | None
    to_person_id: uuid.UUID | None
    to_country: str | None
    location: str | None
    data: Mapping[str, Any]
    corrects_event_id: uuid.UUID | None


@dataclass
class DerivedState:
    status: S | None = None
    custodian_org_id: uuid.UUID | None = None
    holder_person_id: uuid.UUID | None = None
    location: str | None = None
    country: str | None = None
    illicit: bool = False
    pending_marking: bool = False
    pending_transfer_event_id: uuid.UUID | None = None
    pending_to: tuple[uuid.UUID | None, uuid.UUID | None] | None = None
    pending_from_status: S | None = None  # where a rejected transfer returns the weapon
    event_count: int = 0
    last_event_at: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)


def retracted_ids(events: Iterable[EventLike]) -> set[uuid.UUID]:
    return {
        e.corrects_event_id
        for e in events
        if e.type == E.AMENDED and e.data.get("retract") and e.corrects_event_id
    }


def derive_state(events: Iterable[EventLike], *, home_country: str | None = None) -> DerivedState:
    """Replay a history in sequence order. Events retracted by an amendment are skipped."""
    ordered = sorted(events, key=lambda e: e.seq)
    skip = retracted_ids(ordered)
    state = DerivedState()
    for ev in ordered:
        state.event_count += 1
        state.last_event_at = (
            ev.occurred_at if state.last_event_at is None else max(state.last_event_at, ev.occurred_at)
        )
        if ev.id in skip or ev.type == E.AMENDED:
            continue
        apply(state, ev, home_country=home_country)
    return state


def apply(state: DerivedState, ev: EventLike, *, home_country: str | None = None) -> None:
    """Apply one (already checked) event to a state."""
    etype = E(ev.type)
    check_transition(state.status, etype)
    rule = RULES[etype]
    before = state.status
    if rule.to is not None:
        state.status = rule.to
    data = ev.data or {}
    if etype in (E.MANUFACTURED, E.IMPORTED) or (etype == E.TRANSFERRED and not data.get("pending")):
        _take_custody(state, ev)
        if etype == E.IMPORTED:
            state.country = ev.to_country or home_country
        elif etype == E.MANUFACTURED:
            state.country = home_country or state.country
    if etype == E.TRANSFERRED and data.get("pending"):
        state.status = S.TRANSFER_PENDING
        state.pending_transfer_event_id = ev.id
        state.pending_to = (ev.to_org_id, ev.to_person_id)
        state.pending_from_status = before
    if etype in (E.TRANSFER_ACCEPTED, E.TRANSFER_REJECTED):
        if etype == E.TRANSFER_ACCEPTED and state.pending_to:
            state.custodian_org_id, state.holder_person_id = state.pending_to
        if etype == E.TRANSFER_REJECTED and state.pending_from_status is not None:
            # A refused hand-over leaves the weapon as it was (a recovered weapon stays recovered).
            state.status = state.pending_from_status
        state.pending_transfer_event_id = None
        state.pending_to = None
    if etype == E.EXPORTED:
        state.country = ev.to_country
        state.custodian_org_id = None
        state.holder_person_id = None
    if etype in RECOVERY_EVENTS:
        _take_custody(state, ev)
        state.illicit = bool(data.get("illicit_grounds"))
        state.pending_marking = bool(data.get("pending_marking"))
        state.details["recovery"] = {
            "kind": str(etype),
            "event_id": str(ev.id),
            "at": ev.occurred_at.isoformat(),
            "criminal_offence": bool(data.get("criminal_offence")),
            "origin": data.get("origin_established", "pending"),
        }
    if etype == E.ORIGIN_ASSESSED and "recovery" in state.details:
        state.details["recovery"]["origin"] = data.get("origin_established")
        state.details["recovery"]["origin_method"] = data.get("method")
    if etype == E.MARKED and data.get("unique_mark"):
        state.pending_marking = False
    if etype == E.DESTROYED:
        state.pending_marking = False
    if etype in (E.LOST, E.STOLEN):
        state.details["reported"] = {"kind": str(etype), "at": ev.occurred_at.isoformat()}
    if ev.location:
        state.location = ev.location
    if state.status != S.TRANSFER_PENDING:
        # Leaving transfer_pending other than by acceptance or rejection (lost, stolen or seized on the
        # way) cancels the transfer: nobody can accept it any more, so it must not stay "pending".
        state.pending_transfer_event_id = None
        state.pending_to = None
        state.pending_from_status = None


def _take_custody(state: DerivedState, ev: EventLike) -> None:
    if ev.to_org_id or ev.to_person_id:
        state.custodian_org_id = ev.to_org_id
        state.holder_person_id = ev.to_person_id
