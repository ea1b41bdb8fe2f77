"""Bodies of the trace messages exchanged between nodes (schema `iti-trace/1`). Codes are language-neutral;
free text travels beside them. `docs/tracing.md` describes every field.

- `trace.request`: the request as sent (ITI 17), with its attachments inline while they fit.
- `trace.acknowledgement`: receipt acknowledged, with the answer deadline the requested state works to.
- `trace.response`: `outcome` answered (with `completeness` full|partial), delayed (`reason_code`,
  `expected_by`), restricted or refused (`grounds`, `reason`); an answer carries `supply_chain`.
- `trace.close`: the requesting state closed the case.
- `trace.disclosure_notice`: either state gives the other notice that it will disclose what it received to
  `recipient` for `purpose` (an intended-use code), with its `reason` (REQ-32, `tracing.requests.disclosure`).
"""

from __future__ import annotations

import base64
import uuid
from datetime import date
from typing import Any

from registry.errors import ValidationError
from tracing.requests.models import TraceAttachment, TraceRequest

SCHEMA = "iti-trace/1"
KINDS = (
    "trace.request",
    "trace.acknowledgement",
    "trace.response",
    "trace.close",
    "trace.disclosure_notice",
)
INLINE_BUDGET = 150_000  # bytes of photos carried inside one message (the envelope limit is 256 KiB)


def request_body(req: TraceRequest, attachments: list[TraceAttachment]) -> dict[str, Any]:
    inline, used = [], 0
    for a in attachments:
        item: dict[str, Any] = {
            "filename": a.filename,
            "media_type": a.media_type,
            "size": a.size,
            "sha256": a.sha256,
        }
        if used + a.size <= INLINE_BUDGET:
            item["data"] = base64.b64encode(a.data).decode()
            used += a.size
        inline.append(item)
    return {
        "schema": SCHEMA,
        "request_id": str(req.id),
        "follow_up_of": str(req.follow_up_of) if req.follow_up_of else None,
        "case_reference": req.case_reference,
        "urgency": req.urgency,
        "confidentiality": req.confidentiality,
        "requesting_state": req.requesting_country,
        "requesting_poc": req.requesting_poc,
        "requested_state": req.requested_country,
        "illicit_nature": req.illicit_nature,
        "legal_justification": req.legal_justification,
        "intended_use": {"code": req.intended_use_code, "text": req.intended_use},
        "weapon": {
            "category": req.category,
            "make": req.make,
            "model": req.model,
            "calibre": req.calibre,
            "other_info": req.other_info,
        },
        "markings": req.markings,
        "recovery": {
            "kind": req.recovery_kind,
            "date": req.recovered_on.isoformat() if req.recovered_on else None,
            "place": req.recovery_place,
        },
        "lost_stolen_check": _lost_stolen_summary(req.lost_stolen_check),
        "attachments": inline,
    }


def _lost_stolen_summary(check: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the other state needs of our own search: when, and whether our records report the weapon lost or
    stolen — not our internal record ids."""
    if check is None:
        return None
    reported = check.get("reported_lost_or_stolen") or []
    return {
        "searched_at": check.get("searched_at"),
        "reported_lost_or_stolen": len(reported),
        "statuses": sorted({str(h.get("status")) for h in reported}),
    }


def request_id(body: dict[str, Any]) -> uuid.UUID:
    try:
        return uuid.UUID(str(body["request_id"]))
    except (KeyError, ValueError):
        raise ValidationError("the message names no valid request_id", field="body.request_id") from None


def need(body: dict[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    value = body.get(key)
    if not isinstance(value, kind):
        raise ValidationError(f"body.{key} is missing or of the wrong type", field=f"body.{key}")
    return value


def obj(body: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object of a body (`weapon`, `recovery`...): {} when absent, refused when not an object
    (a peer's `"weapon": "x"` must be a validation error, not an AttributeError the sender retries for ever)."""
    value = body.get(key)
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError(f"body.{key} must be an object", field=f"body.{key}")
    return value


def opt_text(value: Any, fld: str, *, limit: int = 200) -> str | None:
    """An optional text member, stored in a text column: anything else is refused, not stored as-is."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{fld} must be text", field=fld)
    return value[:limit]


def opt_date(value: Any, fld: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(f"{fld} must be a date YYYY-MM-DD", field=fld) from None
