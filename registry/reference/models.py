"""Reference tables: shipped rows are loaded from `reference/data/*.csv`; officers may add their own."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, CountryCode, Timestamp


class CategoryRef(Base):
    __tablename__ = "ref_categories"
    __table_args__ = (CheckConstraint("weapon_group IN ('small_arm', 'light_weapon')", name="group"),)

    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    weapon_group: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text, default="")
    max_calibre_mm: Mapped[float | None] = mapped_column(Float)
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[Timestamp]


class ManufacturerRef(Base):
    __tablename__ = "ref_manufacturers"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[CountryCode]
    mark_forms: Mapped[str] = mapped_column(Text, default="")
    serial_pattern: Mapped[str] = mapped_column(Text, default="")
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[Timestamp]


class CalibreRef(Base):
    __tablename__ = "ref_calibres"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    aliases: Mapped[str] = mapped_column(Text, default="")
    bore_mm: Mapped[float | None] = mapped_column(Float)
    kind: Mapped[str] = mapped_column(String(32))
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[Timestamp]


class ComponentKindRef(Base):
    __tablename__ = "ref_component_kinds"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    essential: Mapped[bool] = mapped_column(Boolean, default=False)
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[Timestamp]


class ModelRef(Base):
    """Known models per manufacturer; a model off this table is recorded with a warning."""

    __tablename__ = "ref_models"
    __table_args__ = (UniqueConstraint("manufacturer_code", "model_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    manufacturer_code: Mapped[str] = mapped_column(ForeignKey("ref_manufacturers.code"))
    model: Mapped[str] = mapped_column(String(200))
    model_key: Mapped[str] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(ForeignKey("ref_categories.code"))
    calibre: Mapped[str | None] = mapped_column(String(40))
    shipped: Mapped[bool] = mapped_column(Boolean, default=False)
    added_by: Mapped[str | None] = mapped_column(String(120))
    added_at: Mapped[Timestamp]
