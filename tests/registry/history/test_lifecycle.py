"""The lifecycle as data: `check_transition`, `derive_state` over histories, and a property tying them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.codes import EventType as E
from registry.codes import Status as S  # noqa: N817
from registry.errors import InvalidTransition
from registry.history import lifecycle
from registry.history.lifecycle import RULES, check_transition, derive_state

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Ev:
    type: str
    seq: int
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    occurred_at: datetime = T0
    to_org_id: uuid.UUID | None = None
    to_person_id: uuid.UUID | None = None
    to_country: str | None = None
    location: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    corrects_event_id: uuid.UUID | None = None


def history(*specs: str | tuple[str, dict[str, Any]]) -> list[Ev]:
    out = []
    for i, spec in enumerate(specs, start=1):
        etype, kw = (spec, {}) if isinstance(spec, str) else spec
        out.append(Ev(type=etype, seq=i, occurred_at=T0 + timedelta(days=i), **kw))
    return out


def status_of(*specs: str | tuple[str, dict[str, Any]]) -> S | None:
    return derive_state(history(*specs), home_country="KE").status


# --- check_transition -----------------------------------------------------------------------------------


def test_initial_events_are_the_ways_a_weapon_enters_the_record() -> None:
    assert {E.MANUFACTURED, E.IMPORTED, E.FOUND, E.SEIZED, E.SURRENDERED} == lifecycle.INITIAL_EVENTS


def test_history_cannot_start_with_a_transfer() -> None:
    with pytest.raises(InvalidTransition, match="cannot start with 'transferred'") as exc:
        check_transition(None, E.TRANSFERRED)
    assert exc.value.details["current_status"] is None


def test_refusal_names_the_current_status_and_what_is_allowed() -> None:
    with pytest.raises(
        InvalidTransition, match="the weapon is destroyed; 'exported' needs it to be one of active"
    ):
        check_transition(S.DESTROYED, E.EXPORTED)


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.DESTROYED, E.STOLEN),
        (S.DESTROYED, E.DESTROYED),
        (S.EXPORTED, E.TRANSFERRED),
        (S.EXPORTED, E.EXPORTED),
        (S.STOLEN, E.TRANSFERRED),
        (S.LOST, E.EXPORTED),
        (S.VOIDED, E.FOUND),
        (S.ACTIVE, E.IMPORTED),
        (S.ACTIVE, E.TRANSFER_ACCEPTED),
        (S.TRANSFER_PENDING, E.TRANSFERRED),
    ],
)
def test_impossible_transitions_are_refused(status: S, event: E) -> None:
    with pytest.raises(InvalidTransition, match=f"the weapon is {status}"):
        check_transition(status, event)


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.EXPORTED, E.IMPORTED),
        (S.STOLEN, E.FOUND),
        (S.LOST, E.FOUND),
        (S.RECOVERED, E.DESTROYED),
        (S.RECOVERED, E.MARKED),
        (S.DESTROYED, E.ORIGIN_ASSESSED),
        (S.VOIDED, E.AMENDED),
    ],
)
def test_possible_transitions_pass(status: S, event: E) -> None:
    check_transition(status, event)


# --- derive_state ---------------------------------------------------------------------------------------


def test_empty_history_has_no_status() -> None:
    state = derive_state([])
    assert (state.status, state.event_count, state.last_event_at) == (None, 0, None)


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (("manufactured",), S.ACTIVE),
        (("imported", "stolen"), S.STOLEN),
        (("imported", "stolen", "found"), S.RECOVERED),
        (("imported", "lost", "found", "destroyed"), S.DESTROYED),
        (("manufactured", "exported", "imported"), S.ACTIVE),
        (("manufactured", "deactivated", "stolen"), S.STOLEN),
        (("found", "marked", "destroyed"), S.DESTROYED),
        (("imported", "origin_assessed", "component_replaced"), S.ACTIVE),
        (("imported", ("voided", {"data": {"reason": "error"}})), S.VOIDED),
    ],
)
def test_status_after_a_history(specs: tuple, expected: S) -> None:
    assert status_of(*specs) == expected


def test_invalid_history_cannot_be_derived() -> None:
    with pytest.raises(InvalidTransition, match="the weapon is destroyed"):
        derive_state(history("imported", "destroyed", "stolen"))


def test_events_are_replayed_in_sequence_order() -> None:
    events = history("imported", "stolen", "found")
    assert derive_state(list(reversed(events))).status == S.RECOVERED


def test_country_follows_imports_and_exports() -> None:
    state = derive_state(history(("imported", {"to_country": "KE"}), ("exported", {"to_country": "UG"})))
    assert state.country == "UG"
    assert derive_state(history("manufactured"), home_country="KE").country == "KE"
    assert derive_state(history("imported"), home_country="TZ").country == "TZ"


def test_custody_moves_only_when_a_pending_transfer_is_accepted() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    events = history(
        ("imported", {"to_org_id": a}),
        ("transferred", {"to_org_id": b, "data": {"pending": True}}),
    )
    pending = derive_state(events)
    assert (pending.status, pending.custodian_org_id, pending.pending_transfer_event_id) == (
        S.TRANSFER_PENDING,
        a,
        events[1].id,
    )
    accepted = derive_state([*events, Ev(type="transfer_accepted", seq=3)])
    assert (accepted.status, accepted.custodian_org_id, accepted.pending_transfer_event_id) == (
        S.ACTIVE,
        b,
        None,
    )
    rejected = derive_state([*events, Ev(type="transfer_rejected", seq=3)])
    assert (rejected.status, rejected.custodian_org_id) == (S.ACTIVE, a)


def test_recovery_without_unique_mark_is_pending_until_marked() -> None:
    found = ("found", {"data": {"pending_marking": True, "illicit_grounds": ["not_marked"]}})
    state = derive_state(history(found))
    assert (state.pending_marking, state.illicit) == (True, True)
    assert derive_state(history(found, ("marked", {"data": {"unique_mark": False}}))).pending_marking is True
    assert derive_state(history(found, ("marked", {"data": {"unique_mark": True}}))).pending_marking is False
    assert derive_state(history(found, "destroyed")).pending_marking is False


def test_retracted_event_is_skipped_but_counted() -> None:
    events = history("imported", "stolen")
    retraction = Ev(type="amended", seq=3, corrects_event_id=events[1].id, data={"retract": True})
    state = derive_state([*events, retraction])
    assert state.status == S.ACTIVE
    assert state.event_count == 3
    assert state.last_event_at == T0 + timedelta(days=2)


def test_amendment_with_changes_does_not_change_the_status() -> None:
    events = history("imported", "stolen")
    fix = Ev(type="amended", seq=3, corrects_event_id=events[1].id, data={"changes": {"location": "x"}})
    assert derive_state([*events, fix]).status == S.STOLEN


# --- property: accepting events one by one agrees with replaying them ----------------------------------

# (event type, data): transfers come in both forms, immediate and pending acceptance.
STEPS = [(t, {}) for t in E] + [(E.TRANSFERRED, {"pending": True})]


def accepts(status: S | None, etype: E) -> bool:
    """Whether the service would accept this event now (it asks `check_transition` exactly like this)."""
    try:
        check_transition(status, etype)
    except InvalidTransition:
        return False
    return True


def step(status: S | None, etype: E, data: dict[str, Any], before_transfer: S | None) -> S | None:
    """The status after one accepted event, read off RULES (the table, not derive_state's code), plus the one
    rule the table cannot say: a rejected transfer returns the weapon to its status before the transfer."""
    if etype == E.TRANSFERRED and data.get("pending"):
        return S.TRANSFER_PENDING
    if etype == E.TRANSFER_REJECTED:
        return before_transfer
    return RULES[etype].to or status


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STEPS), max_size=40))
def test_accepting_events_one_by_one_matches_derive_state(steps: list[tuple[E, dict[str, Any]]]) -> None:
    status: S | None = None
    before_transfer: S | None = None
    accepted: list[Ev] = []
    for etype, data in steps:
        if etype == E.AMENDED or not accepts(status, etype):
            continue  # amendments need a target; they are covered by the retraction tests above
        accepted.append(Ev(type=etype.value, seq=len(accepted) + 1, data=dict(data)))
        if etype == E.TRANSFERRED and data.get("pending"):
            before_transfer = status
        status = step(status, etype, data, before_transfer)
        assert derive_state(accepted).status == status
    state = derive_state(accepted)
    assert state.status == status
    assert state.event_count == len(accepted)
    if status != S.TRANSFER_PENDING:
        assert state.pending_transfer_event_id is None
