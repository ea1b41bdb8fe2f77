"""Marking-station records: stocktakes, reserved serials, offline checkouts and synchronised station events.

`registry/` never imports `hardware/`; these tables live here so `registry/models.py` (and so Alembic) sees
them, and `hardware/stations/` holds the rules that write them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class StocktakeMethod(StrEnum):
    SCAN = "scan"  # barcode / 2D sweep (serial reader, keyboard wedge, file of reads)
    RFID = "rfid"  # an LLRP inventory
    MIXED = "mixed"


class SyncStatus(StrEnum):
    APPLIED = "applied"  # recorded centrally as a normal event
    CONFLICT = "conflict"  # the weapon changed centrally since checkout: an officer decides
    REJECTED = "rejected"  # refused by the registry's rules, or by an officer after review


class Stocktake(Base):
    """One count of a storage site: who counted, when, the totals and every line (written once)."""

    __tablename__ = "stocktakes"
    __table_args__ = (CheckConstraint(check_in("method", StocktakeMethod), name="method"),)

    id: Mapped[UUIDPk]
    location: Mapped[str] = mapped_column(String(300), index=True)
    counted_by: Mapped[str] = mapped_column(String(120))
    counted_at: Mapped[Timestamp]
    station: Mapped[str | None] = mapped_column(String(120))
    method: Mapped[str] = mapped_column(String(8))
    expected: Mapped[int] = mapped_column(Integer)
    found: Mapped[int] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer)
    elsewhere: Mapped[int] = mapped_column(Integer)
    unknown: Mapped[int] = mapped_column(Integer)
    # [{"result": found|missing|elsewhere|unknown|repeated, "weapon_id", "make", "model", "serial",
    #   "status", "registry_location", "scan", "reason"}]: the record is the report as the officer saw it.
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")


class SerialCounter(Base):
    """The next number of one serial scope (e.g. `KE2026`); locked while a serial is reserved."""

    __tablename__ = "serial_counters"

    id: Mapped[UUIDPk]
    scope: Mapped[str] = mapped_column(String(40), unique=True)
    next_seq: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[Timestamp]


class SerialReservation(Base):
    """A serial handed out for new manufacture or import marking; never issued twice (unique)."""

    __tablename__ = "serial_reservations"
    __table_args__ = (UniqueConstraint("scope", "seq"),)

    id: Mapped[UUIDPk]
    scope: Mapped[str] = mapped_column(String(40))
    seq: Mapped[int] = mapped_column(Integer)
    serial: Mapped[str] = mapped_column(String(100), unique=True)
    purpose: Mapped[str] = mapped_column(String(40))
    station: Mapped[str | None] = mapped_column(String(120))
    reserved_by: Mapped[str] = mapped_column(String(120))
    reserved_at: Mapped[Timestamp]


class StationCheckout(Base):
    """The weapons handed to an offline station, with each one's state at checkout (the conflict baseline).
    The same row (same id) exists centrally and in the station's own database."""

    __tablename__ = "station_checkouts"

    id: Mapped[UUIDPk]
    station: Mapped[str] = mapped_column(String(120), index=True)
    location: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[Timestamp]
    weapons: Mapped[int] = mapped_column(Integer)
    # {weapon_id: {"event_count": n, "status": s}} at checkout
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StationSyncEvent(Base):
    """One offline event a station uploaded, keyed by the station's own event id so an upload happens once.
    Centrally it says what became of the event; in the station's database it records the central answer."""

    __tablename__ = "station_sync_events"
    __table_args__ = (CheckConstraint(check_in("status", SyncStatus), name="status"),)

    id: Mapped[UUIDPk]
    offline_event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    checkout_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("station_checkouts.id"), index=True)
    station: Mapped[str] = mapped_column(String(120))
    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(32))
    offline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    # The central event's id once applied (no foreign key: in a station's database it names a central row).
    central_event_id: Mapped[uuid.UUID | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_by: Mapped[str] = mapped_column(String(120))
    received_at: Mapped[Timestamp]
    decided_by: Mapped[str | None] = mapped_column(String(120))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
