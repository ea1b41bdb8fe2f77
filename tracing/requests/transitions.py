"""The steps every change of a trace request takes: lock the row, check the transition (`lifecycle`), set
the state and its timestamp, append a `trace_transitions` row with the acting officer, write the audit entry
— and, where the other state must know, queue the message in the same transaction
(`tracing.federation.outbox.enqueue`), so a state change and its message commit together or not at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.config import get_settings
from registry.db import new_id, utcnow
from registry.errors import ValidationError
from registry.reference.countries import normalise_country
from registry.warnings import Warning
from tracing.federation import outbox
from tracing.federation import repository as federation_repo
from tracing.requests import lifecycle, messages
from tracing.requests import repository as repo
from tracing.requests.codes import Direction, TraceState
from tracing.requests.errors import InvalidTraceTransition, TraceNotFound
from tracing.requests.models import TraceRequest, TraceTransition

S = TraceState
ENVELOPE_CONFIDENTIALITY = {
    "restricted": "restricted",
    "confidential": "confidential",
    "secret": "confidential",
}


@dataclass
class Outcome:
    request: TraceRequest
    warnings: list[Warning] = field(default_factory=list)
    message_id: uuid.UUID | None = None


# --- helpers ------------------------------------------------------------------------------------------------


def home_country() -> str:
    """This node's state: the federation identity if initialised, else ITI_NODE_COUNTRY (REQ-36)."""
    value = get_settings().node_country
    if not value:
        raise ValidationError(
            "this node's country is not configured: set ITI_NODE_COUNTRY or run `iti node init`",
            field="node_country",
        )
    return normalise_country(value, field="ITI_NODE_COUNTRY")


def node_country(session: Session) -> str:
    node = federation_repo.get_node(session)
    return node.country if node is not None else home_country()


def default_poc(session: Session) -> tuple[str | None, str | None]:
    node = federation_repo.get_node(session)
    return (node.poc_name, node.contact) if node is not None else (None, None)


def get(session: Session, request_id: uuid.UUID) -> TraceRequest:
    req = repo.get(session, request_id)
    if req is None:
        raise TraceNotFound(f"no trace request {request_id} on this node", field="request_id")
    return req


def lock(session: Session, request_id: uuid.UUID) -> TraceRequest:
    req = repo.lock(session, request_id)
    if req is None:
        raise TraceNotFound(f"no trace request {request_id} on this node", field="request_id")
    return req


def require_direction(req: TraceRequest, action: str) -> None:
    by = lifecycle.ACTIONS[action].by
    if req.direction != by:
        side = "the requested state" if by == Direction.INCOMING else "the requesting state"
        raise InvalidTraceTransition(
            f"only {side} can {action} a request; this one is {req.direction} and {req.state}",
            field="direction",
            current_state=req.state,
        )


def move(
    session: Session,
    req: TraceRequest,
    action: str,
    *,
    actor: str,
    at: datetime | None = None,
    details: dict[str, Any] | None = None,
    message_id: uuid.UUID | None = None,
    extra_records: list[audit.RecordRef] | None = None,
    prior_completeness: str | None = None,
) -> TraceTransition:
    """Apply `action`: check, set the state and its timestamp, log the transition, audit both rows."""
    at = at or utcnow()
    before = req.state
    target = lifecycle.check(before, action, completeness=prior_completeness or req.completeness)
    req.state = target.value
    stamp = {
        S.SENT: "sent_at",
        S.DELIVERED: "delivered_at",
        S.ACKNOWLEDGED: "acknowledged_at",
        S.CLOSED: "closed_at",
    }.get(target)
    if stamp and getattr(req, stamp) is None:
        setattr(req, stamp, at)
    if target in (S.ANSWERED, S.RESTRICTED, S.REFUSED) and req.answered_at is None:
        req.answered_at = at
    if target in (S.ANSWERED, S.DELAYED, S.RESTRICTED, S.REFUSED) and req.acknowledged_at is None:
        req.acknowledged_at = at  # answering acknowledges receipt
    req.updated_at, req.updated_by, req.version = utcnow(), actor, req.version + 1
    row = TraceTransition(
        id=new_id(),
        request_id=req.id,
        seq=repo.next_seq(session, req.id),
        action=action,
        from_state=before,
        to_state=req.state,
        at=at,
        actor=actor,
        message_id=message_id,
        details=details or {},
    )
    repo.add(session, row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"trace.{action}",
        subject=f"trace:{req.id}",
        records=[audit.snapshot_obj(req), audit.snapshot_obj(row), *(extra_records or [])],
        info={"from": before, "to": req.state, "direction": req.direction},
    )
    return row


def enqueue(session: Session, req: TraceRequest, kind: str, body: dict[str, Any], actor: str) -> uuid.UUID:
    to = req.requested_country if req.direction == Direction.OUTGOING else req.requesting_country
    return outbox.enqueue(
        session,
        to_country=to,
        kind=kind,
        body={"schema": messages.SCHEMA, "request_id": str(req.id), **body},
        confidentiality=ENVELOPE_CONFIDENTIALITY[req.confidentiality],
        actor=actor,
    )
