"""The trace workflow: compose, send, receive, acknowledge, answer, delay, restrict, refuse, close.

Every change locks the request, checks the transition (`lifecycle`), appends a `trace_transitions` row with
the acting officer, writes the audit entry, and — where the other state must know — queues the message in
the same transaction (`tracing.federation.outbox.enqueue`): a state change and its message commit together
or not at all. Nothing is sent to another state without an officer's action, except the acknowledgement of
receipt (ITI 18), automatic unless `ITI_TRACE_AUTO_ACK=false`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
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
from tracing.matching import service as matcher
from tracing.requests import chain, lifecycle, messages
from tracing.requests import repository as repo
from tracing.requests.codes import Completeness, DelayReason, Direction, Ground, TraceState
from tracing.requests.config import MAGIC, TraceConfig, trace_config
from tracing.requests.errors import AttachmentRejected, InvalidTraceTransition, TraceNotFound
from tracing.requests.inputs import ObservedMarking, TraceRequestInput, check_complete, check_draft
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition

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


def _home(session: Session) -> str:
    node = federation_repo.get_node(session)
    return node.country if node is not None else home_country()


def _default_poc(session: Session) -> tuple[str | None, str | None]:
    node = federation_repo.get_node(session)
    return (node.poc_name, node.contact) if node is not None else (None, None)


def get(session: Session, request_id: uuid.UUID) -> TraceRequest:
    req = repo.get(session, request_id)
    if req is None:
        raise TraceNotFound(f"no trace request {request_id} on this node", field="request_id")
    return req


def _lock(session: Session, request_id: uuid.UUID) -> TraceRequest:
    req = repo.lock(session, request_id)
    if req is None:
        raise TraceNotFound(f"no trace request {request_id} on this node", field="request_id")
    return req


def _require_direction(req: TraceRequest, action: str) -> None:
    by = lifecycle.ACTIONS[action].by
    if req.direction != by:
        side = "the requested state" if by == Direction.INCOMING else "the requesting state"
        raise InvalidTraceTransition(
            f"only {side} can {action} a request; this one is {req.direction} and {req.state}",
            field="direction",
            current_state=req.state,
        )


def _move(
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


def _enqueue(session: Session, req: TraceRequest, kind: str, body: dict[str, Any], actor: str) -> uuid.UUID:
    to = req.requested_country if req.direction == Direction.OUTGOING else req.requesting_country
    return outbox.enqueue(
        session,
        to_country=to,
        kind=kind,
        body={"schema": messages.SCHEMA, "request_id": str(req.id), **body},
        confidentiality=ENVELOPE_CONFIDENTIALITY[req.confidentiality],
        actor=actor,
    )


# --- composing and sending (requesting state) ---------------------------------------------------------------


def create_draft(
    session: Session, *, actor: str, data: TraceRequestInput, config: TraceConfig | None = None
) -> Outcome:
    home = _home(session)
    check_draft(data, home_country=home)
    if data.follow_up_of is not None:
        get(session, data.follow_up_of)
    if data.weapon_id is not None and repo.weapon(session, data.weapon_id) is None:
        raise TraceNotFound(f"no weapon {data.weapon_id} in this registry", field="weapon_id")
    poc_name, poc_contact = _default_poc(session)
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
    req = _lock(session, request_id)
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
    req = _lock(session, request_id)
    _require_direction(req, "send")
    lifecycle.check(req.state, "send")
    warnings = check_complete(_values(req))
    req.lost_stolen_check = lost_stolen_check(session, req.markings)
    now = utcnow()
    req.ack_due = now + cfg.ack_period(req.urgency)
    req.answer_due = now + cfg.answer_period(req.urgency)
    req.sent_at = now
    body = messages.request_body(req, repo.attachments_of(session, req.id))
    mid = _enqueue(session, req, "trace.request", {k: v for k, v in body.items() if k != "request_id"}, actor)
    _move(session, req, "send", actor=actor, at=now, message_id=mid)
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
    req = _lock(session, request_id)
    _require_direction(req, "close")
    was_draft = req.state == S.DRAFT
    lifecycle.check(req.state, "close")
    details = {"note": note[:2000], "origin_established": origin_established}
    mid = None
    if not was_draft:
        mid = _enqueue(session, req, "trace.close", details, actor)
    _move(session, req, "close", actor=actor, details=details, message_id=mid)
    return Outcome(req, [], mid)


# --- receiving and answering (requested state) ---------------------------------------------------------------


def receive(session: Session, *, message: Any, config: TraceConfig | None = None) -> TraceRequest:
    """A `trace.request` arrived: store it as incoming, propose candidates, acknowledge receipt (ITI 18)."""
    cfg = config or trace_config()
    body = message.body
    rid = messages.request_id(body)
    if (existing := repo.get(session, rid)) is not None:
        # A second delivery (the federation layer normally stops it first) — or another state reusing an id
        # it cannot know: answered as if the request did not exist.
        if existing.direction != Direction.INCOMING or existing.requesting_country != message.from_country:
            raise TraceNotFound("no such trace request", field="body.request_id")
        return existing
    requesting = normalise_country(
        str(body.get("requesting_state") or message.from_country), field="body.requesting_state"
    )
    if requesting != message.from_country:
        raise ValidationError("the requesting state is not the sender", field="body.requesting_state")
    weapon = body.get("weapon") or {}
    recovery = body.get("recovery") or {}
    use = body.get("intended_use") or {}
    actor = f"node:{message.from_country}"
    now = utcnow()
    markings = [m for m in messages.need(body, "markings", list) if isinstance(m, dict) and m.get("text")]
    req = TraceRequest(
        id=rid,
        direction=Direction.INCOMING.value,
        state=S.DELIVERED.value,
        requesting_country=requesting,
        requesting_poc=body.get("requesting_poc") or {},
        requested_country=message.to_country,
        case_reference=str(messages.need(body, "case_reference"))[:120],
        urgency=body.get("urgency") if body.get("urgency") in ("routine", "urgent") else "routine",
        confidentiality=body.get("confidentiality")
        if body.get("confidentiality") in ENVELOPE_CONFIDENTIALITY
        else "confidential",
        illicit_nature=str(body.get("illicit_nature") or ""),
        legal_justification=str(body.get("legal_justification") or ""),
        intended_use=str(use.get("text") or ""),
        intended_use_code=use.get("code"),
        markings=[
            {k: str(v)[:300] for k, v in m.items() if k in ("text", "position", "kind", "serial")}
            for m in markings
        ],
        category=weapon.get("category"),
        make=weapon.get("make"),
        model=weapon.get("model"),
        calibre=weapon.get("calibre"),
        other_info=str(weapon.get("other_info") or ""),
        recovery_kind=recovery.get("kind")
        if recovery.get("kind") in ("seized", "found", "surrendered")
        else None,
        recovered_on=messages.opt_date(recovery.get("date"), "body.recovery.date"),
        recovery_place=recovery.get("place"),
        follow_up_of=None,
        lost_stolen_check=body.get("lost_stolen_check"),
        ack_due=now + cfg.ack_period(body.get("urgency") or "routine"),
        answer_due=now + cfg.answer_period(body.get("urgency") or "routine"),
        created_at=now,
        created_by=actor,
        delivered_at=now,
        updated_at=now,
        updated_by=actor,
        version=1,
    )
    req.candidates = _candidates(session, req.markings)
    repo.add(session, req)
    row = TraceTransition(
        id=new_id(), request_id=rid, seq=1, action="receive", from_state=None, to_state=req.state,
        at=now, actor=actor, message_id=message.id, details={"sent_at": message.sent_at.isoformat()},
    )  # fmt: skip
    repo.add(session, row)
    audit.record(
        session,
        actor=actor,
        action="trace.received",
        subject=f"trace:{rid}",
        records=[audit.snapshot_obj(req), audit.snapshot_obj(row)],
        info={"from": requesting, "candidates": len(req.candidates)},
    )
    for a in body.get("attachments") or []:
        _store_received_attachment(session, req, a, actor)
    if cfg.auto_acknowledge:
        acknowledge(session, actor=f"node:{req.requested_country}", request_id=rid)
    return req


def _store_received_attachment(session: Session, req: TraceRequest, a: dict[str, Any], actor: str) -> None:
    if not isinstance(a, dict) or not a.get("data") or a.get("media_type") not in MAGIC:
        return
    try:
        data = base64.b64decode(str(a["data"]), validate=True)
    except (binascii.Error, ValueError):
        return
    if not any(data.startswith(m) for m in MAGIC[a["media_type"]]):
        return
    row = TraceAttachment(
        id=new_id(), request_id=req.id, filename=str(a.get("filename") or "photo")[:200],
        media_type=a["media_type"], size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
        added_at=utcnow(), added_by=actor,
    )  # fmt: skip
    repo.add(session, row)
    audit.record(session, actor=actor, action="trace.attachment_received", subject=f"trace:{req.id}",
                 records=[audit.snapshot_obj(row)])  # fmt: skip


def _candidates(session: Session, markings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ranked weapons for all observed markings together: a weapon's score is the mean over the markings of
    its best match for each (0 where a marking does not match it), so a weapon that carries the observed
    serial and the observed import mark outranks the many that share only the import mark."""
    per_mark: list[dict[str, matcher.Candidate]] = []
    for m in markings:
        best: dict[str, matcher.Candidate] = {}
        for text in [m.get("serial"), m.get("text")]:
            if not text:
                continue
            try:
                found = matcher.find_candidates(session, observed=str(text), limit=25)
            except ValidationError:
                continue
            for c in found:
                have = best.get(str(c.weapon_id))
                if have is None or c.score > have.score:
                    best[str(c.weapon_id)] = c
        per_mark.append(best)
    weapons = {wid for best in per_mark for wid in best}
    out = []
    for wid in weapons:
        hits = [(i, best[wid]) for i, best in enumerate(per_mark) if wid in best]
        score = sum(c.score for _i, c in hits) / max(1, len(per_mark))
        out.append(
            {
                "weapon_id": wid,
                "score": round(score, 4),
                "exact": all(c.exact for _i, c in hits) and len(hits) == len(per_mark),
                "reason": "; ".join(
                    f"marking {i + 1} ({markings[i].get('position') or '?'}): {c.reason}" for i, c in hits
                )
                + (
                    f"; {len(per_mark) - len(hits)} observed marking(s) not matched"
                    if len(hits) < len(per_mark)
                    else ""
                ),
                "matched_markings": len(hits),
            }
        )
    return sorted(out, key=lambda i: (-i["score"], i["weapon_id"]))[:10]


