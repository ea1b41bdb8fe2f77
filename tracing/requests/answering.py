"""The requested state's side: a request arrives, candidates are proposed, receipt is acknowledged
(automatically unless `ITI_TRACE_AUTO_ACK=false`), and the PoC officer answers, delays, restricts or refuses —
nothing but the acknowledgement leaves without an officer's action.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import new_id, utcnow
from registry.errors import ValidationError
from registry.reference.countries import normalise_country
from tracing.matching import service as matcher
from tracing.matching.description import Description
from tracing.requests import chain, lifecycle, messages
from tracing.requests import repository as repo
from tracing.requests.codes import Completeness, DelayReason, Direction, Ground
from tracing.requests.config import MAGIC, TraceConfig, trace_config
from tracing.requests.errors import InvalidTraceTransition, TraceNotFound
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition
from tracing.requests.transitions import (
    ENVELOPE_CONFIDENTIALITY,
    Outcome,
    S,
    enqueue,
    lock,
    move,
    require_direction,
)

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
    weapon = messages.obj(body, "weapon")
    recovery = messages.obj(body, "recovery")
    use = messages.obj(body, "intended_use")
    attachments = messages.need(body, "attachments", list) if body.get("attachments") else []
    confidentiality = str(body.get("confidentiality"))  # a list or object in it must not reach a dict look-up
    actor = f"node:{message.from_country}"
    now = utcnow()
    markings = [m for m in messages.need(body, "markings", list) if isinstance(m, dict) and m.get("text")]
    req = TraceRequest(
        id=rid,
        direction=Direction.INCOMING.value,
        state=S.DELIVERED.value,
        requesting_country=requesting,
        requesting_poc=messages.obj(body, "requesting_poc"),
        requested_country=message.to_country,
        case_reference=str(messages.need(body, "case_reference"))[:120],
        urgency=body.get("urgency") if body.get("urgency") in ("routine", "urgent") else "routine",
        confidentiality=confidentiality if confidentiality in ENVELOPE_CONFIDENTIALITY else "confidential",
        illicit_nature=str(body.get("illicit_nature") or ""),
        legal_justification=str(body.get("legal_justification") or ""),
        intended_use=str(use.get("text") or ""),
        intended_use_code=messages.opt_text(use.get("code"), "body.intended_use.code", limit=32),
        markings=[
            {k: str(v)[:300] for k, v in m.items() if k in ("text", "position", "kind", "serial")}
            for m in markings
        ],
        category=messages.opt_text(weapon.get("category"), "body.weapon.category", limit=60),
        make=messages.opt_text(weapon.get("make"), "body.weapon.make"),
        model=messages.opt_text(weapon.get("model"), "body.weapon.model"),
        calibre=messages.opt_text(weapon.get("calibre"), "body.weapon.calibre", limit=60),
        other_info=str(weapon.get("other_info") or ""),
        recovery_kind=recovery.get("kind")
        if recovery.get("kind") in ("seized", "found", "surrendered")
        else None,
        recovered_on=messages.opt_date(recovery.get("date"), "body.recovery.date"),
        recovery_place=messages.opt_text(recovery.get("place"), "body.recovery.place", limit=300),
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
    req.candidates = _candidates(session, req.markings, described(req))
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
    for a in attachments:
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


def described(req: TraceRequest) -> Description:
    """The weapon as the requesting state describes it (ITI 17(b)), for ranking the candidates."""
    return Description(make=req.make, model=req.model, calibre=req.calibre, category=req.category)


def _candidates(
    session: Session, markings: list[dict[str, Any]], description: Description | None = None
) -> list[dict[str, Any]]:
    """Ranked weapons for all observed markings together: a weapon's score is the mean over the markings of
    its best match for each (0 where a marking does not match it), so a weapon that carries the observed
    serial and the observed import mark outranks the many that share only the import mark. The agreement of
    its record with the described make, model, calibre and category is added once, for the ranking."""
    per_mark: list[dict[str, matcher.Candidate]] = []
    for m in markings:
        best: dict[str, matcher.Candidate] = {}
        for text in [m.get("serial"), m.get("text")]:
            if not text:
                continue
            try:
                found = matcher.find_candidates(
                    session, observed=str(text), limit=25, description=description
                )
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
        agreement = max(c.agreement for _i, c in hits)
        agreed = max((c.agreed for _i, c in hits), key=len)
        out.append(
            {
                "weapon_id": wid,
                "score": round(score, 4),
                "agreement": agreement,
                "agreed": list(agreed),
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
    return sorted(out, key=lambda i: (-(i["score"] + i["agreement"]), -i["score"], i["weapon_id"]))[:10]


def refresh_candidates(session: Session, *, actor: str, request_id: uuid.UUID) -> TraceRequest:
    """Search the registry again (records may have been added since the request arrived)."""
    req = lock(session, request_id)
    if req.direction != Direction.INCOMING:
        raise InvalidTraceTransition(
            "candidates are searched for incoming requests", field="direction", current_state=req.state
        )
    req.candidates = _candidates(session, req.markings, described(req))
    req.updated_at, req.updated_by, req.version = utcnow(), actor, req.version + 1
    session.flush()
    audit.record(session, actor=actor, action="trace.candidates_searched", subject=f"trace:{req.id}",
                 records=[audit.snapshot_obj(req)], info={"candidates": len(req.candidates)})  # fmt: skip
    return req


def acknowledge(session: Session, *, actor: str, request_id: uuid.UUID) -> Outcome:
    req = lock(session, request_id)
    require_direction(req, "acknowledge")
    lifecycle.check(req.state, "acknowledge")
    due = req.answer_due.isoformat() if req.answer_due else None
    mid = enqueue(session, req, "trace.acknowledgement", {"answer_due": due}, actor)
    move(session, req, "acknowledge", actor=actor, message_id=mid)
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
    require_direction(req, action)
    prior = req.completeness
    lifecycle.check(req.state, action, completeness=prior)
    body = {"outcome": lifecycle.ACTIONS[action].target.value, **body}
    req.response = body
    if completeness:
        req.completeness = completeness
    mid = enqueue(session, req, "trace.response", body, actor)
    move(
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
    req = lock(session, request_id)
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
    req = lock(session, request_id)
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
    req = lock(session, request_id)
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
    return _respond(session, lock(session, request_id), "refuse", body, actor=actor)
