"""Recording events: the lifecycle through the service, and the rules of ITI 6, 8, 9 and Protocol 7."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from registry.codes import IllicitGround, OrgKind, Status
from registry.errors import (
    DuplicateMarking,
    InvalidTransition,
    MarkingRuleViolation,
    NotFound,
    ValidationError,
)
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.weapons import service as weapons
from tests.factories import (
    HOME,
    export_event,
    manufacture_marking,
    organisation,
    person,
    record,
    register_weapon,
    remarking,
    state_transfer_marking,
    unique_serial,
)


def codes(warnings: list) -> set[str]:
    return {w.code for w in warnings}


# --- the lifecycle through the service ------------------------------------------------------------------


def test_events_are_numbered_in_order(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    record(session, wid, EventInput(type="stolen", location="Nakuru"))
    record(session, wid, EventInput(type="found", location="Eldoret"))
    assert [(e.seq, e.type) for e in history.history(session, wid)] == [
        (1, "imported"),
        (2, "stolen"),
        (3, "found"),
    ]
    _weapon, state = weapons.get(session, wid)
    assert (state.status, state.location, state.event_count) == (Status.RECOVERED, "Eldoret", 3)


def test_event_on_an_unknown_weapon_is_not_found(session: Session) -> None:
    with pytest.raises(NotFound):
        record(session, uuid.uuid4(), EventInput(type="stolen"))


def test_destroyed_weapon_cannot_be_exported(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    record(session, wid, EventInput(type="destroyed"))
    with pytest.raises(InvalidTransition, match="the weapon is destroyed") as exc:
        record(session, wid, export_event())
    assert exc.value.details["current_status"] == "destroyed"
    assert len(history.history(session, wid)) == 2


def test_exported_weapon_cannot_be_transferred_at_home_until_reimported(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    dealer = organisation(session)
    exported = record(session, wid, export_event("UG"))
    assert (exported.state.status, exported.state.country) == (Status.EXPORTED, "UG")
    with pytest.raises(InvalidTransition, match="the weapon is exported"):
        record(session, wid, EventInput(type="transferred", to_org_id=dealer.id))

    back = record(session, wid, EventInput(type="imported", to_country=HOME))
    assert (back.state.status, back.state.country) == (Status.ACTIVE, HOME)
    moved = record(session, wid, EventInput(type="transferred", to_org_id=dealer.id))
    assert moved.state.custodian_org_id == dealer.id


def test_active_weapon_cannot_be_imported_again(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(InvalidTransition, match="the weapon is active"):
        record(session, wid, EventInput(type="imported", to_country=HOME))


@pytest.mark.parametrize("loss", ["stolen", "lost"])
def test_stolen_or_lost_weapon_can_be_found(session: Session, loss: str) -> None:
    wid = register_weapon(session).weapon.id
    gone = record(session, wid, EventInput(type=loss))
    assert gone.state.status == loss
    assert gone.state.details["reported"]["kind"] == loss
    back = record(session, wid, EventInput(type="found", location="Mombasa"))
    assert back.state.status == Status.RECOVERED
    assert back.state.pending_marking is False  # its unique mark is intact
    assert back.state.details["recovery"]["kind"] == "found"


def test_stolen_weapon_cannot_be_reported_stolen_twice(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    record(session, wid, EventInput(type="stolen"))
    with pytest.raises(InvalidTransition, match="the weapon is stolen"):
        record(session, wid, EventInput(type="stolen"))


def test_history_cannot_start_with_a_theft(session: Session) -> None:
    with pytest.raises(InvalidTransition, match="cannot start with 'stolen'"):
        register_weapon(session, event=EventInput(type="stolen"))


def test_event_in_the_future_is_refused(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="future") as exc:
        record(session, wid, EventInput(type="stolen", occurred_at=datetime.now(UTC) + timedelta(days=1)))
    assert exc.value.field == "occurred_at"


# --- REQ-22: exports ------------------------------------------------------------------------------------


def test_export_needs_the_importing_country(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="importing country") as exc:
        record(session, wid, export_event(to_country=None))  # type: ignore[arg-type]
    assert exc.value.field == "to_country"


def test_export_needs_an_export_licence(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="export licence") as exc:
        record(session, wid, export_event(documents=[{"kind": "end_user_certificate", "number": "EUC-9"}]))
    assert exc.value.field == "documents"


def test_export_licence_needs_a_number(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="number") as exc:
        record(session, wid, export_event(documents=[{"kind": "export_licence"}]))
    assert exc.value.field == "documents[0]"


def test_export_without_licence_dates_or_final_recipient_warns(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    done = record(
        session, wid, export_event(documents=[{"kind": "export_licence", "number": "E-2"}], data={})
    )
    assert codes(done.warnings) == {"licence_dates_missing", "final_recipient_missing"}
    assert done.state.status == Status.EXPORTED


def test_complete_export_records_licence_and_transit_and_leaves_custody(session: Session) -> None:
    dealer = organisation(session)
    wid = register_weapon(
        session, event=EventInput(type="imported", to_country=HOME, to_org_id=dealer.id)
    ).weapon.id
    done = record(
        session,
        wid,
        export_event(
            "UGA", data={"final_recipient": "Uganda Police Force", "transit_countries": ["TZA", "RW"]}
        ),
    )
    assert done.warnings == []
    assert done.event.to_country == "UG"
    assert done.event.data["transit_countries"] == ["TZ", "RW"]
    assert done.event.documents[0]["number"] == "EXP-1"
    assert (done.state.country, done.state.custodian_org_id) == ("UG", None)


# --- REQ-03, REQ-14, REQ-39: recoveries -----------------------------------------------------------------


def test_seizure_must_say_whether_it_is_linked_to_a_criminal_offence(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="criminal offence") as exc:
        record(session, wid, EventInput(type="seized"))
    assert exc.value.field == "data.criminal_offence"
    done = record(session, wid, EventInput(type="seized", data={"criminal_offence": True}))
    assert done.state.details["recovery"]["criminal_offence"] is True


def test_illicit_needs_at_least_one_ground(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="at least one ground") as exc:
        record(session, wid, EventInput(type="seized", data={"criminal_offence": True, "illicit": True}))
    assert exc.value.field == "data.illicit_grounds"


def test_illicit_ground_must_be_an_iti_ground(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="looks_dodgy") as exc:
        record(
            session,
            wid,
            EventInput(type="seized", data={"criminal_offence": False, "illicit_grounds": ["looks_dodgy"]}),
        )
    assert exc.value.field == "data.illicit_grounds"


@pytest.mark.parametrize("ground", list(IllicitGround))
def test_each_iti_ground_makes_the_weapon_illicit(session: Session, ground: IllicitGround) -> None:
    wid = register_weapon(session).weapon.id
    done = record(
        session,
        wid,
        EventInput(
            type="seized", data={"criminal_offence": True, "illicit": True, "illicit_grounds": [ground.value]}
        ),
    )
    assert done.state.illicit is True


@pytest.mark.parametrize("condition", ["obliterated", "altered"])
def test_tampered_mark_is_referred_and_pending_marking(session: Session, condition: str) -> None:
    wid = register_weapon(session).weapon.id
    done = record(session, wid, EventInput(type="found", data={"mark_condition": condition}))
    assert {"criminal_referral", "pending_marking"} <= codes(done.warnings)
    assert done.event.data["criminal_referral"] is True
    assert done.state.pending_marking is True


def test_mark_recorded_as_obliterated_is_referred_whatever_the_event_says(session: Session) -> None:
    serial = unique_serial()
    reg = register_weapon(
        session,
        serial=serial,
        markings=[manufacture_marking(serial, condition="obliterated")],
        event=EventInput(type="seized", data={"criminal_offence": True}),
    )
    assert reg.event.data["criminal_referral"] is True
    assert {"mark_tampered", "criminal_referral", "pending_marking"} <= codes(reg.warnings)
    assert reg.state.pending_marking is True


def test_intact_mark_is_not_referred(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    done = record(session, wid, EventInput(type="found", data={"mark_condition": "intact"}))
    assert "criminal_referral" not in done.event.data
    assert done.warnings == []


def test_unknown_mark_condition_is_refused(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError) as exc:
        record(session, wid, EventInput(type="found", data={"mark_condition": "scratched"}))
    assert exc.value.field == "data.mark_condition"


def test_origin_assessment_updates_the_recovery(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    record(session, wid, EventInput(type="seized", data={"criminal_offence": True}))
    with pytest.raises(ValidationError) as exc:
        record(session, wid, EventInput(type="origin_assessed", data={"origin_established": "guessed"}))
    assert exc.value.field == "data.origin_established"
    done = record(session, wid, EventInput(type="origin_assessed", data={"origin_established": "by_tracing"}))
    assert done.state.details["recovery"]["origin"] == "by_tracing"


# --- transfers: REQ-09 and acceptance -------------------------------------------------------------------


def _held_by(session: Session, org_id: uuid.UUID) -> uuid.UUID:
    return register_weapon(
        session, event=EventInput(type="imported", to_country=HOME, to_org_id=org_id)
    ).weapon.id


def test_transfer_names_a_receiver(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="receives") as exc:
        record(session, wid, EventInput(type="transferred"))
    assert exc.value.field == "to_org_id"


def test_transfer_to_an_unknown_organisation_is_refused(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="no organisation") as exc:
        record(session, wid, EventInput(type="transferred", to_org_id=uuid.uuid4()))
    assert exc.value.field == "to_org_id"


def test_state_stock_to_civilian_needs_a_state_transfer_marking(session: Session) -> None:
    stock = organisation(session, kind=OrgKind.STOCKPILE)
    dealer = organisation(session, kind=OrgKind.DEALER)
    wid = _held_by(session, stock.id)
    move = EventInput(type="transferred", from_org_id=stock.id, to_org_id=dealer.id)
    with pytest.raises(MarkingRuleViolation, match="transferring state") as exc:
        record(session, wid, move)
    assert exc.value.field == "marking"

    done = record(
        session,
        wid,
        EventInput(type="transferred", from_org_id=stock.id, to_org_id=dealer.id),
        marking=state_transfer_marking("KEN"),
    )
    assert done.marking is not None
    assert (done.marking.kind, done.marking.transferring_state) == ("state_transfer", "KE")
    assert done.event.marking_id == done.marking.id


def test_state_stock_to_a_private_person_needs_a_state_transfer_marking(session: Session) -> None:
    police = organisation(session, kind=OrgKind.LAW_ENFORCEMENT)
    holder = person(session)
    wid = _held_by(session, police.id)
    with pytest.raises(MarkingRuleViolation, match="ITI 8"):
        record(session, wid, EventInput(type="transferred", from_org_id=police.id, to_person_id=holder.id))


def test_state_transfer_rule_applies_when_the_giver_is_not_named(session: Session) -> None:
    # The weapon is in a state stockpile: leaving out from_org_id must not skip ITI 8(c).
    stock = organisation(session, kind=OrgKind.STOCKPILE)
    holder = person(session)
    wid = _held_by(session, stock.id)
    with pytest.raises(MarkingRuleViolation, match="ITI 8"):
        record(session, wid, EventInput(type="transferred", to_person_id=holder.id))
    done = record(
        session, wid, EventInput(type="transferred", to_person_id=holder.id), marking=state_transfer_marking()
    )
    assert done.event.from_org_id == stock.id
    assert (done.state.custodian_org_id, done.state.holder_person_id) == (None, holder.id)


def test_state_transfer_marking_must_name_the_state(session: Session) -> None:
    stock = organisation(session, kind=OrgKind.STOCKPILE)
    dealer = organisation(session)
    wid = _held_by(session, stock.id)
    with pytest.raises(MarkingRuleViolation) as exc:
        record(
            session,
            wid,
            EventInput(type="transferred", from_org_id=stock.id, to_org_id=dealer.id),
            marking=state_transfer_marking(None),
        )
    assert exc.value.field == "marking.transferring_state"


def test_transfer_between_state_bodies_needs_no_state_mark(session: Session) -> None:
    army = organisation(session, kind=OrgKind.ARMED_FORCES)
    police = organisation(session, kind=OrgKind.LAW_ENFORCEMENT)
    wid = _held_by(session, army.id)
    done = record(session, wid, EventInput(type="transferred", from_org_id=army.id, to_org_id=police.id))
    assert done.state.status == Status.TRANSFER_PENDING


def test_transfer_between_organisations_waits_for_acceptance(session: Session) -> None:
    a, b = organisation(session), organisation(session)
    wid = _held_by(session, a.id)
    sent = record(session, wid, EventInput(type="transferred", from_org_id=a.id, to_org_id=b.id))
    assert sent.state.status == Status.TRANSFER_PENDING
    assert sent.state.custodian_org_id == a.id
    assert sent.state.pending_transfer_event_id == sent.event.id

    took = record(session, wid, EventInput(type="transfer_accepted"))
    assert took.state.status == Status.ACTIVE
    assert took.state.custodian_org_id == b.id
    assert took.state.pending_transfer_event_id is None
    assert took.event.data["transfer_event_id"] == str(sent.event.id)


def test_transfer_without_naming_the_giver_still_waits_for_acceptance(session: Session) -> None:
    a, b = organisation(session), organisation(session)
    wid = _held_by(session, a.id)
    sent = record(session, wid, EventInput(type="transferred", to_org_id=b.id))
    assert sent.state.status == Status.TRANSFER_PENDING
    assert sent.state.custodian_org_id == a.id


def test_rejected_transfer_keeps_the_custodian(session: Session) -> None:
    a, b = organisation(session), organisation(session)
    wid = _held_by(session, a.id)
    record(session, wid, EventInput(type="transferred", from_org_id=a.id, to_org_id=b.id))
    back = record(session, wid, EventInput(type="transfer_rejected", notes="paperwork incomplete"))
    assert back.state.status == Status.ACTIVE
    assert back.state.custodian_org_id == a.id
    assert back.state.pending_transfer_event_id is None


def test_acceptance_without_a_pending_transfer_is_refused(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(InvalidTransition, match="the weapon is active"):
        record(session, wid, EventInput(type="transfer_accepted"))


def test_transfer_to_a_person_moves_custody_at_once(session: Session) -> None:
    dealer = organisation(session)
    holder = person(session)
    wid = _held_by(session, dealer.id)
    done = record(session, wid, EventInput(type="transferred", from_org_id=dealer.id, to_person_id=holder.id))
    assert done.state.status == Status.ACTIVE
    assert (done.state.custodian_org_id, done.state.holder_person_id) == (None, holder.id)


# --- corrections: amendments and voiding ----------------------------------------------------------------


def test_amendment_must_name_an_event(session: Session) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError, match="names the event") as exc:
        record(session, wid, EventInput(type="amended", data={"changes": {"location": "x"}}, notes="typo"))
    assert exc.value.field == "corrects_event_id"


def test_amendment_must_name_an_event_of_the_same_weapon(session: Session) -> None:
    mine = register_weapon(session)
    other = register_weapon(session)
    with pytest.raises(ValidationError, match="not in this weapon's history") as exc:
        record(
            session,
            mine.weapon.id,
            EventInput(
                type="amended",
                corrects_event_id=other.event.id,
                data={"changes": {"location": "x"}},
                notes="typo",
            ),
        )
    assert exc.value.field == "corrects_event_id"


def test_amendment_needs_notes_and_changes(session: Session) -> None:
    reg = register_weapon(session)
    with pytest.raises(ValidationError) as exc:
        record(
            session,
            reg.weapon.id,
            EventInput(type="amended", corrects_event_id=reg.event.id, data={"changes": {"location": "x"}}),
        )
    assert exc.value.field == "notes"
    with pytest.raises(ValidationError) as exc:
        record(
            session, reg.weapon.id, EventInput(type="amended", corrects_event_id=reg.event.id, notes="why")
        )
    assert exc.value.field == "data.changes"


def test_amendment_records_changes_without_touching_the_original(session: Session) -> None:
    reg = register_weapon(session)
    stolen = record(session, reg.weapon.id, EventInput(type="stolen", location="Nakru"))
    record(
        session,
        reg.weapon.id,
        EventInput(
            type="amended",
            corrects_event_id=stolen.event.id,
            data={"changes": {"location": "Nakuru"}},
            notes="spelling",
        ),
    )
    events = history.history(session, reg.weapon.id)
    assert events[1].location == "Nakru"
    assert history.effective_changes(events) == {str(stolen.event.id): {"location": "Nakuru"}}
    _weapon, state = weapons.get(session, reg.weapon.id)
    assert state.status == Status.STOLEN


def test_an_amendment_cannot_be_amended(session: Session) -> None:
    reg = register_weapon(session)
    fix = record(
        session,
        reg.weapon.id,
        EventInput(
            type="amended", corrects_event_id=reg.event.id, data={"changes": {"location": "A"}}, notes="n"
        ),
    )
    with pytest.raises(ValidationError, match="original event"):
        record(
            session,
            reg.weapon.id,
            EventInput(type="amended", corrects_event_id=fix.event.id, data={"retract": True}, notes="n"),
        )


def test_retracting_an_event_rederives_the_status(session: Session) -> None:
    reg = register_weapon(session)
    stolen = record(session, reg.weapon.id, EventInput(type="stolen"))
    assert stolen.state.status == Status.STOLEN
    done = record(
        session,
        reg.weapon.id,
        EventInput(
            type="amended",
            corrects_event_id=stolen.event.id,
            data={"retract": True},
            notes="wrong weapon reported",
        ),
    )
    assert done.state.status == Status.ACTIVE
    assert done.state.event_count == 3
    assert "reported" not in done.state.details
    # and the weapon can now be reported stolen for real
    assert record(session, reg.weapon.id, EventInput(type="stolen")).state.status == Status.STOLEN


def test_the_first_event_cannot_be_retracted(session: Session) -> None:
    reg = register_weapon(session)
    with pytest.raises(ValidationError, match="void the registration") as exc:
        record(
            session,
            reg.weapon.id,
            EventInput(type="amended", corrects_event_id=reg.event.id, data={"retract": True}, notes="typo"),
        )
    assert exc.value.field == "corrects_event_id"


def test_retraction_that_leaves_an_impossible_history_is_refused(session: Session) -> None:
    reg = register_weapon(session)
    exported = record(session, reg.weapon.id, export_event())
    record(session, reg.weapon.id, EventInput(type="imported", to_country=HOME))
    with pytest.raises(InvalidTransition):
        record(
            session,
            reg.weapon.id,
            EventInput(
                type="amended", corrects_event_id=exported.event.id, data={"retract": True}, notes="oops"
            ),
        )
    _weapon, state = weapons.get(session, reg.weapon.id)
    assert state.status == Status.ACTIVE
    assert state.event_count == 3


@pytest.mark.parametrize(
    ("data", "notes", "field"),
    [
        ({}, "entered twice", "data.reason"),
        ({"reason": "changed_my_mind"}, "entered twice", "data.reason"),
        ({"reason": "duplicate"}, "  ", "notes"),
    ],
)
def test_voiding_needs_a_reason_and_notes(session: Session, data: dict, notes: str, field: str) -> None:
    wid = register_weapon(session).weapon.id
    with pytest.raises(ValidationError) as exc:
        record(session, wid, EventInput(type="voided", data=data, notes=notes))
    assert exc.value.field == field


@pytest.mark.parametrize("reason", ["duplicate", "error"])
def test_voided_registration_accepts_no_further_events(session: Session, reason: str) -> None:
    wid = register_weapon(session).weapon.id
    done = record(session, wid, EventInput(type="voided", data={"reason": reason}, notes="entered twice"))
    assert done.state.status == Status.VOIDED
    with pytest.raises(InvalidTransition, match="the weapon is voided"):
        record(session, wid, EventInput(type="stolen"))


# --- review fixes: rejected transfers, the named giver, re-marks ------------------------------------------


def test_rejected_transfer_of_a_recovered_weapon_leaves_it_recovered(session: Session) -> None:
    police, depot = (
        organisation(session, kind=OrgKind.LAW_ENFORCEMENT),
        organisation(session, kind=OrgKind.STOCKPILE),
    )
    reg = register_weapon(
        session,
        found_unmarked=True,
        event=EventInput(type="found", to_org_id=police.id, data={"mark_condition": "missing"}),
    )
    pending = record(session, reg.weapon.id, EventInput(type="transferred", to_org_id=depot.id))
    assert pending.state.status == Status.TRANSFER_PENDING
    back = record(session, reg.weapon.id, EventInput(type="transfer_rejected", notes="no space at the depot"))
    # A refusal returns the weapon to where it was: still recovered, still with the police.
    assert back.state.status == Status.RECOVERED
    assert back.state.custodian_org_id == police.id


def test_transfer_naming_a_giver_who_does_not_hold_the_weapon_is_refused(session: Session) -> None:
    holder, stranger, buyer = organisation(session), organisation(session), organisation(session)
    wid = _held_by(session, holder.id)
    with pytest.raises(ValidationError, match="held by organisation") as exc:
        record(session, wid, EventInput(type="transferred", from_org_id=stranger.id, to_org_id=buyer.id))
    assert exc.value.field == "from_org_id"


def test_remark_needs_country_and_serial_but_no_maker(session: Session) -> None:
    wid = register_weapon(session, found_unmarked=True).weapon.id
    done = record(session, wid, EventInput(type="marked"), marking=remarking(manufacturer=None))
    assert done.state.pending_marking is False


def test_the_same_remark_serial_cannot_go_on_two_weapons(session: Session) -> None:
    first = register_weapon(session, found_unmarked=True).weapon.id
    second = register_weapon(session, found_unmarked=True).weapon.id
    serial = unique_serial("KE")
    record(session, first, EventInput(type="marked"), marking=remarking(serial))
    with pytest.raises(DuplicateMarking, match=str(first)):
        record(session, second, EventInput(type="marked"), marking=remarking(serial.lower()))


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"transit_countries": 5, "final_recipient": "x"}, "data.transit_countries"),
        ({"criminal_offence": True, "illicit_grounds": 7}, "data.illicit_grounds"),
        ({"criminal_offence": True, "mark_condition": ["x"]}, "data.mark_condition"),
        ({"criminal_offence": True, "origin_established": 3}, "data.origin_established"),
    ],
)
def test_wrongly_shaped_facts_are_refused_naming_the_field(session: Session, data: dict, field: str) -> None:
    wid = register_weapon(session).weapon.id
    etype = "exported" if "transit_countries" in data else "seized"
    event = export_event(data=data) if etype == "exported" else EventInput(type="seized", data=data)
    with pytest.raises(ValidationError) as exc:
        record(session, wid, event)
    assert exc.value.field == field
