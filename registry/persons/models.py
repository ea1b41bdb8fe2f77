"""Persons who hold weapons. Personal data is only ever stored encrypted (AES-256-GCM)."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base, Timestamp, UUIDPk


class Person(Base):
    __tablename__ = "persons"

    id: Mapped[UUIDPk]
    # Keyed HMAC-SHA256 of the normalised identity number: lets officers find a person without the
    # database holding the number in clear or in a form that can be brute-forced without the key.
    identity_hmac: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    # nonce (12 bytes) || ciphertext+tag of the canonical JSON of the personal fields.
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
