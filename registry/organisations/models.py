"""Organisations (manufacturers, traders, state holders) and their licences. Mutable, versioned, audited."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import LicenceKind, OrgKind, check_in
from registry.db import Base, CountryCode, Timestamp, UTCDateTime, UUIDPk


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (
        CheckConstraint(check_in("kind", OrgKind), name="kind"),
        UniqueConstraint("country", "registration_number"),
    )

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(300), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    country: Mapped[CountryCode]
    registration_number: Mapped[str | None] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(Text, default="")
    manufacturer_code: Mapped[str | None] = mapped_column(ForeignKey("ref_manufacturers.code"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Whose custody the records of a closed company passed into (REQ-21).
    records_custodian_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class Licence(Base):
    __tablename__ = "licences"
    __table_args__ = (
        CheckConstraint(check_in("kind", LicenceKind), name="kind"),
        CheckConstraint("expires_on IS NULL OR expires_on >= issued_on", name="validity"),
        UniqueConstraint("issuing_country", "kind", "number"),
    )

    id: Mapped[UUIDPk]
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), index=True)
    number: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    issuing_country: Mapped[CountryCode]
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date | None] = mapped_column(Date)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[Timestamp]
