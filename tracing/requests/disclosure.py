"""Use limits on information received from another state (ITI 21–23, Protocol 12(5), REQ-32).

A request holds information received from the other state: on the requested side, the request itself (the
requesting state's case, markings and photos); on the requesting side, once it has arrived, the answer (or
delay, restriction, refusal). That information may be used for the purpose the request states
(`intended_use_code`; a request that states its purpose only in words counts as `other`).

Every operation that takes a request out of the trace workflow — the structured export, the formal answer
PDF — declares the purpose it serves and, for a disclosure, the recipient (`check_use`). A purpose other
than the stated one is refused (`UseOutsidePurpose`, naming the stated purpose and the providing state)
unless an officer first gave notice of that disclosure to the providing state (`notify_disclosure`): a
signed `trace.disclosure_notice` message through the outbox, recorded as a `disclosure_notice` step of the
request and audited. The notice counts once the providing state's node has signed its receipt of it
(`delivered`): a notice still queued is not notice yet. The receiving node stores the notice against its
copy of the request and audits it (`on_disclosure_notice`); both trace pages list the notices (`notices`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import new_id, utcnow
from registry.errors import ValidationError
from tracing.federation import repository as federation_repo
from tracing.requests import messages
from tracing.requests import repository as repo
from tracing.requests.codes import Direction, IntendedUse
from tracing.requests.errors import InvalidTraceTransition, TraceNotFound, UseOutsidePurpose
from tracing.requests.models import TraceRequest, TraceTransition
from tracing.requests.transitions import Outcome, enqueue, lock

log = logging.getLogger(__name__)

KIND = "trace.disclosure_notice"
ACTION = "disclosure_notice"  # the step recorded in trace_transitions, on both nodes
RECIPIENT_LIMIT = 200
PURPOSES = tuple(u.value for u in IntendedUse)


@dataclass(frozen=True)
class Use:
    """A declared use that passed the check: audited by the operation that makes it."""

    purpose: str
    recipient: str | None
    stated_purpose: str
    providing_state: str | None  # None: the request holds nothing received from another state
    notice_message_id: uuid.UUID | None = None  # the delivered notice that allows a purpose not stated

    def as_info(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "recipient": self.recipient,
            "stated_purpose": self.stated_purpose,
            "providing_state": self.providing_state,
            "notice": str(self.notice_message_id) if self.notice_message_id else None,
        }


@dataclass(frozen=True)
class Notice:
    direction: str  # sent (by this node's officer) | received (from the other state)
    country: str  # the state notified (sent) or notifying (received)
    purpose: str
    recipient: str
    reason: str
    at: datetime
    actor: str
    message_id: uuid.UUID | None
    delivered_at: datetime | None  # sent notices: when the other node signed its receipt


# --- what a request holds -----------------------------------------------------------------------------------


def providing_state(req: TraceRequest) -> str:
    """The other party: the state whose information this node holds on the request."""
    return req.requested_country if req.direction == Direction.OUTGOING else req.requesting_country


def holds_received_information(req: TraceRequest) -> bool:
    """An incoming request is itself received information; an outgoing one once a reply has arrived."""
    return req.direction == Direction.INCOMING or req.response is not None


def stated_purpose(req: TraceRequest) -> str:
    return req.intended_use_code or IntendedUse.OTHER.value


def _purpose(value: str | None) -> str:
    purpose = (value or "").strip()
    if purpose not in PURPOSES:
        raise ValidationError(
            f"declare the purpose of this use, one of: {', '.join(PURPOSES)}", field="purpose", value=value
        )
    return purpose


def _recipient(value: str | None, *, required: bool = False) -> str | None:
    recipient = " ".join((value or "").split())
    if not recipient:
        if required:
            raise ValidationError("name the recipient of the disclosure", field="recipient")
        return None
    if len(recipient) > RECIPIENT_LIMIT:
        raise ValidationError(f"the recipient is at most {RECIPIENT_LIMIT} characters", field="recipient")
    return recipient


def _same_recipient(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.casefold() == b.casefold()


# --- the check ------------------------------------------------------------------------------------------------


def check_use(session: Session, req: TraceRequest, *, purpose: str | None, recipient: str | None) -> Use:
    """Allow a use of `req` outside the trace workflow, or raise `UseOutsidePurpose` (field `purpose`).

    The stated purpose is always allowed; another one only after a delivered notice to the providing state
    for that purpose and recipient. A request holding nothing received from another state (a draft, or an
    outgoing request not answered yet) carries no other state's limits: any declared purpose is allowed."""
    declared = _purpose(purpose)
    to = _recipient(recipient)
    stated = stated_purpose(req)
    if not holds_received_information(req):
        return Use(declared, to, stated, None)
    state = providing_state(req)
    if declared == stated:
        return Use(declared, to, stated, state)
    sent = [n for n in notices(session, req) if n.direction == "sent" and n.purpose == declared]
    matching = [n for n in sent if _same_recipient(n.recipient, to)]
    delivered = next((n for n in matching if n.delivered_at is not None), None)
    if delivered is not None:
        return Use(declared, to, stated, state, delivered.message_id)
    log.info("trace.use_refused request=%s purpose=%s stated=%s", req.id, declared, stated)
    raise UseOutsidePurpose(
        f"information received from {state} on this request is for {stated} only; using it for {declared}: "
        + _what_is_missing(state, to, sent, matching),
        field="purpose",
        stated_purpose=stated,
        providing_state=state,
        purpose=declared,
        recipient=to,
    )


