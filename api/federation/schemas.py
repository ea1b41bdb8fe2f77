"""What clients send and receive for the federation views. Separate from the ORM models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tracing.federation.envelope import b64url


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Accepted(BaseModel):
    status: str = "accepted"
    message_id: uuid.UUID
    receipt: dict[str, Any]


class NodeEntry(BaseModel):
    """This node's directory entry, self-signed (docs/federation.md, "Directory entries")."""

    model_config = ConfigDict(extra="allow")

    v: int
    type: str
    country: str
    poc_name: str
    contact: str
    url: str
    public_key: str
    key_id: str
    issued_at: str
    signature: str


class PeerIn(Strict):
    country: str = Field(max_length=60, description="ISO 3166 alpha-2 or alpha-3 code")
    url: str = Field(max_length=500, description="The peer node's base URL")
    public_key: str = Field(max_length=100, description="Ed25519 public key, base64url or hex")
    poc_name: str = Field(max_length=200)
    contact: str = Field(max_length=500)
    priority: int = Field(default=0, ge=0, le=1000)


class PeerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    country: str
    poc_name: str
    contact: str
    url: str
    key_id: str
    public_key: str
    priority: int
    source: str
    added_at: datetime
    removed_at: datetime | None

    @classmethod
    def of(cls, peer: Any) -> PeerOut:
        data = {k: getattr(peer, k) for k in cls.model_fields if k != "public_key"}
        return cls(public_key=b64url(bytes(peer.public_key)), **data)


class OutboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    to_country: str
    in_reply_to: uuid.UUID | None
    confidentiality: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    delivered_to: str | None
    created_by: str
    created_at: datetime


class OutboxDetail(OutboxOut):
    body: dict[str, Any]
    receipt: dict[str, Any] | None


class InboxOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    from_country: str
    to_country: str
    sent_at: datetime
    key_id: str
    in_reply_to: uuid.UUID | None
    confidentiality: str
    received_at: datetime


class InboxDetail(InboxOut):
    envelope: dict[str, Any]
    receipt: dict[str, Any]


class DeliveryOut(BaseModel):
    delivered: list[uuid.UUID]
    retrying: list[uuid.UUID]
    failed: list[uuid.UUID]
    skipped: list[uuid.UUID]
