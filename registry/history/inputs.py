"""What an officer gives to record an event, and its checks that need no database."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from registry.codes import EventType, IllicitGround, MarkCondition, OriginEstablished, VoidReason
from registry.errors import ValidationError
from registry.reference.countries import normalise_country

# Clocks drift; an event dated a little ahead of the server is a clock problem, not a prophecy.
FUTURE_TOLERANCE = timedelta(minutes=10)


@dataclass
class EventInput:
    type: str
    occurred_at: datetime | None = None
    from_org_id: uuid.UUID | None = None
    to_org_id: uuid.UUID | None = None
    from_person_id: uuid.UUID | None = None
    to_person_id: uuid.UUID | None = None
    from_country: str | None = None
    to_country: str | None = None
    location: str | None = None
    documents: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    corrects_event_id: uuid.UUID | None = None


def normalise_event(ev: EventInput, *, now: datetime) -> EventType:
    try:
        etype = EventType(ev.type)
    except ValueError:
        raise ValidationError(
            f"event type {ev.type!r} is not one of: {', '.join(e.value for e in EventType)}",
            field="type",
            value=ev.type,
        ) from None
    ev.type = etype.value
    if ev.occurred_at is None:
        ev.occurred_at = now
    elif ev.occurred_at.tzinfo is None:
        raise ValidationError(
            "occurred_at needs a time zone (e.g. 2024-05-01T10:00:00Z)", field="occurred_at"
        )
    ev.occurred_at = ev.occurred_at.astimezone(UTC)
    if ev.occurred_at > now + FUTURE_TOLERANCE:
        raise ValidationError(
            "an event cannot be dated in the future", field="occurred_at", value=ev.occurred_at.isoformat()
        )
    for fld in ("from_country", "to_country"):
        value = getattr(ev, fld)
        if value:
            setattr(ev, fld, normalise_country(value, field=fld))
    if not isinstance(ev.data, dict):
        raise ValidationError("data must be an object of named facts", field="data")
    if "transit_countries" in ev.data:
        _require_list_of_text(ev.data["transit_countries"], "data.transit_countries")
        ev.data["transit_countries"] = [
            normalise_country(c, field="data.transit_countries") for c in ev.data["transit_countries"]
        ]
    _check_documents(ev.documents)
    _check_storable(ev.data, "data")
    _check_storable(ev.documents, "documents")
    return etype


def _check_storable(value: Any, field: str) -> None:
    """Free-form JSON must be storable and hashable for the audit log (orjson): integers within 64 bits,
    nesting at most 254 deep. Found by the stateful API fuzzing: a huge number in `data` was a 500."""
    try:
        orjson.dumps(value)
    except TypeError as exc:
        raise ValidationError(
            f"{field} cannot be stored: {exc} (numbers must fit in 64 bits, nesting at most 254 deep)",
            field=field,
        ) from None


def _check_documents(documents: list[dict[str, Any]]) -> None:
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("number"):
            raise ValidationError(
                "each document needs a kind (licence, permit, end_user_certificate, …) and a number",
                field=f"documents[{i}]",
            )
        for date_field in ("issued_on", "expires_on"):
            if doc.get(date_field):
                try:
                    datetime.fromisoformat(str(doc[date_field]))
                except ValueError:
                    raise ValidationError(
                        f"{date_field} must be an ISO date (YYYY-MM-DD)", field=f"documents[{i}].{date_field}"
                    ) from None


def check_recovery_data(data: dict[str, Any], etype: EventType) -> None:
    """REQ-03 and REQ-39: illicit only on ITI grounds; SDG 16.4.2 facts of each recovered weapon."""
    grounds = data.get("illicit_grounds") or []
    _require_list_of_text(grounds, "data.illicit_grounds")
    if data.get("illicit") and not grounds:
        raise ValidationError(
            "a weapon is recorded as illicit only with at least one ground: "
            + ", ".join(g.value for g in IllicitGround),
            field="data.illicit_grounds",
        )
    for g in grounds:
        if g not in IllicitGround._value2member_map_:
            raise ValidationError(
                f"{g!r} is not an ITI ground for illicit status", field="data.illicit_grounds", value=g
            )
    origin = data.get("origin_established", OriginEstablished.PENDING.value)
    if not isinstance(origin, str):
        raise ValidationError("origin_established is a code", field="data.origin_established")
    if origin not in OriginEstablished._value2member_map_:
        raise ValidationError(
            f"origin_established {origin!r} is not one of: " + ", ".join(o.value for o in OriginEstablished),
            field="data.origin_established",
        )
    data["origin_established"] = origin
    cond = data.get("mark_condition", MarkCondition.INTACT.value)
    if not isinstance(cond, str):
        raise ValidationError("mark_condition is a code", field="data.mark_condition")
    if cond not in MarkCondition._value2member_map_:
        raise ValidationError(
            f"mark_condition {cond!r} is not one of: " + ", ".join(c.value for c in MarkCondition),
            field="data.mark_condition",
        )
    data["mark_condition"] = cond
    if etype == EventType.SEIZED and "criminal_offence" not in data:
        # SDG 16.4.2 counts a seizure only when it is linked to a criminal offence; make the officer say.
        raise ValidationError(
            "a seizure must say whether it is linked to a criminal offence", field="data.criminal_offence"
        )


def check_void_data(ev: EventInput) -> None:
    reason = ev.data.get("reason")
    if reason not in VoidReason._value2member_map_:
        raise ValidationError(
            "voiding a registration needs a reason: duplicate or error", field="data.reason"
        )
    if not ev.notes.strip():
        raise ValidationError("voiding a registration needs an explanation in the notes", field="notes")


def _require_list_of_text(value: Any, field: str) -> None:
    # Free-form `data` reaches here from the API, the CLI and imports alike: check its shape, not just values.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("a list of codes is expected", field=field)
