"""Federation tables: this node's identity, the directory of peer PoCs, the outbox and the inbox.

All four are audited (registry/audit/canonical.py): `federation_node`, `federation_peers` and
`federation_outbox` are mutable (each change is written with an audit entry holding the row's digest, so a
peer key swapped by hand in the database fails `iti audit verify`); `federation_inbox` is append-only: a
message received from another state is kept exactly as it was signed, with the receipt we returned.

The node's private key is not here: it is a passphrase-encrypted file (tracing/federation/keys.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    DELIVERED = "delivered"  # the receiver returned a signed receipt
    FAILED = "failed"  # refused for good by the receiver, or out of attempts; an officer may retry


class FederationNode(Base):
    """This node's identity as published to other states (one row)."""

    __tablename__ = "federation_node"
    __table_args__ = (CheckConstraint("singleton = 1", name="singleton"),)

    id: Mapped[UUIDPk]
    singleton: Mapped[int] = mapped_column(Integer, default=1, unique=True)
    country: Mapped[str] = mapped_column(String(2))
    poc_name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    version: Mapped[int] = mapped_column(Integer, default=1)


class Peer(Base):
    """A point of contact of another state (a state may have several). Removal is a mark, not a delete: the
    key stays known for the records signed with it."""

    __tablename__ = "federation_peers"
    __table_args__ = (
        UniqueConstraint("country", "key_id"),
        CheckConstraint("priority >= 0", name="priority"),
    )

    id: Mapped[UUIDPk]
    country: Mapped[str] = mapped_column(String(2), index=True)
    poc_name: Mapped[str] = mapped_column(String(200))
    contact: Mapped[str] = mapped_column(String(500))
    url: Mapped[str] = mapped_column(String(500))
    key_id: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lowest first: where messages go
    source: Mapped[str] = mapped_column(String(200))  # "manual" or the directory it was imported from
    added_at: Mapped[Timestamp]
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)


class OutboxMessage(Base):
    """A message to another state, written in the transaction of the action that sends it."""

    __tablename__ = "federation_outbox"
    __table_args__ = (
        CheckConstraint(check_in("status", OutboxStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_federation_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[UUIDPk]  # the message id on the wire
    kind: Mapped[str] = mapped_column(String(64))
    to_country: Mapped[str] = mapped_column(String(2))
    in_reply_to: Mapped[uuid.UUID | None]
    confidentiality: Mapped[str] = mapped_column(String(16))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_digest: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str | None] = mapped_column(Text)  # as last signed: signed anew at each attempt
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_to: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]
    version: Mapped[int] = mapped_column(Integer, default=1)


class InboxMessage(Base):
    """A message accepted from another state: stored once per message id, dispatched in the same
    transaction. The nonce is unique per sender: the persistent replay guard."""

    __tablename__ = "federation_inbox"
    __table_args__ = (UniqueConstraint("from_country", "nonce"),)

    id: Mapped[UUIDPk]  # the message id on the wire
    kind: Mapped[str] = mapped_column(String(64), index=True)
    from_country: Mapped[str] = mapped_column(String(2))
    to_country: Mapped[str] = mapped_column(String(2))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    nonce: Mapped[str] = mapped_column(String(32))
    key_id: Mapped[str] = mapped_column(String(16))
    in_reply_to: Mapped[uuid.UUID | None]
    confidentiality: Mapped[str] = mapped_column(String(16))
    content_digest: Mapped[str] = mapped_column(String(64))
    envelope: Mapped[str] = mapped_column(Text)  # exactly as received and verified
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[Timestamp]
