"""`serial_skeletons`: the look-up table of the matcher, one row per serial or mark text in the registry.

Derived data, like an index: database triggers (migration 0008) fill it when a weapon or marking is inserted
and the foreign key removes it with a purged weapon, so every way into the registry (services, bulk
imports, other nodes' code) keeps it complete without knowing it exists. It is not an audited record: it
holds nothing that is not already in `weapons` and `markings`, and `iti trace reindex` rebuilds it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.dialects.postgresql import VARCHAR
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base

# Byte order ("C" collation) on PostgreSQL, so a prefix is an index range whatever the database's locale.
SkeletonText = String(300).with_variant(VARCHAR(300, collation="C"), "postgresql")

SOURCES = ("weapon_serial", "mark_serial", "mark_text")


class SerialSkeleton(Base):
    __tablename__ = "serial_skeletons"
    __table_args__ = (
        CheckConstraint("source IN ('weapon_serial', 'mark_serial', 'mark_text')", name="source"),
        # Equality probes and prefix ranges both give the length: (length, skeleton) keeps them narrow.
        Index("ix_serial_skeletons_len_skeleton", "skel_len", "skeleton"),
        Index("ix_serial_skeletons_len_reversed", "skel_len", "skeleton_rev"),
    )

    # The marking's id (mark_serial, mark_text) or the weapon's (weapon_serial).
    source_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(300))
    skel_len: Mapped[int] = mapped_column(Integer)
    skeleton: Mapped[str] = mapped_column(SkeletonText)
    skeleton_rev: Mapped[str] = mapped_column(SkeletonText)
