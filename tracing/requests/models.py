"""Trace requests, the log of their transitions, and their photo attachments.

A request keeps the same id on both nodes (the requesting node mints a UUIDv7, the message carries it), so
either side names it the same way and a follow-up links across states.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk
from tracing.requests.codes import Confidentiality, Direction, RecoveryKind, TraceState, Urgency


class TraceRequest(Base):
    __tablename__ = "trace_requests"
    __table_args__ = (
        CheckConstraint(check_in("direction", Direction), name="direction"),
        CheckConstraint(check_in("state", TraceState), name="state"),
        CheckConstraint(check_in("urgency", Urgency), name="urgency"),
        CheckConstraint(check_in("confidentiality", Confidentiality), name="confidentiality"),
        CheckConstraint(
            "recovery_kind IS NULL OR " + check_in("recovery_kind", RecoveryKind), name="recovery_kind"
        ),
        CheckConstraint("completeness IS NULL OR completeness IN ('full', 'partial')", name="completeness"),
    )

    id: Mapped[UUIDPk]
    direction: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    requesting_country: Mapped[str] = mapped_column(String(2))
    requesting_poc: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    requested_country: Mapped[str] = mapped_column(String(2), index=True)
    case_reference: Mapped[str] = mapped_column(String(120))
    urgency: Mapped[str] = mapped_column(String(16))
    confidentiality: Mapped[str] = mapped_column(String(16))
    illicit_nature: Mapped[str] = mapped_column(Text, default="")
    legal_justification: Mapped[str] = mapped_column(Text, default="")
    intended_use: Mapped[str] = mapped_column(Text, default="")
    intended_use_code: Mapped[str | None] = mapped_column(String(32))
    # Each marking as observed: {"text", "position", "kind"?, "serial"?}; `?` for an unreadable character.
    markings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(60))
    make: Mapped[str | None] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    calibre: Mapped[str | None] = mapped_column(String(60))
    other_info: Mapped[str] = mapped_column(Text, default="")
    recovery_kind: Mapped[str | None] = mapped_column(String(16))
    recovered_on: Mapped[date | None] = mapped_column(Date)
    recovery_place: Mapped[str | None] = mapped_column(String(300))
    # Outgoing: the local record of the recovered weapon; incoming: the candidate the officer chose.
    weapon_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("weapons.id"), index=True)
    follow_up_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("trace_requests.id"), index=True)
    # REQ-27: the national lost/stolen search made before sending, kept with the request.
    lost_stolen_check: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Incoming: the matcher's ranked candidates, as proposed to the PoC officer.
    candidates: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    completeness: Mapped[str | None] = mapped_column(String(8))
    # The latest answer, delay, restriction or refusal, as sent or received (codes and free text).
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    expected_by: Mapped[date | None] = mapped_column(Date)
    ack_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_due: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[Timestamp]
    created_by: Mapped[str] = mapped_column(String(120))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(120))
    version: Mapped[int] = mapped_column(Integer, default=1)


class TraceTransition(Base):
    """One step of a request's lifecycle, with the acting officer (or `node:XX` for a message). Never edited."""

    __tablename__ = "trace_transitions"
    __table_args__ = (UniqueConstraint("request_id", "seq"),)

    id: Mapped[UUIDPk]
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trace_requests.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120))
    message_id: Mapped[uuid.UUID | None] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class TraceAttachment(Base):
    """A photo of the weapon or its marks (REQ-35), checked for type and size. Never edited."""

    __tablename__ = "trace_attachments"

    id: Mapped[UUIDPk]
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("trace_requests.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[Timestamp]
    added_by: Mapped[str] = mapped_column(String(120))
