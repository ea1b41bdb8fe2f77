"""The append-only history of every weapon. Rows are never UPDATEd or DELETEd (triggers enforce it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import EventType, check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(check_in("type", EventType), name="type"),
        CheckConstraint("type <> 'amended' OR corrects_event_id IS NOT NULL", name="amend_target"),
        UniqueConstraint("weapon_id", "seq"),
    )

    id: Mapped[UUIDPk]
    # No index of its own: the unique (weapon_id, seq) index answers every look-up by weapon (migration 0015).
    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id"))
    # Position in this weapon's history: 1, 2, 3… The unique constraint stops two writers interleaving.
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(32), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_at: Mapped[Timestamp]
    recorded_by: Mapped[str] = mapped_column(String(120))
    from_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    to_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    from_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    to_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"))
    from_country: Mapped[str | None] = mapped_column(String(2))
    to_country: Mapped[str | None] = mapped_column(String(2))
    location: Mapped[str | None] = mapped_column(String(300))
    # Licence, permit and end-user-certificate numbers with their dates; transit countries (REQ-22).
    documents: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Type-specific facts (illicit grounds, recovery circumstances, void reason, amended fields…).
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    corrects_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("events.id"))
    marking_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("markings.id"))


# Foreign keys into rows that a retention purge deletes (registry.retention) are checked by a look-up of the
# referencing column for every deleted row; unindexed, each is a scan of the whole table (migration 0015).
# Few rows carry these references, so the indexes hold only those.
Index(
    "ix_events_corrects_event_id",
    Event.corrects_event_id,
    postgresql_where=Event.corrects_event_id.is_not(None),
    sqlite_where=Event.corrects_event_id.is_not(None),
)
Index(
    "ix_events_marking_id",
    Event.marking_id,
    postgresql_where=Event.marking_id.is_not(None),
    sqlite_where=Event.marking_id.is_not(None),
)
