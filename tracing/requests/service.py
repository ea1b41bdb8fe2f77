"""The trace workflow: compose, send, receive, acknowledge, answer, delay, restrict, refuse, close.

Every change locks the request, checks the transition (`lifecycle`), appends a `trace_transitions` row with
the acting officer, writes the audit entry, and — where the other state must know — queues the message in
the same transaction (`tracing.federation.outbox.enqueue`): a state change and its message commit together
or not at all. Nothing is sent to another state without an officer's action, except the acknowledgement of
receipt (ITI 18), automatic unless `ITI_TRACE_AUTO_ACK=false`.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import new_id, utcnow
from registry.errors import ValidationError
from registry.warnings import Warning
from tracing.matching import service as matcher
from tracing.requests import lifecycle, messages
from tracing.requests import repository as repo
from tracing.requests.answering import (
    acknowledge,
    answer,
    delay,
    receive,
    refresh_candidates,
    refuse,
    restrict,
)
from tracing.requests.codes import Direction
from tracing.requests.config import MAGIC, TraceConfig, trace_config
from tracing.requests.errors import AttachmentRejected, InvalidTraceTransition, TraceNotFound
from tracing.requests.inbound import (
    mark_delivered,
    on_acknowledgement,
    on_close,
    on_response,
    refresh_deliveries,
)
from tracing.requests.inputs import ObservedMarking, TraceRequestInput, check_complete, check_draft
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition
from tracing.requests.transitions import (
    Outcome,
    S,
    default_poc,
    enqueue,
    get,
    home_country,
    lock,
    move,
    node_country,
    require_direction,
)

# --- composing and sending (requesting state) ---------------------------------------------------------------


def create_draft(
    session: Session, *, actor: str, data: TraceRequestInput, config: TraceConfig | None = None
) -> Outcome:
    home = node_country(session)
    check_draft(data, home_country=home)
    if data.follow_up_of is not None:
        get(session, data.follow_up_of)
    if data.weapon_id is not None and repo.weapon(session, data.weapon_id) is None:
        raise TraceNotFound(f"no weapon {data.weapon_id} in this registry", field="weapon_id")
    poc_name, poc_contact = default_poc(session)
    now = utcnow()
    req = TraceRequest(
        id=new_id(),
        direction=Direction.OUTGOING.value,
        state=S.DRAFT.value,
        requesting_country=home,
        requesting_poc={"name": data.poc_name or poc_name, "contact": data.poc_contact or poc_contact},
        requested_country=data.requested_country,
        case_reference=data.case_reference,
        urgency=data.urgency,
        confidentiality=data.confidentiality,
        illicit_nature=data.illicit_nature,
        legal_justification=data.legal_justification,
        intended_use=data.intended_use,
        intended_use_code=data.intended_use_code,
        markings=[m.as_dict() for m in data.markings],
        category=data.category,
        make=data.make,
        model=data.model,
        calibre=data.calibre,
        other_info=data.other_info,
        recovery_kind=data.recovery_kind,
        recovered_on=data.recovered_on,
        recovery_place=data.recovery_place,
        weapon_id=data.weapon_id,
        follow_up_of=data.follow_up_of,
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
        version=1,
    )
    repo.add(session, req)
    audit.record(
        session,
        actor=actor,
        action="trace.drafted",
        subject=f"trace:{req.id}",
        records=[audit.snapshot_obj(req)],
        info={"requested_country": req.requested_country},
    )
    return Outcome(req, _completeness_warnings(req))


def _values(req: TraceRequest) -> dict[str, Any]:
    return {
        "illicit_nature": req.illicit_nature,
        "legal_justification": req.legal_justification,
        "markings": req.markings,
        "category": req.category,
        "calibre": req.calibre,
        "intended_use": req.intended_use,
        "intended_use_code": req.intended_use_code,
        "poc_name": (req.requesting_poc or {}).get("name"),
        "poc_contact": (req.requesting_poc or {}).get("contact"),
        "make": req.make,
        "model": req.model,
        "recovery_kind": req.recovery_kind,
        "recovered_on": req.recovered_on,
        "recovery_place": req.recovery_place,
    }


def _completeness_warnings(req: TraceRequest) -> list[Warning]:
    try:
        return check_complete(_values(req))
    except ValidationError as exc:
        return [Warning("not_ready_to_send", exc.message, exc.field)]


def add_attachment(
    session: Session,
    *,
    actor: str,
    request_id: uuid.UUID,
    filename: str,
    media_type: str,
    data: bytes,
    config: TraceConfig | None = None,
) -> TraceAttachment:
    """A photo of the weapon or its marks (REQ-35), checked for type (by its bytes) and size; drafts only."""
    cfg = config or trace_config()
    req = lock(session, request_id)
    if req.state != S.DRAFT:
        raise InvalidTraceTransition(
            f"photos are added to a draft; this request is {req.state}",
            field="state",
            current_state=req.state,
        )
    if media_type not in cfg.photo_types:
        raise AttachmentRejected(
            f"media type {media_type!r} is not accepted ({', '.join(cfg.photo_types)})", field="media_type"
        )
    if not data or len(data) > cfg.max_photo_bytes:
        raise AttachmentRejected(
            f"a photo must be 1 to {cfg.max_photo_bytes} bytes; this one is {len(data)}", field="data"
        )
    if not any(data.startswith(m) for m in MAGIC[media_type]):
        raise AttachmentRejected(f"the file is not a {media_type} image", field="data")
    if len(repo.attachments_of(session, request_id)) >= cfg.max_photos:
        raise AttachmentRejected(f"at most {cfg.max_photos} photos per request", field="data")
    name = filename.strip().replace("/", "_").replace("\\", "_")[:200] or "photo"
    row = TraceAttachment(
        id=new_id(),
        request_id=request_id,
        filename=name,
        media_type=media_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        added_at=utcnow(),
        added_by=actor,
    )
    repo.add(session, row)
    audit.record(
        session,
        actor=actor,
        action="trace.attachment_added",
        subject=f"trace:{request_id}",
        records=[audit.snapshot_obj(row)],
        info={"media_type": media_type, "size": len(data)},
    )
    return row


def lost_stolen_check(session: Session, markings: list[dict[str, Any]]) -> dict[str, Any]:
    """REQ-27: search the national records for each observed marking; keep what was searched and found."""
    best: dict[str, dict[str, Any]] = {}
    searched: set[str] = set()
    for m in markings:
        for text in {m.get("serial"), m.get("text")} - {None, ""}:
            searched.add(str(text))
            for c in matcher.find_candidates(session, observed=str(text), limit=10):
                hit = {"marking": text, "weapon_id": str(c.weapon_id), "score": c.score, "reason": c.reason}
                if hit["weapon_id"] not in best or c.score > best[hit["weapon_id"]]["score"]:
                    best[hit["weapon_id"]] = hit
    hits = list(best.values())
    states = repo.states_of(session, [uuid.UUID(h["weapon_id"]) for h in hits])
    for h in hits:
        s = states.get(uuid.UUID(h["weapon_id"]))
        h["status"] = s.status if s else None
    reported = [h for h in hits if h["status"] in ("lost", "stolen")]
    return {
        "searched_at": utcnow().isoformat(),
        "searched": sorted(searched),
        "registry_matches": len({h["weapon_id"] for h in hits}),
        "reported_lost_or_stolen": reported,
    }


def send(
    session: Session, *, actor: str, request_id: uuid.UUID, config: TraceConfig | None = None
) -> Outcome:
    cfg = config or trace_config()
    req = lock(session, request_id)
    require_direction(req, "send")
    lifecycle.check(req.state, "send")
    warnings = check_complete(_values(req))
    req.lost_stolen_check = lost_stolen_check(session, req.markings)
    now = utcnow()
    req.ack_due = now + cfg.ack_period(req.urgency)
    req.answer_due = now + cfg.answer_period(req.urgency)
    req.sent_at = now
    body = messages.request_body(req, repo.attachments_of(session, req.id))
    mid = enqueue(session, req, "trace.request", {k: v for k, v in body.items() if k != "request_id"}, actor)
    move(session, req, "send", actor=actor, at=now, message_id=mid)
    return Outcome(req, warnings, mid)


def follow_up(
    session: Session, *, actor: str, request_id: uuid.UUID, requested_country: str | None = None
) -> Outcome:
    """A new draft to the next state on the weapon's path, prefilled from `request_id` ("next hop")."""
    earlier = get(session, request_id)
    if earlier.direction != Direction.OUTGOING:
        raise InvalidTraceTransition(
            "follow up your own requests", field="direction", current_state=earlier.state
        )
    target = requested_country or next_hop(session, earlier)
    if target is None:
        raise ValidationError(
            "the answers so far name no other state to ask; give requested_country", field="requested_country"
        )
    data = TraceRequestInput(
        requested_country=target,
        case_reference=earlier.case_reference,
        illicit_nature=earlier.illicit_nature,
        legal_justification=earlier.legal_justification,
        intended_use=earlier.intended_use,
        intended_use_code=earlier.intended_use_code,
        markings=[],
        category=earlier.category,
        make=earlier.make,
        model=earlier.model,
        calibre=earlier.calibre,
        other_info=earlier.other_info,
        urgency=earlier.urgency,
        confidentiality=earlier.confidentiality,
        recovery_kind=earlier.recovery_kind,
        recovered_on=earlier.recovered_on,
        recovery_place=earlier.recovery_place,
        weapon_id=earlier.weapon_id,
        follow_up_of=earlier.id,
        poc_name=(earlier.requesting_poc or {}).get("name"),
        poc_contact=(earlier.requesting_poc or {}).get("contact"),
    )
    data.markings = [ObservedMarking(**m) for m in earlier.markings]
    return create_draft(session, actor=actor, data=data)