def refresh_candidates(session: Session, *, actor: str, request_id: uuid.UUID) -> TraceRequest:
    """Search the registry again (records may have been added since the request arrived)."""
    req = _lock(session, request_id)
    if req.direction != Direction.INCOMING:
        raise InvalidTraceTransition(
            "candidates are searched for incoming requests", field="direction", current_state=req.state
        )
    req.candidates = _candidates(session, req.markings)
    req.updated_at, req.updated_by, req.version = utcnow(), actor, req.version + 1
    session.flush()
    audit.record(session, actor=actor, action="trace.candidates_searched", subject=f"trace:{req.id}",
                 records=[audit.snapshot_obj(req)], info={"candidates": len(req.candidates)})  # fmt: skip
    return req


def acknowledge(session: Session, *, actor: str, request_id: uuid.UUID) -> Outcome:
    req = _lock(session, request_id)
    _require_direction(req, "acknowledge")
    lifecycle.check(req.state, "acknowledge")
    due = req.answer_due.isoformat() if req.answer_due else None
    mid = _enqueue(session, req, "trace.acknowledgement", {"answer_due": due}, actor)
    _move(session, req, "acknowledge", actor=actor, message_id=mid)
    return Outcome(req, [], mid)


def _respond(
    session: Session,
    req: TraceRequest,
    action: str,
    body: dict[str, Any],
    *,
    actor: str,
    completeness: str | None = None,
) -> Outcome:
    _require_direction(req, action)
    prior = req.completeness
    lifecycle.check(req.state, action, completeness=prior)
    body = {"outcome": lifecycle.ACTIONS[action].target.value, **body}
    req.response = body
    if completeness:
        req.completeness = completeness
    mid = _enqueue(session, req, "trace.response", body, actor)
    _move(
        session,
        req,
        action,
        actor=actor,
        prior_completeness=prior,
        message_id=mid,
        details={k: v for k, v in body.items() if k != "supply_chain"},
    )
    return Outcome(req, [], mid)


