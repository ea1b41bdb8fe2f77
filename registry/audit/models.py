"""Audit log storage: entries (Merkle leaves), signed tree heads, and the public keys that signed them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, Timestamp, UTCDateTime


class AuditEntry(Base):
    """One leaf. `body` is the canonical JSON that is hashed; the other columns are for querying."""

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(120), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(80), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditLogState(Base):
    """A single row holding the next sequence number. Writers lock it, so entries are gapless and in
    commit order."""

    __tablename__ = "audit_log_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    # The Merkle frontier (roots of the perfect subtrees) after next_seq leaves, so a tree head is signed
    # in O(log n) instead of rehashing the whole log.
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class AuditKey(Base):
    __tablename__ = "audit_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[Timestamp]


class TreeHeadRecord(Base):
    __tablename__ = "audit_tree_heads"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="size"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), index=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key_id: Mapped[str] = mapped_column(ForeignKey("audit_keys.key_id"))
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class PurgePermit(Base):
    """Present only inside a purge transaction: the append-only triggers let a DELETE through for the
    weapon named here and for no other (REQ-19: only expired records are ever removed)."""

    __tablename__ = "purge_permits"

    weapon_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
