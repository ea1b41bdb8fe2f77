"""What clients send and receive for trace requests. Codes are plain strings here, checked by
`tracing.requests`, whose errors name the field."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracing.requests import lifecycle
from tracing.requests.inputs import ObservedMarking, TraceRequestInput
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObservedMarkingIn(Strict):
    text: str = Field(max_length=300, description="As read; `?` for each unreadable character")
    position: str = Field(
        default="", max_length=100, description="Where on the weapon: frame, slide, barrel…"
    )
    kind: str | None = Field(default=None, max_length=30, description="manufacture, import, proof… if known")
    serial: str | None = Field(
        default=None, max_length=100, description="The serial part of the text, if known"
    )


class TraceIn(Strict):
    requested_country: str = Field(max_length=60, description="ISO 3166 code of the state asked")
    case_reference: str = Field(max_length=120)
    illicit_nature: str = Field(
        default="", max_length=4000, description="Why the weapon is illicit (ITI 17(a))"
    )
    legal_justification: str = Field(default="", max_length=4000)
    intended_use: str = Field(
        default="", max_length=4000, description="What the information is for (ITI 17(c))"
    )
    intended_use_code: str | None = Field(default=None, max_length=32)
    markings: list[ObservedMarkingIn] = Field(default=[], max_length=20)
    category: str | None = Field(default=None, max_length=60)
    make: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    calibre: str | None = Field(default=None, max_length=60)
    other_info: str = Field(default="", max_length=4000)
    urgency: str = Field(default="routine", max_length=16)
    confidentiality: str = Field(default="restricted", max_length=16)
    recovery_kind: str | None = Field(default=None, max_length=16, description="seized, found or surrendered")
    recovered_on: date | None = None
    recovery_place: str | None = Field(default=None, max_length=300)
    weapon_id: uuid.UUID | None = Field(default=None, description="This registry's record of the weapon")
    follow_up_of: uuid.UUID | None = None
    poc_name: str | None = Field(default=None, max_length=200)
    poc_contact: str | None = Field(default=None, max_length=500)

    def to_input(self) -> TraceRequestInput:
        values = self.model_dump(exclude={"markings"})
        return TraceRequestInput(
            **values, markings=[ObservedMarking(**m.model_dump()) for m in self.markings]
        )


class AnswerIn(Strict):
    completeness: str = Field(description="full or partial")
    weapon_id: uuid.UUID | None = Field(default=None, description="The candidate chosen; omit when none fits")
    text: str = Field(default="", max_length=4000)


class DelayIn(Strict):
    reason_code: str = Field(max_length=40)
    reason: str = Field(max_length=4000)
    expected_by: date


class GroundsIn(Strict):
    grounds: list[str] = Field(max_length=4, description="ITI 22 grounds")
    reason: str = Field(max_length=4000)
    weapon_id: uuid.UUID | None = Field(
        default=None, description="Restrict only: the weapon partly answered for"
    )


class CloseIn(Strict):
    note: str = Field(default="", max_length=2000)
    origin_established: bool | None = Field(default=None, description="Did the trace establish the origin?")


class DisclosureNoticeIn(Strict):
    purpose: str = Field(max_length=32, description="Intended-use code of the disclosure")
    recipient: str = Field(max_length=200, description="Who the information is to be disclosed to")
    reason: str = Field(max_length=4000, description="Why, as told to the providing state")


class FollowUpIn(Strict):
    requested_country: str | None = Field(default=None, max_length=60, description="Default: the next hop")


class AttachmentIn(Strict):
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=60)
    data: str = Field(description="The file, base64", max_length=4_000_000)


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    filename: str
    media_type: str
    size: int
    sha256: str
    added_at: datetime
    added_by: str

    @classmethod
    def of(cls, a: TraceAttachment) -> AttachmentOut:
        return cls.model_validate(a)


class TransitionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    action: str
    from_state: str | None
    to_state: str
    at: datetime
    actor: str
    message_id: uuid.UUID | None
    details: dict[str, Any]


class TraceSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: str
    state: str
    requesting_country: str
    requested_country: str
    case_reference: str
    urgency: str
    sent_at: datetime | None
    delivered_at: datetime | None
    ack_due: datetime | None
    answer_due: datetime | None


class TraceOut(TraceSummary):
    requesting_poc: dict[str, Any]
    confidentiality: str
    illicit_nature: str
    legal_justification: str
    intended_use: str
    intended_use_code: str | None
    markings: list[dict[str, Any]]
    category: str | None
    make: str | None
    model: str | None
    calibre: str | None
    other_info: str
    recovery_kind: str | None
    recovered_on: date | None
    recovery_place: str | None
    weapon_id: uuid.UUID | None
    follow_up_of: uuid.UUID | None
    lost_stolen_check: dict[str, Any] | None
    candidates: list[dict[str, Any]] | None
    completeness: str | None
    response: dict[str, Any] | None
    expected_by: date | None
    created_at: datetime
    created_by: str
    acknowledged_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime
    allowed_actions: list[str] = Field(description="What this node's officer may do next")
    next_hop: str | None = Field(default=None, description="The state the answer points to, not asked yet")


class NoticeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    direction: str = Field(description="sent by this node's officer, or received from the other state")
    country: str = Field(description="The state notified (sent) or notifying (received)")
    purpose: str
    recipient: str
    reason: str
    at: datetime
    actor: str
    message_id: uuid.UUID | None
    delivered_at: datetime | None = Field(description="Sent: when the other node signed its receipt")


class UseLimitsOut(BaseModel):
    """REQ-32: what information received on this request may be used for, and the disclosure notices."""

    stated_purpose: str = Field(description="The intended-use code the request states (`other` if only text)")
    confidentiality: str
    providing_state: str | None = Field(
        description="The state whose information this node holds on the request; null while nothing is received"
    )
    disclosure_notices: list[NoticeOut]


class WarningOut(BaseModel):
    code: str
    message: str
    field: str | None


class TraceDocument(TraceOut):
    transitions: list[TransitionOut]
    attachments: list[AttachmentOut]
    use_limits: UseLimitsOut
    warnings: list[WarningOut] = []


class TracePage(BaseModel):
    items: list[TraceSummary]
    next: str | None


class OverdueOut(BaseModel):
    id: uuid.UUID
    case_reference: str
    direction: str
    state: str
    what: str = Field(description="acknowledgement, answer or follow_up")
    due: datetime
    days_late: int
    owed_by: str


def officer_actions(req: TraceRequest) -> list[str]:
    """The actions this node's officer can take (messages move the rest)."""
    return [
        a
        for a in lifecycle.allowed_actions(req.state)
        if lifecycle.ACTIONS[a].by == req.direction and a != "deliver"
    ]


def transitions_out(rows: list[TraceTransition]) -> list[TransitionOut]:
    return [TransitionOut.model_validate(t) for t in rows]