def next_hop(session: Session, req: TraceRequest) -> str | None:
    """The first state on the weapon's path, as answered, that this case has not asked yet."""
    asked = {r.requested_country for r in repo.chain_of(session, req.id)} | {req.requesting_country}
    countries = ((req.response or {}).get("supply_chain") or {}).get("countries") or []
    return next((c for c in countries if c not in asked), None)


def close(
    session: Session,
    *,
    actor: str,
    request_id: uuid.UUID,
    note: str = "",
    origin_established: bool | None = None,
) -> Outcome:
    """Close a request (or discard a draft). Tells the requested state, unless it never got the request."""
    req = lock(session, request_id)
    require_direction(req, "close")
    was_draft = req.state == S.DRAFT
    lifecycle.check(req.state, "close")
    details = {"note": note[:2000], "origin_established": origin_established}
    mid = None
    if not was_draft:
        mid = enqueue(session, req, "trace.close", details, actor)
    move(session, req, "close", actor=actor, details=details, message_id=mid)
    return Outcome(req, [], mid)


# --- reading ------------------------------------------------------------------------------------------------


def view(session: Session, *, actor: str, request_id: uuid.UUID) -> TraceRequest:
    """A request as an officer opens it: every view is audited (the information is confidential)."""
    req = get(session, request_id)
    audit.record(
        session, actor=actor, action="trace.viewed", subject=f"trace:{req.id}", info={"state": req.state}
    )
    return req


