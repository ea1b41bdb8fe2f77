"""Use limits on information received from another state (REQ-32): taking a request out of the trace workflow
declares a purpose; a purpose other than the stated one is refused by name until a notice of the disclosure
to the providing state has been delivered; the providing state's node keeps and audits the notice."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import canonical
from registry.audit.models import AuditEntry
from registry.db import utcnow
from registry.errors import ValidationError
from reports.trace_answer import trace_answer_pdf
from tests.tracing.requests.conftest import Inbound, complete_input, queued, request_body
from tracing.requests import disclosure, exchange
from tracing.requests import service as traces
from tracing.requests.errors import InvalidTraceTransition, TraceNotFound, UseOutsidePurpose

OFFICER = "poc-ke"
COURT = "High Court of Kenya, Criminal Division"


def _answered(session: Session, inbound: Inbound) -> uuid.UUID:
    """Our request to UG (stated purpose: criminal investigation), answered by UG."""
    req = traces.create_draft(session, actor=OFFICER, data=complete_input()).request
    traces.send(session, actor=OFFICER, request_id=req.id)
    body = {"schema": "iti-trace/1", "request_id": str(req.id), "outcome": "answered",
            "completeness": "full", "weapon_found": False, "text": "No record of this pistol."}  # fmt: skip
    traces.on_response(session, inbound("trace.response", body))
    return req.id


def _audit(session: Session, request_id: uuid.UUID, action: str) -> list[dict[str, Any]]:
    """The `info` of each audit entry of `action` on the request, oldest first."""
    stmt = select(AuditEntry.body).where(
        AuditEntry.subject == f"trace:{request_id}", AuditEntry.action == action
    )
    return [
        canonical.parse_body(bytes(b))["info"]
        for b in session.execute(stmt.order_by(AuditEntry.seq)).scalars()
    ]


def _export(
    session: Session, request_id: uuid.UUID, purpose: str, recipient: str | None = None
) -> dict[str, Any]:
    return exchange.export_document(
        session, actor=OFFICER, request_id=request_id, purpose=purpose, recipient=recipient
    )


def _deliver(session: Session, message_id: uuid.UUID) -> None:
    """What the delivery worker records when UG's node signs its receipt (over HTTP in test_disclosure_http)."""
    (row,) = [m for m in queued(session) if m.id == message_id]
    row.delivered_at = utcnow()
    session.flush()


def test_the_stated_purpose_is_allowed_and_audited_another_is_refused_by_name(
    session: Session, node: str, inbound: Inbound
) -> None:
    rid = _answered(session, inbound)
    doc = _export(session, rid, "criminal_investigation", "  Kenya  CID ")
    assert doc["declared_use"] == {"purpose": "criminal_investigation", "recipient": "Kenya CID",
                                   "notice_message_id": None}  # fmt: skip
    (entry,) = _audit(session, rid, "trace.exported")
    assert entry["purpose"] == "criminal_investigation"
    assert (entry["providing_state"], entry["recipient"]) == ("UG", "Kenya CID")

    with pytest.raises(UseOutsidePurpose) as refused:
        _export(session, rid, "prosecution", COURT)
    err = refused.value
    assert err.field == "purpose"
    assert err.details["stated_purpose"] == "criminal_investigation"
    assert err.details["providing_state"] == "UG"
    assert "for criminal_investigation only" in err.message
    # The formal answer is refused the same way, before anything is drawn.
    with pytest.raises(UseOutsidePurpose):
        trace_answer_pdf(session, request_id=rid, actor=OFFICER, purpose="prosecution", recipient=COURT)
    with pytest.raises(ValidationError) as undeclared:
        _export(session, rid, "")
    assert undeclared.value.field == "purpose"
    with pytest.raises(ValidationError) as unknown:
        _export(session, rid, "curiosity")
    assert unknown.value.field == "purpose"