def answer(
    session: Session,
    *,
    actor: str,
    request_id: uuid.UUID,
    completeness: str,
    weapon_id: uuid.UUID | None = None,
    text: str = "",
    config: TraceConfig | None = None,
) -> Outcome:
    """The PoC officer's answer: the chosen weapon's supply chain (or that no record was found)."""
    cfg = config or trace_config()
    if completeness not in Completeness._value2member_map_:
        raise ValidationError("completeness must be full or partial", field="completeness")
    req = _lock(session, request_id)
    if weapon_id is None and not text.strip():
        raise ValidationError(
            "choose the weapon (weapon_id) or say in the text that no record was found", field="weapon_id"
        )
    body: dict[str, Any] = {
        "completeness": completeness,
        "weapon_found": weapon_id is not None,
        "text": text[:4000],
    }
    if weapon_id is not None:
        body["supply_chain"] = chain.supply_chain(
            session, weapon_id, share_holder_category=cfg.share_holder_category
        )
        req.weapon_id = weapon_id
    return _respond(session, req, "answer", body, actor=actor, completeness=completeness)


def delay(
    session: Session, *, actor: str, request_id: uuid.UUID, reason_code: str, reason: str, expected_by: date
) -> Outcome:
    if reason_code not in DelayReason._value2member_map_:
        raise ValidationError(
            f"reason_code must be one of: {', '.join(DelayReason)}", field="reason_code", value=reason_code
        )
    if not reason.strip():
        raise ValidationError("say why the answer is delayed", field="reason")
    if expected_by <= utcnow().date():
        raise ValidationError("the expected date of the answer must be after today", field="expected_by")
    req = _lock(session, request_id)
    req.expected_by = expected_by
    req.answer_due = datetime.combine(expected_by, time(23, 59, 59), tzinfo=UTC)
    body = {"reason_code": reason_code, "reason": reason[:4000], "expected_by": expected_by.isoformat()}
    return _respond(session, req, "delay", body, actor=actor)


