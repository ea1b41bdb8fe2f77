"""Markings applied to a weapon or to one of its components, and serialised components of modular weapons."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, CheckConstraint, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import MarkCondition, MarkingKind, MarkingMethod, check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class Component(Base):
    """A separately marked part (a serialised receiver module, a barrel) that can move between weapons."""

    __tablename__ = "components"

    id: Mapped[UUIDPk]
    kind: Mapped[str] = mapped_column(ForeignKey("ref_component_kinds.code"))
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("ref_manufacturers.code"))
    serial: Mapped[str | None] = mapped_column(String(100))
    serial_key: Mapped[str | None] = mapped_column(String(100), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]
    created_by: Mapped[str] = mapped_column(String(120))


class Marking(Base):
    """A mark exactly as applied. Never edited: a new observation of its condition is a new event."""

    __tablename__ = "markings"
    __table_args__ = (
        CheckConstraint(check_in("kind", MarkingKind), name="kind"),
        CheckConstraint(check_in("method", MarkingMethod), name="method"),
        CheckConstraint(check_in("condition", MarkCondition), name="condition"),
    )

    id: Mapped[UUIDPk]
    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id"), index=True)
    component_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("components.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    component_kind: Mapped[str] = mapped_column(ForeignKey("ref_component_kinds.code"))
    is_primary: Mapped[bool] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)
    # Normalised text (upper case, no spaces or punctuation) for exact look-up of any mark (REQ-18).
    text_key: Mapped[str] = mapped_column(String(300), index=True)
    manufacturer: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(2))
    # Indexed: look-up by any mark's serial is the registry's most frequent question (REQ-18).
    serial: Mapped[str | None] = mapped_column(String(100), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    transferring_state: Mapped[str | None] = mapped_column(String(2))
    # Alternative scheme (ITI 8(a)): a registered geometric symbol with a numeric/alphanumeric code.
    scheme_symbol: Mapped[str | None] = mapped_column(String(60))
    method: Mapped[str] = mapped_column(String(24))
    location_on_component: Mapped[str | None] = mapped_column(String(200))
    exposed_surface: Mapped[bool] = mapped_column(Boolean, default=True)
    conspicuous: Mapped[bool] = mapped_column(Boolean, default=True)
    readable: Mapped[bool] = mapped_column(Boolean, default=True)
    durable: Mapped[bool] = mapped_column(Boolean, default=True)
    recoverable: Mapped[bool] = mapped_column(Boolean, default=True)
    condition: Mapped[str] = mapped_column(String(16), default=MarkCondition.INTACT)
    payload: Mapped[str | None] = mapped_column(Text)
    applied_on: Mapped[date | None] = mapped_column(Date)
    station: Mapped[str | None] = mapped_column(String(120))
    operator: Mapped[str | None] = mapped_column(String(120))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[Timestamp]
    recorded_by: Mapped[str] = mapped_column(String(120))


class ComponentMove(Base):
    """A component put into or taken out of a weapon, by a `component_replaced` event. Append-only: the
    component's whole life across weapons is the list of its moves."""

    __tablename__ = "component_moves"
    __table_args__ = (CheckConstraint("action IN ('installed', 'removed')", name="action"),)

    id: Mapped[UUIDPk]
    component_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("components.id"), index=True)
    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id"), index=True)
    # Indexed for the foreign-key check when a retention purge deletes the event (migration 0015).
    event_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("events.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