def test_a_delivered_notice_for_the_purpose_and_recipient_allows_the_disclosure(
    session: Session, node: str, inbound: Inbound
) -> None:
    rid = _answered(session, inbound)
    out = disclosure.notify_disclosure(
        session, actor=OFFICER, request_id=rid, purpose="prosecution", recipient=COURT,
        reason="The seized pistol is an exhibit in the robbery trial.",
    )  # fmt: skip
    (msg,) = queued(session, "trace.disclosure_notice")  # checked against the published schema
    assert (msg.id, msg.to_country) == (out.message_id, "UG")
    assert msg.body == {"schema": "iti-trace/1", "request_id": str(rid), "purpose": "prosecution",
                        "recipient": COURT, "reason": "The seized pistol is an exhibit in the robbery trial."}  # fmt: skip
    step = traces.transitions(session, rid)[-1]
    assert (step.action, step.from_state, step.to_state, step.actor) == (
        "disclosure_notice", "answered", "answered", OFFICER
    )  # fmt: skip
    assert [e["to"] for e in _audit(session, rid, "trace.disclosure_notice")] == ["UG"]
    assert out.request.state == "answered"  # a notice is no step of the lifecycle

    with pytest.raises(UseOutsidePurpose) as waiting:
        _export(session, rid, "prosecution", COURT)
    assert "not delivered yet" in waiting.value.message  # queued is not notice

    _deliver(session, msg.id)
    doc = _export(session, rid, "prosecution", COURT.upper())  # the recipient as named, in any case
    assert doc["declared_use"]["notice_message_id"] == str(msg.id)
    assert _audit(session, rid, "trace.exported")[-1]["notice"] == str(msg.id)
    # The notice names one recipient and one purpose: neither another recipient nor another purpose.
    with pytest.raises(UseOutsidePurpose) as other:
        _export(session, rid, "prosecution", "A newspaper")
    assert COURT in other.value.message
    with pytest.raises(UseOutsidePurpose):
        _export(session, rid, "diversion_analysis", COURT)
    with pytest.raises(UseOutsidePurpose):
        _export(session, rid, "prosecution")
    (notice,) = disclosure.notices(session, traces.get(session, rid))
    assert (notice.direction, notice.country, notice.delivered_at is not None) == ("sent", "UG", True)


def test_an_incoming_request_is_received_information_of_the_requesting_state(
    session: Session, node: str, inbound: Inbound
) -> None:
    rid = uuid.UUID(request_body()["request_id"])
    traces.receive(session, message=inbound("trace.request", request_body(rid)))
    with pytest.raises(UseOutsidePurpose) as refused:
        _export(session, rid, "embargo_monitoring", "UN Panel of Experts")
    assert refused.value.details["providing_state"] == "UG"
    disclosure.notify_disclosure(
        session, actor=OFFICER, request_id=rid, purpose="embargo_monitoring",
        recipient="UN Panel of Experts", reason="The cache matches an embargo case.",
    )  # fmt: skip
    (msg,) = queued(session, "trace.disclosure_notice")
    assert msg.to_country == "UG"


def test_nothing_received_yet_carries_no_limit_and_needs_no_notice(session: Session, node: str) -> None:
    req = traces.create_draft(session, actor=OFFICER, data=complete_input()).request
    traces.send(session, actor=OFFICER, request_id=req.id)
    assert _export(session, req.id, "prosecution", COURT)["declared_use"]["purpose"] == "prosecution"
    with pytest.raises(InvalidTraceTransition) as nothing:
        disclosure.notify_disclosure(
            session, actor=OFFICER, request_id=req.id, purpose="prosecution", recipient=COURT, reason="trial"
        )
    assert nothing.value.field == "state"


def test_a_notice_names_its_recipient_and_reason(session: Session, node: str, inbound: Inbound) -> None:
    rid = _answered(session, inbound)
    for field, kwargs in (
        ("recipient", {"recipient": "  ", "reason": "trial"}),
        ("reason", {"recipient": COURT, "reason": " "}),
        ("purpose", {"recipient": COURT, "reason": "trial", "purpose": "gossip"}),
    ):
        with pytest.raises(ValidationError) as bad:
            disclosure.notify_disclosure(
                session, actor=OFFICER, request_id=rid, **{"purpose": "prosecution", **kwargs}
            )
        assert bad.value.field == field
    assert queued(session, "trace.disclosure_notice") == []


def test_the_providing_state_keeps_and_audits_the_notice_it_receives(
    session: Session, node: str, inbound: Inbound
) -> None:
    rid = _answered(
        session, inbound
    )  # UG answered us; here UG gives notice that it will disclose our request
    body = {"schema": "iti-trace/1", "request_id": str(rid), "purpose": "diversion_analysis",
            "recipient": "UG arms control board", "reason": "Pattern of diversion from police stocks."}  # fmt: skip
    message = inbound("trace.disclosure_notice", body)
    traces_before = traces.get(session, rid).state
    disclosure.on_disclosure_notice(session, message)
    (notice,) = disclosure.notices(session, traces.get(session, rid))
    assert (notice.direction, notice.country, notice.purpose, notice.recipient) == (
        "received", "UG", "diversion_analysis", "UG arms control board"
    )  # fmt: skip
    assert (notice.actor, notice.message_id) == ("node:UG", message.id)
    assert traces.get(session, rid).state == traces_before
    (entry,) = _audit(session, rid, "trace.disclosure_notice_received")
    assert entry == {"from": "UG", "purpose": "diversion_analysis"}
    # A state not party to the request is told it does not exist.
    with pytest.raises(TraceNotFound):
        disclosure.on_disclosure_notice(session, inbound("trace.disclosure_notice", body, sender="TZ"))
    with pytest.raises(ValidationError) as bad:
        disclosure.on_disclosure_notice(session, inbound("trace.disclosure_notice", {**body, "reason": 3}))
    assert bad.value.field == "body.reason"