def _grounds(grounds: list[str]) -> list[str]:
    if not grounds:
        raise ValidationError(
            "give the ground (ITI 22): " + ", ".join(g.value for g in Ground), field="grounds"
        )
    for g in grounds:
        if g not in Ground._value2member_map_:
            raise ValidationError(
                f"{g!r} is not a permitted ground (ITI 22): " + ", ".join(x.value for x in Ground),
                field="grounds",
                value=g,
            )
    return sorted(set(grounds))


def restrict(
    session: Session,
    *,
    actor: str,
    request_id: uuid.UUID,
    grounds: list[str],
    reason: str,
    weapon_id: uuid.UUID | None = None,
    config: TraceConfig | None = None,
) -> Outcome:
    """Answer with part of the information withheld on a permitted ground (ITI 22), reasons told."""
    cfg = config or trace_config()
    if not reason.strip():
        raise ValidationError(
            "the reason for the restriction is told to the requesting state", field="reason"
        )
    body: dict[str, Any] = {
        "grounds": _grounds(grounds),
        "reason": reason[:4000],
        "weapon_found": weapon_id is not None,
    }
    req = _lock(session, request_id)
    if weapon_id is not None:
        body["supply_chain"] = chain.supply_chain(
            session, weapon_id, share_holder_category=cfg.share_holder_category
        )
        req.weapon_id = weapon_id
    return _respond(session, req, "restrict", body, actor=actor)


def refuse(
    session: Session, *, actor: str, request_id: uuid.UUID, grounds: list[str], reason: str
) -> Outcome:
    if not reason.strip():
        raise ValidationError("a refusal gives its reason to the requesting state (ITI 22)", field="reason")
    body = {"grounds": _grounds(grounds), "reason": reason[:4000]}
    return _respond(session, _lock(session, request_id), "refuse", body, actor=actor)


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
        _move(session, req, "deliver", actor=actor, at=message.sent_at, message_id=message.id)


def on_acknowledgement(session: Session, message: Any) -> None:
    req = _party(session, message, direction=Direction.OUTGOING)
    _catch_up(session, req, message)
    if req.state != S.DELIVERED:
        return  # already acknowledged or answered: a late acknowledgement changes nothing
    if due := messages.opt_date((message.body.get("answer_due") or "")[:10] or None, "body.answer_due"):
        req.answer_due = datetime.combine(due, time(23, 59, 59), tzinfo=UTC)
    _move(
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
    _move(
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
    req = _lock(session, request_id)
    if req.direction != Direction.OUTGOING or req.state != S.SENT:
        return False
    _move(session, req, "deliver", actor=f"node:{req.requested_country}", at=at)
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