def transitions(session: Session, request_id: uuid.UUID) -> list[TraceTransition]:
    return repo.transitions_of(session, request_id)


def attachments(session: Session, request_id: uuid.UUID) -> list[TraceAttachment]:
    return repo.attachments_of(session, request_id)


def search(session: Session, **filters: Any) -> list[TraceRequest]:
    return repo.search(session, **filters)


@dataclass(frozen=True)
class Overdue:
    request: TraceRequest
    what: str  # acknowledgement | answer | follow_up
    due: datetime
    owed_by: str  # the state that owes it

    @property
    def days_late(self) -> int:
        return (utcnow() - self.due).days


def overdue(session: Session, *, now: datetime | None = None) -> list[Overdue]:
    """Requests past their acknowledgement or answer deadline, either direction (REQ-28)."""
    now = now or utcnow()
    out: list[Overdue] = []
    waiting_ack = (S.SENT, S.DELIVERED)
    waiting_answer = (S.SENT, S.DELIVERED, S.ACKNOWLEDGED, S.DELAYED)
    for req in repo.open_requests(session, [s.value for s in waiting_answer]):
        owed_by = req.requested_country
        if req.state in waiting_ack and req.ack_due and req.ack_due < now:
            out.append(Overdue(req, "acknowledgement", req.ack_due, owed_by))
        elif req.answer_due and req.answer_due < now:
            out.append(
                Overdue(req, "follow_up" if req.state == S.DELAYED else "answer", req.answer_due, owed_by)
            )
    return sorted(out, key=lambda o: o.due)


# The one entry point of the workflow for the edges (API, CLI) and the handlers: the requested state's
# actions and the reactions to messages live in their own modules and are re-exported here.
__all__ = [
    "Outcome",
    "Overdue",
    "acknowledge",
    "add_attachment",
    "answer",
    "attachments",
    "close",
    "create_draft",
    "delay",
    "follow_up",
    "get",
    "home_country",
    "lost_stolen_check",
    "mark_delivered",
    "next_hop",
    "on_acknowledgement",
    "on_close",
    "on_response",
    "overdue",
    "receive",
    "refresh_candidates",
    "refresh_deliveries",
    "refuse",
    "restrict",
    "search",
    "send",
    "transitions",
    "view",
]
