"""Code lists of the trace workflow. Language-neutral codes travel between states; free text goes beside."""

from __future__ import annotations

from enum import StrEnum


class Direction(StrEnum):
    OUTGOING = "outgoing"  # we are the requesting state
    INCOMING = "incoming"  # we are the requested state


class TraceState(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    DELIVERED = "delivered"
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    DELAYED = "delayed"
    RESTRICTED = "restricted"
    REFUSED = "refused"
    CLOSED = "closed"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class Confidentiality(StrEnum):
    """How the requesting state asks the information to be handled (REQ-32)."""

    RESTRICTED = "restricted"  # law-enforcement use only
    CONFIDENTIAL = "confidential"  # named officers only, no onward disclosure without notice
    SECRET = "secret"  # noqa: S105 - a handling level, not a password


class RecoveryKind(StrEnum):
    SEIZED = "seized"
    FOUND = "found"
    SURRENDERED = "surrendered"


class Completeness(StrEnum):
    FULL = "full"
    PARTIAL = "partial"


class Ground(StrEnum):
    """The only grounds to delay, restrict or refuse an answer (ITI 22, REQ-30)."""

    ONGOING_INVESTIGATION = "ongoing_investigation"
    CONFIDENTIALITY_LAW = "confidentiality_law"
    CONFIDENTIALITY_NOT_GUARANTEED = "confidentiality_not_guaranteed"
    NATIONAL_SECURITY = "national_security"


class DelayReason(StrEnum):
    RECORDS_BEING_SEARCHED = "records_being_searched"
    AWAITING_OTHER_AGENCY = "awaiting_other_agency"
    ONGOING_INVESTIGATION = "ongoing_investigation"
    INSUFFICIENT_INFORMATION = "insufficient_information"
    OTHER = "other"


class IntendedUse(StrEnum):
    CRIMINAL_INVESTIGATION = "criminal_investigation"
    PROSECUTION = "prosecution"
    EMBARGO_MONITORING = "embargo_monitoring"
    DIVERSION_ANALYSIS = "diversion_analysis"
    OTHER = "other"
