"""A trace request exported as one structured document for other channels: the request part validates
against the published message schema, the use restriction and history travel with it, and exporting is an
audited view."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from tests.tracing.requests.conftest import check_trace_body, complete_input
from tracing.requests import exchange
from tracing.requests import service as traces

OFFICER = "poc-ke"


def test_the_export_carries_the_request_as_published_with_its_use_restriction(
    session: Session, node: str
) -> None:
    req = traces.create_draft(session, actor=OFFICER, data=complete_input()).request
    traces.send(session, actor=OFFICER, request_id=req.id)
    doc = exchange.export_document(
        session, actor="auditor-ke", request_id=req.id, purpose="criminal_investigation"
    )
    assert doc["format"] == "iti-trace-export/1"
    check_trace_body("trace.request", doc["request"])  # the published schema, exactly
    assert doc["request"]["request_id"] == str(req.id)
    assert doc["use_restriction"]["intended_use"] == {"code": req.intended_use_code, "text": req.intended_use}
    assert [(h["action"], h["state"]) for h in doc["history"]] == [("send", "sent")]
    assert (doc["direction"], doc["state"]) == ("outgoing", "sent")
    viewed = (
        session.execute(
            select(AuditEntry).where(
                AuditEntry.subject == f"trace:{req.id}", AuditEntry.actor == "auditor-ke"
            )
        )
        .scalars()
        .all()
    )
    assert viewed, "an export is a view of the request and is audited"
