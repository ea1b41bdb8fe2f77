"""The workflow on one node, with the other states' messages played as the federation inbox delivers them:
what is stored, what is queued for the other state (and only after an officer's action), what is refused."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import jsonschema_rs
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.checker import verify as audit_verify
from registry.audit.models import AuditEntry
from registry.db import utcnow
from registry.errors import ValidationError
from registry.history.inputs import EventInput
from tests.factories import manufacture_marking, record, register_weapon, weapon_input
from tests.tracing.requests.conftest import Inbound, check_trace_body, complete_input, queued, request_body
from tracing.federation import outbox
from tracing.requests import handlers
from tracing.requests import service as traces
from tracing.requests.errors import (
    AttachmentRejected,
    IncompleteRequest,
    InvalidTraceTransition,
    TraceNotFound,
)

OFFICER = "poc-officer"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _audit_actions(session: Session, request_id: uuid.UUID) -> list[str]:
    stmt = (
        select(AuditEntry.action).where(AuditEntry.subject == f"trace:{request_id}").order_by(AuditEntry.seq)
    )
    return list(session.execute(stmt).scalars())


def _sent(session: Session) -> uuid.UUID:
    draft = traces.create_draft(session, actor=OFFICER, data=complete_input())
    traces.send(session, actor=OFFICER, request_id=draft.request.id)
    return draft.request.id


def test_draft_then_send_queues_the_request_with_the_lost_stolen_search(session: Session, node: str) -> None:
    stolen = register_weapon(session, serial="AB12345")
    record(session, stolen.weapon.id, EventInput(type="stolen", location="Mombasa"))
    draft = traces.create_draft(session, actor=OFFICER, data=complete_input())
    req = draft.request
    assert (req.state, req.direction, req.requesting_country) == ("draft", "outgoing", "KE")
    assert req.requesting_poc == {"name": "PoC Kenya", "contact": "poc@ke.example"}
    assert queued(session, "trace.request") == []  # a draft goes nowhere

    out = traces.send(session, actor=OFFICER, request_id=req.id)
    assert req.state == "sent"
    assert req.sent_at is not None
    assert req.ack_due == req.sent_at + timedelta(days=5)
    assert req.answer_due == req.sent_at + timedelta(days=30)
    check = req.lost_stolen_check
    assert check is not None
    assert check["searched"] == ["AB?2345", "GLOCK AUSTRIA AB?2345"]
    assert [h["weapon_id"] for h in check["reported_lost_or_stolen"]] == [str(stolen.weapon.id)]
    (msg,) = queued(session, "trace.request")
    assert msg.id == out.message_id
    assert msg.to_country == "UG"
    assert msg.body["request_id"] == str(req.id)
    assert msg.body["markings"][0]["text"] == "GLOCK AUSTRIA AB?2345"
    # The other state learns that our records report it stolen, not our internal record ids.
    assert msg.body["lost_stolen_check"]["reported_lost_or_stolen"] == 1
    assert msg.body["lost_stolen_check"]["statuses"] == ["stolen"]
    assert str(stolen.weapon.id) not in str(msg.body)
    steps = traces.transitions(session, req.id)
    assert [(t.action, t.from_state, t.to_state, t.actor) for t in steps] == [
        ("send", "draft", "sent", OFFICER)
    ]
    assert steps[0].message_id == msg.id
    assert _audit_actions(session, req.id) == ["trace.drafted", "trace.send"]


def test_the_delivery_receipt_moves_our_request_to_delivered_without_a_reader(
    session: Session, node: str
) -> None:
    # The outbox runs its delivered hooks in the transaction that records a verified receipt; the trace
    # handler must be among them, so the request's state does not wait for someone to list traces.
    assert handlers.on_request_delivered in outbox._DELIVERED_HOOKS
    rid = _sent(session)
    (msg,) = queued(session, "trace.request")
    handlers.on_request_delivered(session, msg)  # no receipt yet: nothing moves
    assert traces.get(session, rid).state == "sent"
    msg.delivered_at = utcnow()
    handlers.on_request_delivered(session, msg)
    handlers.on_request_delivered(session, msg)  # a repeated hook is a no-op
    assert traces.get(session, rid).state == "delivered"
    steps = [(t.action, t.from_state, t.to_state, t.actor) for t in traces.transitions(session, rid)]
    assert steps[1:] == [("deliver", "sent", "delivered", "node:UG")]


def test_an_incomplete_request_is_not_sent(session: Session, node: str) -> None:
    draft = traces.create_draft(session, actor=OFFICER, data=complete_input(legal_justification=""))
    assert [w.field for w in draft.warnings] == ["legal_justification"]
    with pytest.raises(IncompleteRequest) as err:
        traces.send(session, actor=OFFICER, request_id=draft.request.id)
    assert err.value.field == "legal_justification"
    assert draft.request.state == "draft"
    assert queued(session) == []


def test_send_twice_is_refused_naming_the_state(session: Session, node: str) -> None:
    rid = _sent(session)
    with pytest.raises(InvalidTraceTransition, match="that is sent"):
        traces.send(session, actor=OFFICER, request_id=rid)


def test_the_requested_state_answers_and_the_request_closes(
    session: Session, node: str, inbound: Inbound
) -> None:
    rid = _sent(session)
    traces.on_acknowledgement(
        session, inbound("trace.acknowledgement", {"request_id": str(rid), "answer_due": "2026-12-20"})
    )
    req = traces.get(session, rid)
    assert req.state == "acknowledged"
    assert [t.action for t in traces.transitions(session, rid)] == ["send", "deliver", "acknowledge"]
    assert req.answer_due is not None
    assert req.answer_due.date() == date(2026, 12, 20)
    response = {
        "request_id": str(rid), "outcome": "answered", "completeness": "full", "weapon_found": True,
        "supply_chain": {"countries": ["AT", "UG", "TZ"], "events": []}, "text": "imported 2021",
    }  # fmt: skip
    traces.on_response(session, inbound("trace.response", response))
    assert (req.state, req.completeness) == ("answered", "full")
    assert req.answered_at is not None
    assert traces.next_hop(session, req) == "AT"
    traces.close(session, actor=OFFICER, request_id=rid, note="origin found", origin_established=True)
    assert req.state == "closed"
    (close,) = queued(session, "trace.close")
    assert close.body["origin_established"] is True
    assert [t.actor for t in traces.transitions(session, rid)] == [
        OFFICER,
        "node:UG",
        "node:UG",
        "node:UG",
        OFFICER,
    ]


def test_a_message_from_a_state_not_party_is_not_found(session: Session, node: str, inbound: Inbound) -> None:
    rid = _sent(session)
    with pytest.raises(TraceNotFound):
        traces.on_response(
            session, inbound("trace.response", {"request_id": str(rid), "outcome": "refused"}, sender="TZ")
        )
    with pytest.raises(TraceNotFound):
        traces.on_acknowledgement(
            session, inbound("trace.acknowledgement", {"request_id": str(uuid.uuid4())})
        )
    assert traces.get(session, rid).state == "sent"


def test_incoming_candidates_are_ranked_by_the_described_weapon(
    session: Session, node: str, inbound: Inbound
) -> None:
    # Two weapons fit the reading equally well; the request describes a Beretta 92FS.
    glock = register_weapon(session, serial="ZK40011")
    beretta = register_weapon(
        session, serial="ZK40012", weapon=weapon_input(make="Beretta", model="92FS", calibre="9x19")
    )
    body = request_body(
        weapon={"category": "SA-PIS", "make": "BERETTA", "model": "92 FS", "calibre": "9mm Parabellum"},
        markings=[{"text": "ZK4001?", "position": "frame", "serial": "ZK4001?"}],
    )
    req = traces.receive(session, message=inbound("trace.request", body))
    cands = req.candidates or []
    assert [c["weapon_id"] for c in cands] == [str(beretta.weapon.id), str(glock.weapon.id)]
    assert cands[0]["score"] == cands[1]["score"]  # the marking alone cannot decide
    assert cands[0]["agreed"] == ["make", "model", "calibre", "category"]
    assert cands[1]["agreed"] == ["calibre", "category"]
    assert "make, model, calibre and category as described" in cands[0]["reason"]


def test_incoming_request_gets_candidates_and_only_an_acknowledgement_leaves(
    session: Session, node: str, inbound: Inbound
) -> None:
    target = register_weapon(session, serial="AB12345")
    other = register_weapon(session, serial="A812346")  # its serial does not fit: 6 is not 5
    req = traces.receive(session, message=inbound("trace.request", request_body()))
    assert (req.direction, req.requesting_country, req.requested_country) == ("incoming", "UG", "KE")
    assert req.state == "acknowledged"  # automatic receipt (ITI 18)
    cands = req.candidates or []
    # Both carry the observed import mark; only the target also carries the serial read with a '?'.
    assert [c["weapon_id"] for c in cands] == [str(target.weapon.id), str(other.weapon.id)]
    assert cands[0]["matched_markings"] == 2
    assert cands[1]["matched_markings"] == 1
    assert cands[0]["score"] > cands[1]["score"]
    assert "marking 2 (frame): position 3 unreadable" in cands[0]["reason"]
    assert "1 observed marking(s) not matched" in cands[1]["reason"]
    assert [m.kind for m in queued(session)] == ["trace.acknowledgement"]

    out = traces.answer(
        session, actor=OFFICER, request_id=req.id, completeness="full", weapon_id=target.weapon.id
    )
    assert req.state == "answered"
    (msg,) = queued(session, "trace.response")
    assert msg.id == out.message_id
    assert msg.to_country == "UG"
    chain = msg.body["supply_chain"]
    assert chain["weapon"]["serial"] == "AB12345"
    assert [e["event"] for e in chain["events"]] == ["imported"]
    assert "last_lawful_holder_category" not in chain  # national policy off by default


def test_delay_keeps_the_request_open(session: Session, node: str, inbound: Inbound) -> None:
    req = traces.receive(session, message=inbound("trace.request", request_body()))
    later = utcnow().date() + timedelta(days=20)
    with pytest.raises(ValidationError) as err:
        traces.delay(
            session, actor=OFFICER, request_id=req.id, reason_code="whenever", reason="x", expected_by=later
        )
    assert err.value.field == "reason_code"
    traces.delay(
        session,
        actor=OFFICER,
        request_id=req.id,
        reason_code="awaiting_other_agency",
        reason="police file",
        expected_by=later,
    )
    assert req.state == "delayed"
    assert req.answer_due is not None
    assert req.answer_due.date() == later
    traces.answer(
        session, actor=OFFICER, request_id=req.id, completeness="partial", text="no record of this serial"
    )
    assert req.state == "answered"
    assert [m.body.get("outcome") for m in queued(session, "trace.response")] == ["delayed", "answered"]


def test_refusal_needs_a_permitted_ground_and_a_reason(session: Session, node: str, inbound: Inbound) -> None:
    req = traces.receive(session, message=inbound("trace.request", request_body()))
    with pytest.raises(ValidationError) as err:
        traces.refuse(session, actor=OFFICER, request_id=req.id, grounds=[], reason="no")
    assert err.value.field == "grounds"
    with pytest.raises(ValidationError) as err:
        traces.refuse(session, actor=OFFICER, request_id=req.id, grounds=["too_busy"], reason="no")
    assert err.value.field == "grounds"
    with pytest.raises(ValidationError) as err:
        traces.refuse(session, actor=OFFICER, request_id=req.id, grounds=["national_security"], reason=" ")
    assert err.value.field == "reason"
    traces.refuse(
        session, actor=OFFICER, request_id=req.id, grounds=["national_security"], reason="state stock"
    )
    assert req.state == "refused"
    (msg,) = queued(session, "trace.response")
    assert msg.body["grounds"] == ["national_security"]
    with pytest.raises(InvalidTraceTransition, match="that is refused"):
        traces.answer(session, actor=OFFICER, request_id=req.id, completeness="full", text="after all")


def test_the_requested_side_cannot_close_and_the_requesting_side_cannot_answer(
    session: Session, node: str, inbound: Inbound
) -> None:
    incoming = traces.receive(session, message=inbound("trace.request", request_body()))
    traces.restrict(
        session, actor=OFFICER, request_id=incoming.id, grounds=["ongoing_investigation"], reason="open case"
    )
    with pytest.raises(InvalidTraceTransition, match="only the requesting state can close"):
        traces.close(session, actor=OFFICER, request_id=incoming.id)
    outgoing = _sent(session)
    with pytest.raises(InvalidTraceTransition, match="only the requested state can answer"):
        traces.answer(session, actor=OFFICER, request_id=outgoing, completeness="full", text="x")


def test_close_from_the_requesting_state_closes_our_copy(
    session: Session, node: str, inbound: Inbound
) -> None:
    req = traces.receive(session, message=inbound("trace.request", request_body()))
    traces.answer(session, actor=OFFICER, request_id=req.id, completeness="full", text="no record")
    traces.on_close(session, inbound("trace.close", {"request_id": str(req.id), "note": "thanks"}))
    assert req.state == "closed"
    assert req.closed_at is not None


def test_photos_are_checked(session: Session, node: str) -> None:
    rid = traces.create_draft(session, actor=OFFICER, data=complete_input()).request.id
    for media_type, data, fld in [
        ("application/pdf", PNG, "media_type"),
        ("image/png", b"GIF89a" + b"\x00" * 10, "data"),
        ("image/png", b"", "data"),
        ("image/png", PNG + b"\x00" * 3_000_000, "data"),
    ]:
        with pytest.raises(AttachmentRejected) as err:
            traces.add_attachment(
                session, actor=OFFICER, request_id=rid, filename="x", media_type=media_type, data=data
            )
        assert err.value.field == fld
    photo = traces.add_attachment(
        session, actor=OFFICER, request_id=rid, filename="../frame.png", media_type="image/png", data=PNG
    )
    assert photo.filename == ".._frame.png"
    assert photo.size == len(PNG)
    traces.send(session, actor=OFFICER, request_id=rid)
    (msg,) = queued(session, "trace.request")
    assert msg.body["attachments"][0]["sha256"] == photo.sha256
    assert "data" in msg.body["attachments"][0]
    with pytest.raises(InvalidTraceTransition):
        traces.add_attachment(
            session, actor=OFFICER, request_id=rid, filename="y", media_type="image/png", data=PNG
        )


def test_overdue_lists_what_is_late_and_who_owes_it(session: Session, node: str, inbound: Inbound) -> None:
    late = _sent(session)
    on_time = _sent(session)
    traces.get(session, late).ack_due = utcnow() - timedelta(days=1)
    session.flush()
    listed = traces.overdue(session)
    assert [(o.request.id, o.what, o.owed_by) for o in listed] == [(late, "acknowledgement", "UG")]
    assert on_time not in [o.request.id for o in listed]
    assert [o.request.id for o in traces.overdue(session, now=utcnow() + timedelta(days=31))] == [
        late,
        on_time,
    ]


def test_follow_up_goes_to_the_next_hop_prefilled(session: Session, node: str, inbound: Inbound) -> None:
    rid = _sent(session)
    response = {"request_id": str(rid), "outcome": "answered", "completeness": "full",
                "supply_chain": {"countries": ["UG", "TZ"]}}  # fmt: skip
    traces.on_response(session, inbound("trace.response", response))
    nxt = traces.follow_up(session, actor=OFFICER, request_id=rid).request
    assert (nxt.requested_country, nxt.follow_up_of, nxt.state) == ("TZ", rid, "draft")
    assert nxt.markings == traces.get(session, rid).markings
    assert nxt.case_reference == "KE/CID/2026/0042"


def test_every_view_is_audited(session: Session, node: str) -> None:
    rid = _sent(session)
    traces.view(session, actor="auditor-1", request_id=rid)
    assert _audit_actions(session, rid)[-1] == "trace.viewed"


def test_a_manufactured_weapon_answers_with_its_chain(session: Session, node: str, inbound: Inbound) -> None:
    reg = register_weapon(
        session, manufactured=True, markings=[manufacture_marking("MF-777")], serial="MF777"
    )
    record(
        session,
        reg.weapon.id,
        EventInput(
            type="exported", to_country="UG",
            documents=[{"kind": "export_licence", "number": "L-9", "issued_on": "2024-01-01", "expires_on": "2025-01-01"}],
            data={"final_recipient": "Uganda Police Force"},
        ),
    )  # fmt: skip
    req = traces.receive(
        session,
        message=inbound("trace.request", request_body(markings=[{"text": "MF-7?7", "position": "frame"}])),
    )
    assert (req.candidates or [])[0]["weapon_id"] == str(reg.weapon.id)
    traces.answer(session, actor=OFFICER, request_id=req.id, completeness="full", weapon_id=reg.weapon.id)
    (msg,) = queued(session, "trace.response")
    events = msg.body["supply_chain"]["events"]
    assert [e["event"] for e in events] == ["manufactured", "exported"]
    assert events[1]["to_country"] == "UG"
    assert events[1]["documents"] == [{"kind": "export_licence", "number": "L-9", "issued_on": "2024-01-01"}]


def test_every_write_is_in_the_audit_log(session: Session, node: str, inbound: Inbound) -> None:
    """After a whole exchange, the checker finds every trace row exactly as its last audit entry says."""
    rid = _sent(session)
    traces.on_response(session, inbound("trace.response", {"request_id": str(rid), "outcome": "refused",
                                                           "grounds": ["national_security"], "reason": "no"}))  # fmt: skip
    traces.close(session, actor=OFFICER, request_id=rid)
    incoming = traces.receive(session, message=inbound("trace.request", request_body()))
    traces.answer(session, actor=OFFICER, request_id=incoming.id, completeness="partial", text="no record")
    report = audit_verify(session)
    assert report.problems == []
    assert report.records > 0


def test_the_published_schema_refuses_what_the_workflow_would_refuse() -> None:
    """The schema the queued bodies are checked against (see `queued`) is not vacuous."""
    rid = str(uuid.uuid4())
    check_trace_body("trace.response", {"schema": "iti-trace/1", "request_id": rid, "outcome": "refused",
                                        "grounds": ["national_security"], "reason": "r"})  # fmt: skip
    for bad in (
        {"schema": "iti-trace/1", "request_id": rid, "outcome": "refused", "reason": "r"},
        {
            "schema": "iti-trace/1",
            "request_id": rid,
            "outcome": "refused",
            "grounds": ["too_busy"],
            "reason": "r",
        },
        {"schema": "iti-trace/1", "request_id": rid, "outcome": "answered"},
        {"schema": "iti-trace/2", "request_id": rid, "outcome": "delayed"},
    ):
        with pytest.raises(jsonschema_rs.ValidationError):
            check_trace_body("trace.response", bad)


def test_a_request_id_reused_by_another_state_is_refused(
    session: Session, node: str, inbound: Inbound
) -> None:
    outgoing = _sent(session)
    with pytest.raises(TraceNotFound):
        traces.receive(session, message=inbound("trace.request", request_body(outgoing)))
    first = traces.receive(session, message=inbound("trace.request", request_body()))
    again = traces.receive(session, message=inbound("trace.request", request_body(first.id)))
    assert again is first
    with pytest.raises(TraceNotFound):
        traces.receive(
            session,
            message=inbound("trace.request", request_body(first.id, requesting_state="TZ"), sender="TZ"),
        )