def _what_is_missing(state: str, to: str | None, sent: list[Notice], matching: list[Notice]) -> str:
    if matching:
        return (
            f"the disclosure notice to {state} (message {matching[-1].message_id}) is not delivered yet: "
            f"the use waits for {state}'s signed receipt"
        )
    if to is None:
        return f"name the recipient and give notice of the disclosure to {state} first"
    noticed = "; ".join(sorted({n.recipient for n in sent}))
    return f"give notice of the disclosure to {to!r} to {state} first" + (
        f" (notices for this purpose name: {noticed})" if noticed else ""
    )


# --- notices --------------------------------------------------------------------------------------------------


def notify_disclosure(
    session: Session,
    *,
    actor: str,
    request_id: uuid.UUID,
    purpose: str,
    recipient: str,
    reason: str,
) -> Outcome:
    """Give the providing state notice that its information will be disclosed to `recipient` for `purpose`:
    queue the signed message, record the step, audit it. Only an officer's action sends one."""
    declared = _purpose(purpose)
    to = _recipient(recipient, required=True)
    if not reason.strip():
        raise ValidationError("say why the information is to be disclosed", field="reason")
    req = lock(session, request_id)
    if not holds_received_information(req):
        raise InvalidTraceTransition(
            f"nothing has been received from {providing_state(req)} on this request yet (it is {req.state})",
            field="state",
            current_state=req.state,
        )
    body = {"purpose": declared, "recipient": to, "reason": reason.strip()[:4000]}
    mid = enqueue(session, req, KIND, body, actor)
    row = _record(session, req, actor=actor, message_id=mid, details={**body, "to": providing_state(req)})
    audit.record(
        session,
        actor=actor,
        action="trace.disclosure_notice",
        subject=f"trace:{req.id}",
        records=[audit.snapshot_obj(row)],
        info={"to": providing_state(req), "purpose": declared, "stated_purpose": stated_purpose(req)},
    )
    return Outcome(req, [], mid)


def on_disclosure_notice(session: Session, message: Any) -> None:
    """The other state gives notice that it will disclose what we provided: kept with our copy, audited."""
    body = message.body
    req = repo.lock(session, messages.request_id(body))
    if req is None or providing_state(req) != message.from_country:
        raise TraceNotFound("no such trace request", field="body.request_id")
    details = {
        "purpose": str(messages.need(body, "purpose"))[:32],
        "recipient": str(messages.need(body, "recipient"))[:RECIPIENT_LIMIT],
        "reason": str(messages.need(body, "reason"))[:4000],
        "from": message.from_country,
    }
    actor = f"node:{message.from_country}"
    row = _record(session, req, actor=actor, message_id=message.id, details=details, at=message.sent_at)
    audit.record(
        session,
        actor=actor,
        action="trace.disclosure_notice_received",
        subject=f"trace:{req.id}",
        records=[audit.snapshot_obj(row)],
        info={"from": message.from_country, "purpose": details["purpose"]},
    )


def _record(
    session: Session,
    req: TraceRequest,
    *,
    actor: str,
    message_id: uuid.UUID,
    details: dict[str, Any],
    at: datetime | None = None,
) -> TraceTransition:
    """A step of the request's history that leaves its state as it is."""
    row = TraceTransition(
        id=new_id(), request_id=req.id, seq=repo.next_seq(session, req.id), action=ACTION,
        from_state=req.state, to_state=req.state, at=at or utcnow(), actor=actor, message_id=message_id,
        details=details,
    )  # fmt: skip
    repo.add(session, row)
    return row


def notices(session: Session, req: TraceRequest) -> list[Notice]:
    """The notices given (with their delivery) and received on `req`, oldest first."""
    out = []
    for t in repo.transitions_of(session, req.id):
        if t.action != ACTION:
            continue
        sent = "to" in t.details
        delivered = None
        if sent and t.message_id is not None:
            msg = federation_repo.outbox_message(session, t.message_id)
            delivered = msg.delivered_at if msg is not None else None
        out.append(
            Notice(
                direction="sent" if sent else "received",
                country=str(t.details.get("to") or t.details.get("from") or ""),
                purpose=str(t.details.get("purpose") or ""),
                recipient=str(t.details.get("recipient") or ""),
                reason=str(t.details.get("reason") or ""),
                at=t.at,
                actor=t.actor,
                message_id=t.message_id,
                delivered_at=delivered,
            )
        )
    return out
