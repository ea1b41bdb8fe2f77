"""What the other state's messages do to our copy of a request, and the delivery receipts of ours. A message
about a request its sender is not party to is answered as if the request did not exist.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import new_id, utcnow
from registry.errors import ValidationError
from tracing.federation import repository as federation_repo
from tracing.requests import lifecycle, messages
from tracing.requests import repository as repo
from tracing.requests.codes import Direction
from tracing.requests.errors import TraceNotFound
from tracing.requests.models import TraceRequest, TraceTransition
from tracing.requests.transitions import (
    S,
    lock,
    move,
)

# --- what the other state's messages do to our copy ---------------------------------------------------------


def _party(session: Session, message: Any, *, direction: Direction) -> TraceRequest:
    """The request a message is about, only if the sender is party to it; otherwise it does not exist."""
    req = repo.lock(session, messages.request_id(message.body))
    other = None
    if req is not None:
        other = req.requested_country if req.direction == Direction.OUTGOING else req.requesting_country
    if req is None or req.direction != direction or other != message.from_country:
        raise TraceNotFound("no such trace request", field="body.request_id")
    return req


def _catch_up(session: Session, req: TraceRequest, message: Any) -> None:
    """A reply proves delivery (and a response, receipt): record the steps the other side took first."""
    actor = f"node:{message.from_country}"
    if req.state == S.SENT:
        move(session, req, "deliver", actor=actor, at=message.sent_at, message_id=message.id)


def on_acknowledgement(session: Session, message: Any) -> None:
    req = _party(session, message, direction=Direction.OUTGOING)
    _catch_up(session, req, message)
    if req.state != S.DELIVERED:
        return  # already acknowledged or answered: a late acknowledgement changes nothing
    if due := messages.opt_date((message.body.get("answer_due") or "")[:10] or None, "body.answer_due"):
        req.answer_due = datetime.combine(due, time(23, 59, 59), tzinfo=UTC)
    move(
        session,
        req,
        "acknowledge",
        actor=f"node:{message.from_country}",
        at=message.sent_at,
        message_id=message.id,
    )


def on_response(session: Session, message: Any) -> None:
    body = message.body
    outcome = messages.need(body, "outcome")
    action = {"answered": "answer", "delayed": "delay", "restricted": "restrict", "refused": "refuse"}.get(
        outcome
    )
    if action is None:
        raise ValidationError(f"unknown outcome {outcome!r}", field="body.outcome")
    req = _party(session, message, direction=Direction.OUTGOING)
    _catch_up(session, req, message)
    completeness = body.get("completeness") if action == "answer" else None
    if action == "answer" and completeness not in ("full", "partial"):
        raise ValidationError("an answer says whether it is full or partial", field="body.completeness")
    if action in ("restrict", "refuse") and not body.get("grounds"):
        raise ValidationError("a restriction or refusal gives its grounds", field="body.grounds")
    if action == "delay":
        exp = messages.opt_date(body.get("expected_by"), "body.expected_by")
        req.expected_by = exp
        if exp:
            req.answer_due = datetime.combine(exp, time(23, 59, 59), tzinfo=UTC)
    req.response = {k: v for k, v in body.items() if k not in ("schema", "request_id")}
    details = {k: v for k, v in req.response.items() if k != "supply_chain"}
    prior = req.completeness
    if completeness:
        req.completeness = completeness
    move(
        session,
        req,
        action,
        actor=f"node:{message.from_country}",
        at=message.sent_at,
        message_id=message.id,
        details=details,
        prior_completeness=prior,
    )


def on_close(session: Session, message: Any) -> None:
    req = _party(session, message, direction=Direction.INCOMING)
    details = {k: message.body.get(k) for k in ("note", "origin_established")}
    if req.state == S.CLOSED:
        return
    if req.state not in lifecycle.ACTIONS["close"].sources:
        # The requesting state withdrew before our answer: record it, nothing more to send.
        details["withdrawn_in_state"] = req.state
    _force_close(session, req, actor=f"node:{message.from_country}", message_id=message.id, details=details)


def _force_close(
    session: Session, req: TraceRequest, *, actor: str, message_id: uuid.UUID, details: dict[str, Any]
) -> None:
    before = req.state
    now = utcnow()
    req.state, req.closed_at = S.CLOSED.value, now
    req.updated_at, req.updated_by, req.version = now, actor, req.version + 1
    row = TraceTransition(
        id=new_id(), request_id=req.id, seq=repo.next_seq(session, req.id), action="close", from_state=before,
        to_state=req.state, at=now, actor=actor, message_id=message_id, details=details,
    )  # fmt: skip
    repo.add(session, row)
    audit.record(session, actor=actor, action="trace.close", subject=f"trace:{req.id}",
                 records=[audit.snapshot_obj(req), audit.snapshot_obj(row)], info={"from": before, "to": "closed"})  # fmt: skip


def mark_delivered(session: Session, *, request_id: uuid.UUID, at: datetime | None = None) -> bool:
    """The outbox delivered our request (a signed receipt came back): sent → delivered."""
    req = lock(session, request_id)
    if req.direction != Direction.OUTGOING or req.state != S.SENT:
        return False
    move(session, req, "deliver", actor=f"node:{req.requested_country}", at=at)
    return True


def refresh_deliveries(session: Session) -> int:
    """Move sent requests whose outbox message has a delivery receipt to delivered."""
    moved = 0
    for req in repo.open_requests(session, [S.SENT.value]):
        if req.direction != Direction.OUTGOING:
            continue
        sent = next((t for t in repo.transitions_of(session, req.id) if t.action == "send"), None)
        msg = federation_repo.outbox_message(session, sent.message_id) if sent and sent.message_id else None
        if msg is not None and msg.delivered_at is not None:
            moved += mark_delivered(session, request_id=req.id, at=msg.delivered_at)
    return moved
