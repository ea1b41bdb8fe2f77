"""A trace request and its answer as one structured document, for channels other than node-to-node messages
(INTERPOL's systems, a regional organisation, a court file) whose own schemas are not public.

The request part is exactly the `trace.request` message body (schema `iti-trace/1`, published in
`docs/schemas/trace-messages-v1.schema.json`), so a receiver that reads our messages reads this too; the
answer and the history travel beside it with language-neutral codes. Exporting is a view of the request:
audited like any other.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from registry.db import utcnow
from tracing.requests import messages, service

FORMAT = "iti-trace-export/1"


def export_document(session: Session, *, actor: str, request_id: uuid.UUID) -> dict[str, Any]:
    req = service.view(session, actor=actor, request_id=request_id)
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
        "request": messages.request_body(req, service.attachments(session, req.id)),
        "response": req.response,
        "history": [
            {"action": t.action, "state": t.to_state, "at": t.at.isoformat(), "by": t.actor}
            for t in service.transitions(session, req.id)
        ],
    }
