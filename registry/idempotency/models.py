"""Responses remembered under a client's `Idempotency-Key`, so a retried write is answered, not redone.

Not audited and not append-only: a row is a cache of a response the audit log already accounts for (the
event it reports is audited), and rows older than `service.KEY_LIFETIME` are replaced or purged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, CheckConstraint, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, Timestamp, UUIDPk

KEY_MAX_LENGTH = 200


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        # The referee of concurrent retries: the second insert of (principal, key) waits for the first
        # transaction and then fails, and its request replays what the first one stored.
        UniqueConstraint("principal", "key"),
        CheckConstraint(
            "response_status IS NULL OR response_status BETWEEN 100 AND 599", name="response_status"
        ),
    )

    id: Mapped[UUIDPk]
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    principal: Mapped[str] = mapped_column(String(200))  # the caller's username, as recorded on events
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the canonical JSON body
    # NULL only inside the transaction that claimed the key: `finish` fills both before it commits.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[Timestamp] = mapped_column(index=True)  # expiry counts from here
