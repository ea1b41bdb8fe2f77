"""What clients send and receive for organisations and licences. Separate from the ORM models; codes are
plain strings here and checked by the registry, whose errors name the field."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.organisations.models import Licence, Organisation

Country = Field(max_length=60, description="ISO 3166 alpha-2, alpha-3 or numeric code")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrganisationIn(Strict):
    name: str = Field(max_length=300)
    kind: str = Field(max_length=32, description="manufacturer, dealer, government_agency, …")
    country: str = Country
    registration_number: str | None = Field(default=None, max_length=100)
    address: str = Field(default="", max_length=2000)
    manufacturer_code: str | None = Field(default=None, max_length=40)


class OrganisationPatch(Strict):
    """Only the fields sent are changed; send the version you read as `If-Match`."""

    name: str | None = Field(default=None, max_length=300)
    kind: str | None = Field(default=None, max_length=32)
    country: str | None = Field(default=None, max_length=60)
    registration_number: str | None = Field(default=None, max_length=100)
    address: str | None = Field(default=None, max_length=2000)
    manufacturer_code: str | None = Field(default=None, max_length=40)

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class LicenceIn(Strict):
    number: str = Field(max_length=100)
    kind: str = Field(max_length=32, description="manufacture, dealer, import, export, …")
    issuing_country: str = Country
    issued_on: date
    expires_on: date | None = None


class CloseIn(Strict):
    records_custodian_id: uuid.UUID = Field(description="The state organisation that holds the records")
    closed_at: datetime | None = Field(default=None, description="With a time zone; default now")


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    country: str
    registration_number: str | None
    address: str
    manufacturer_code: str | None
    closed_at: datetime | None
    records_custodian_id: uuid.UUID | None
    version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, org: Organisation) -> OrganisationOut:
        return cls.model_validate(org)


class OrganisationPage(BaseModel):
    items: list[OrganisationOut]
    next: str | None = Field(description="URL of the next page, or null on the last one")


class LicenceOut(BaseModel):
    id: uuid.UUID
    organisation_id: uuid.UUID
    number: str
    kind: str
    issuing_country: str
    issued_on: date
    expires_on: date | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, lic: Licence) -> LicenceOut:
        return cls(
            id=lic.id,
            organisation_id=lic.organisation_id,
            number=lic.number,
            kind=lic.kind,
            issuing_country=lic.issuing_country,
            issued_on=lic.issued_on,
            expires_on=lic.expires_on,
            revoked_at=lic.revoked_at,
        )
