"""What administrators send and receive for accounts. A password goes in, never out: no hash is ever
returned."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from registry.users.models import User


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=64)
    role: str = Field(
        max_length=32, description="record_officer, poc_officer, marking_operator, auditor, admin"
    )
    password: str = Field(max_length=1024)


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    role: str
    disabled_at: datetime | None
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, u: User) -> UserOut:
        return cls.model_validate(u)


class UserList(BaseModel):
    items: list[UserOut]
