"""Accounts, API keys and login tokens.

`users` and `api_keys` are mutable audited tables (every change is written with an audit entry holding the
row's digest), so a role raised by hand in the database fails `iti audit verify`. `auth_tokens` is not
audited: tokens are short-lived, and the logins that create them are.

No secret is stored: passwords as Argon2id hashes, tokens and keys (high-entropy random strings) as SHA-256.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.codes import check_in
from registry.db import Base, Timestamp, UTCDateTime, UUIDPk
from registry.users.roles import Role


class TokenKind(StrEnum):
    BEARER = "bearer"
    SESSION = "session"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(check_in("role", Role), name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    id: Mapped[UUIDPk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[Timestamp]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    version: Mapped[int] = mapped_column(Integer, default=1)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(check_in("role", Role), name="role"),)

    id: Mapped[UUIDPk]
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    prefix: Mapped[str] = mapped_column(String(8))  # the first characters of the key, to tell keys apart
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the whole key
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuthToken(Base):
    __tablename__ = "auth_tokens"
    __table_args__ = (
        CheckConstraint(check_in("kind", TokenKind), name="kind"),
        CheckConstraint("expires_at > created_at", name="lifetime"),
    )

    id: Mapped[UUIDPk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 hex of the token
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[Timestamp]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    csrf_hash: Mapped[str | None] = mapped_column(String(64))  # session tokens only
