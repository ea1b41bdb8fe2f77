"""What clients send and receive for persons. Clear personal data leaves only in `PersonOut`, from a read
that the registry audited with the caller's purpose; writes and searches return ids only."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.persons.models import Person
from registry.persons.service import PersonView


class PersonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=300)
    identity_number: str = Field(max_length=100)
    identity_country: str = Field(max_length=60, description="ISO 3166 code of the issuing country")
    birth_date: date | None = None
    address: str | None = Field(default=None, max_length=2000)
    nationality: str | None = Field(default=None, max_length=60)
    extra: dict[str, Any] | None = None


class PersonRef(BaseModel):
    """A person without their data: read `GET /api/v1/persons/{id}?purpose=…` for that."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Person) -> PersonRef:
        return cls(id=p.id, created_at=p.created_at, updated_at=p.updated_at)


class PersonMatches(BaseModel):
    items: list[PersonRef]


class PersonOut(BaseModel):
    id: uuid.UUID
    name: str
    identity_number: str
    identity_country: str
    birth_date: date | None
    address: str | None
    nationality: str | None
    extra: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: PersonView) -> PersonOut:
        return cls(
            id=v.id,
            name=v.name,
            identity_number=v.identity_number,
            identity_country=v.identity_country,
            birth_date=v.birth_date,
            address=v.address,
            nationality=v.nationality,
            extra=dict(v.extra),
            created_at=v.created_at,
            updated_at=v.updated_at,
        )
