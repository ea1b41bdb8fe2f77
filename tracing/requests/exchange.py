"""A trace request and its answer as one structured document, for channels other than node-to-node messages
(INTERPOL's systems, a regional organisation, a court file) whose own schemas are not public.

The request part is exactly the `trace.request` message body (schema `iti-trace/1`, published in
`docs/schemas/trace-messages-v1.schema.json`), so a receiver that reads our messages reads this too; the
answer and the history travel beside it with language-neutral codes. Exporting takes the request out of the
trace workflow: it declares its purpose and recipient, checked against the stated purpose
(`tracing.requests.disclosure.check_use`, REQ-32), and is audited with them.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import utcnow
from tracing.requests import disclosure, messages, service

FORMAT = "iti-trace-export/1"


def export_document(
    session: Session, *, actor: str, request_id: uuid.UUID, purpose: str | None, recipient: str | None = None
) -> dict[str, Any]:
    """The document, if `purpose` is the stated one or a delivered notice covers it (else UseOutsidePurpose)."""
    req = service.get(session, request_id)
    use = disclosure.check_use(session, req, purpose=purpose, recipient=recipient)
    audit.record(session, actor=actor, action="trace.exported", subject=f"trace:{req.id}",
                 info={"format": FORMAT, "state": req.state, **use.as_info()})  # fmt: skip
    return {
        "format": FORMAT,
        "exported_at": utcnow().isoformat(),
        "exported_by": actor,
        "direction": req.direction,
        "state": req.state,
        # The intended use stays attached to everything derived from the answer (ITI 17(c), REQ-32).
        "use_restriction": {
            "confidentiality": req.confidentiality,
            "intended_use": {"code": req.intended_use_code, "text": req.intended_use},
        },
        # What this copy is for and whom it goes to, as declared and checked when it was made.
        "declared_use": {
            "purpose": use.purpose,
            "recipient": use.recipient,
            "notice_message_id": str(use.notice_message_id) if use.notice_message_id else None,
        },
        "request": messages.request_body(req, service.attachments(session, req.id)),
        "response": req.response,
        "history": [
            {"action": t.action, "state": t.to_state, "at": t.at.isoformat(), "by": t.actor}
            for t in service.transitions(session, req.id)
        ],
    }
