"""The master record of each weapon (immutable facts) and its derived current state (a projection)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, func, or_
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import FrameMaterial, Status, check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk


class Weapon(Base):
    """One row per weapon, written once. Corrections are `amended` events, never UPDATEs (REQ-18, REQ-23)."""

    __tablename__ = "weapons"
    __table_args__ = (
        CheckConstraint(check_in("frame_material", FrameMaterial), name="frame_material"),
        CheckConstraint(
            "year_of_manufacture IS NULL OR year_of_manufacture BETWEEN 1300 AND 2200", name="year"
        ),
    )

    id: Mapped[UUIDPk]
    category: Mapped[str] = mapped_column(ForeignKey("ref_categories.code"))
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("ref_manufacturers.code"))
    make: Mapped[str] = mapped_column(String(200))
    model: Mapped[str | None] = mapped_column(String(200))
    calibre: Mapped[str | None] = mapped_column(String(60))
    serial: Mapped[str | None] = mapped_column(String(100))
    serial_key: Mapped[str | None] = mapped_column(String(100), index=True)
    country_of_manufacture: Mapped[str | None] = mapped_column(String(2))
    year_of_manufacture: Mapped[int | None] = mapped_column(Integer)
    frame_material: Mapped[str] = mapped_column(String(16), default=FrameMaterial.METAL)
    # For polymer frames: the embedded metal plate or equivalent that carries the mark (REQ-17).
    mark_carrier: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # make|country|serial (|model where the profile says so): NULL for an unmarked weapon (REQ-07).
    uniqueness_key: Mapped[str | None] = mapped_column(String(400), unique=True)
    registered_at: Mapped[Timestamp]
    registered_by: Mapped[str] = mapped_column(String(120))
    import_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("import_jobs.id"), index=True)


# Search by model (`repository.search`) filters on upper(model): an index on the expression, id second for the
# page order (migration 0013).
Index("ix_weapons_upper_model", func.upper(Weapon.model), Weapon.id)
# Search by make matches the code or the make as written: each half reads its own index in page order, up to
# one page (migration 0014). The spelling's index holds only the weapons the code does not already find.
SPELLED_OTHERWISE = or_(
    Weapon.manufacturer_code.is_(None), func.upper(Weapon.make) != Weapon.manufacturer_code
)
Index("ix_weapons_manufacturer_code", Weapon.manufacturer_code, Weapon.id)
Index(
    "ix_weapons_upper_make",
    func.upper(Weapon.make),
    Weapon.id,
    postgresql_where=SPELLED_OTHERWISE,
    sqlite_where=SPELLED_OTHERWISE,
)


class WeaponState(Base):
    """Current state, derived from the history by `registry.history.lifecycle.derive_state`.

    Kept in the same transaction as each event so searches by status are fast; `iti records check`
    recomputes it from the history and reports any row that disagrees.
    """

    __tablename__ = "weapon_states"
    __table_args__ = (CheckConstraint(check_in("status", Status), name="status"),)

    weapon_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("weapons.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    custodian_org_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    holder_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("persons.id"), index=True)
    location: Mapped[str | None] = mapped_column(String(300))
    country: Mapped[str | None] = mapped_column(String(2))
    illicit: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_marking: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    pending_transfer_event_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("events.id"))
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[Timestamp]


# For the foreign-key check when a retention purge deletes an event: only weapons with a transfer awaiting
# acceptance hold one (migration 0015).
Index(
    "ix_weapon_states_pending_transfer_event_id",
    WeaponState.pending_transfer_event_id,
    postgresql_where=WeaponState.pending_transfer_event_id.is_not(None),
    sqlite_where=WeaponState.pending_transfer_event_id.is_not(None),
)
