"""What a trace request must say (ITI 17, REQ-25), checked with errors that name the field.

Two levels: a draft needs only what makes it a draft (the requested state, a case reference, valid codes);
sending needs everything the ITI requires. Missing recovery circumstances, make or model only warn: an
obliterated weapon may have no readable maker, and the request still has to go.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from registry.db import utcnow
from registry.errors import ValidationError
from registry.reference.countries import normalise_country
from registry.warnings import Warning
from tracing.matching.skeleton import UNREADABLE, normalise_observed
from tracing.requests.codes import Confidentiality, IntendedUse, RecoveryKind, Urgency
from tracing.requests.errors import IncompleteRequest

MAX_TEXT = 4000


@dataclass
class ObservedMarking:
    """A marking as the officer reads it on the recovered weapon; `?` for each unreadable character."""

    text: str
    position: str  # where on the weapon: frame, receiver, slide, barrel…
    kind: str | None = None  # manufacture, import, state_transfer, proof… if the officer can tell
    serial: str | None = None  # the serial part of the text, if the officer can tell

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass
class TraceRequestInput:
    requested_country: str
    case_reference: str
    illicit_nature: str = ""
    legal_justification: str = ""
    intended_use: str = ""
    intended_use_code: str | None = None
    markings: list[ObservedMarking] = field(default_factory=list)
    category: str | None = None
    make: str | None = None
    model: str | None = None
    calibre: str | None = None
    other_info: str = ""
    urgency: str = Urgency.ROUTINE
    confidentiality: str = Confidentiality.RESTRICTED
    recovery_kind: str | None = None
    recovered_on: date | None = None
    recovery_place: str | None = None
    weapon_id: uuid.UUID | None = None
    follow_up_of: uuid.UUID | None = None
    poc_name: str | None = None
    poc_contact: str | None = None


def _code(value: str | None, enum: type[StrEnum], fld: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in enum._value2member_map_:
        raise ValidationError(
            f"{fld} {value!r} is not one of: {', '.join(e.value for e in enum)}", field=fld, value=value
        )
    return value


def _text(value: str | None, fld: str, limit: int = MAX_TEXT) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise ValidationError(f"{fld} is longer than {limit} characters", field=fld)
    return text


def check_draft(data: TraceRequestInput, *, home_country: str) -> TraceRequestInput:
    """Normalise codes and texts in place; raise on anything malformed."""
    data.requested_country = normalise_country(data.requested_country, field="requested_country")
    if data.requested_country == home_country:
        raise ValidationError(
            "a trace request goes to another state; search this registry directly instead",
            field="requested_country",
        )
    data.case_reference = _text(data.case_reference, "case_reference", 120)
    if not data.case_reference:
        raise ValidationError("the case reference is required", field="case_reference")
    data.urgency = _code(data.urgency, Urgency, "urgency") or Urgency.ROUTINE
    data.confidentiality = _code(data.confidentiality, Confidentiality, "confidentiality") or "restricted"
    data.recovery_kind = _code(data.recovery_kind, RecoveryKind, "recovery_kind")
    data.intended_use_code = _code(data.intended_use_code, IntendedUse, "intended_use_code")
    if data.recovered_on and data.recovered_on > utcnow().date():
        raise ValidationError("the date of recovery is in the future", field="recovered_on")
    for name in ("illicit_nature", "legal_justification", "intended_use", "other_info"):
        setattr(data, name, _text(getattr(data, name), name))
    for name, limit in (("category", 60), ("make", 200), ("model", 200), ("calibre", 60)):
        value = _text(getattr(data, name), name, limit)
        setattr(data, name, value or None)
    data.recovery_place = _text(data.recovery_place, "recovery_place", 300) or None
    data.poc_name = _text(data.poc_name, "poc_name", 200) or None
    data.poc_contact = _text(data.poc_contact, "poc_contact", 500) or None
    for i, m in enumerate(data.markings):
        m.text = _text(m.text, f"markings[{i}].text", 300)
        m.position = _text(m.position, f"markings[{i}].position", 100)
        m.kind = _text(m.kind, f"markings[{i}].kind", 30) or None
        m.serial = _text(m.serial, f"markings[{i}].serial", 100) or None
        if not m.text:
            raise ValidationError("each observed marking needs its text as read", field=f"markings[{i}].text")
        if not normalise_observed(m.text).replace(UNREADABLE, ""):
            raise ValidationError(
                "a marking with no readable character cannot be traced; describe it in other_info",
                field=f"markings[{i}].text",
            )
    return data


# (field, why) in the order an officer fills the form; ITI 17 (REQ-25).
REQUIRED = (
    ("illicit_nature", "the information describing the illicit nature of the weapon (ITI 17(a))"),
    ("legal_justification", "the legal justification for the request (ITI 17(a))"),
    ("markings", "the markings as observed, with their position (ITI 17(b))"),
    ("category", "the type or category of the weapon (ITI 17(b))"),
    ("calibre", "the calibre (ITI 17(b))"),
    ("intended_use", "the intended use of the information sought (ITI 17(c))"),
    ("poc_name", "the requesting point of contact (ITI 25)"),
    ("poc_contact", "how to reach the requesting point of contact (ITI 25)"),
)


def check_complete(values: dict[str, Any]) -> list[Warning]:
    """Everything ITI 17 requires before sending; raise IncompleteRequest naming what is missing."""
    missing = [f for f, _why in REQUIRED if not values.get(f)]
    for i, m in enumerate(values.get("markings") or []):
        if not m.get("position"):
            missing.append(f"markings[{i}].position")
    if "intended_use" in missing and values.get("intended_use_code"):
        missing.remove("intended_use")
    if missing:
        why = dict(REQUIRED)
        first = missing[0]
        raise IncompleteRequest(
            "the request cannot be sent without "
            + why.get(first, "the position of each observed marking on the weapon (ITI 17(b))")
            + (f"; also missing: {', '.join(missing[1:])}" if len(missing) > 1 else ""),
            field=first,
            missing=missing,
        )
    warnings = []
    for f in ("recovery_kind", "recovered_on", "recovery_place"):
        if not values.get(f):
            warnings.append(
                Warning("recovery_missing", "the circumstances of recovery help the requested state", f)
            )
    for f in ("make", "model"):
        if not values.get(f):
            warnings.append(Warning(f"{f}_missing", f"the {f} helps the requested state find the record", f))
    return warnings
