"""What clients send and receive for weapons. Separate from the ORM models: the API contract changes only
on purpose. Codes (category, event type, marking kind, …) are plain strings here and checked by the
registry, whose errors name the field; sizes are bounded here so no input can overflow a column."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.codes import EventType, FrameMaterial, MarkCondition, MarkingKind, MarkingMethod
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.markings.models import Marking
from registry.markings.rules import MarkingInput
from registry.warnings import Warning
from registry.weapons.models import Weapon, WeaponState
from registry.weapons.service import WeaponInput

Short = Field(default=None, max_length=200)
Country = Field(default=None, max_length=60, description="ISO 3166 alpha-2, alpha-3 or numeric code")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarkingIn(Strict):
    text: str = Field(max_length=300, description="The marking exactly as applied")
    kind: str = Field(default=MarkingKind.MANUFACTURE.value, max_length=24)
    component: str = Field(default="frame", max_length=60)
    method: str = Field(default=MarkingMethod.STAMP.value, max_length=24)
    manufacturer: str | None = Short
    country: str | None = Country
    serial: str | None = Field(default=None, max_length=100)
    year: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    transferring_state: str | None = Country
    scheme_symbol: str | None = Field(default=None, max_length=60)
    location: str | None = Short
    exposed_surface: bool = True
    conspicuous: bool = True
    readable: bool = True
    durable: bool = True
    recoverable: bool = True
    condition: str = Field(default=MarkCondition.INTACT.value, max_length=16)
    payload: str | None = Field(default=None, max_length=10_000)
    applied_on: date | None = None
    station: str | None = Field(default=None, max_length=120)
    operator: str | None = Field(default=None, max_length=120)
    verified: bool = False
    component_id: uuid.UUID | None = None

    def to_input(self) -> MarkingInput:
        # Only the marking's own fields: subclasses add facts of the event that records it.
        values = self.model_dump(exclude_unset=True, include=set(MarkingIn.model_fields))
        if self.component_id is not None:
            values["component_id"] = str(self.component_id)
        return MarkingInput(**values)


class DocumentIn(BaseModel):
    """A licence, permit, end-user certificate, … supporting an event; further keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(max_length=60, description="licence, export_licence, permit, end_user_certificate, …")
    number: str = Field(max_length=120)
    issued_on: str | None = Field(default=None, max_length=40, description="ISO date")
    expires_on: str | None = Field(default=None, max_length=40, description="ISO date")


class EventData(BaseModel):
    """Type-specific facts. The keys the registry reads are typed here so that a value of the wrong shape is
    a 422 naming it; other keys are kept as given. Which keys an event needs is the registry's rule."""

    model_config = ConfigDict(extra="allow")

    illicit: bool | None = None
    illicit_grounds: list[str] | None = Field(default=None, max_length=20)
    origin_established: str | None = Field(default=None, max_length=40)
    mark_condition: str | None = Field(default=None, max_length=16)
    criminal_offence: bool | None = None
    temporary: bool | None = None
    purpose: str | None = Field(default=None, max_length=1000)
    transit_countries: list[str] | None = Field(default=None, max_length=50)
    reason: str | None = Field(default=None, max_length=40)
    retract: bool | None = None
    changes: dict[str, Any] | None = None


class EventFields(Strict):
    type: str = Field(max_length=32, description="manufactured, imported, exported, stolen, found, …")
    occurred_at: datetime | None = Field(default=None, description="With a time zone; default now")
    from_org_id: uuid.UUID | None = None
    to_org_id: uuid.UUID | None = None
    from_person_id: uuid.UUID | None = None
    to_person_id: uuid.UUID | None = None
    from_country: str | None = Country
    to_country: str | None = Country
    location: str | None = Field(default=None, max_length=300)
    documents: list[DocumentIn] = Field(default_factory=list, max_length=100)
    data: EventData = Field(default_factory=EventData)
    notes: str = Field(default="", max_length=10_000)
    corrects_event_id: uuid.UUID | None = None

    def to_input(self) -> EventInput:
        values = self.model_dump(exclude_unset=True, exclude={"marking", "documents", "data"})
        return EventInput(
            **values,
            documents=[d.model_dump(exclude_unset=True) for d in self.documents],
            data=self.data.model_dump(exclude_none=True),
        )


class EventIn(EventFields):
    """One event appended to a weapon's history, with the marking it applied if any."""

    marking: MarkingIn | None = None


class MarkingRecordIn(MarkingIn):
    """A marking applied at a station, recorded as a `marked` event (`station`, `operator` and `verified`
    describe the application)."""

    occurred_at: datetime | None = Field(default=None, description="When it was applied; default now")

    def to_event(self) -> EventInput:
        values = {"occurred_at": self.occurred_at} if "occurred_at" in self.model_fields_set else {}
        return EventInput(type=EventType.MARKED.value, **values)


class WeaponIn(Strict):
    """A weapon to register: its facts, its marks, and the event by which it enters the record."""

    category: str = Field(max_length=60, description="Weapon category code, e.g. SA-PIS")
    make: str = Field(max_length=200, description="Manufacturer or brand as marked; UNKNOWN if unreadable")
    model: str | None = Short
    calibre: str | None = Field(default=None, max_length=60)
    serial: str | None = Field(default=None, max_length=100)
    country_of_manufacture: str | None = Country
    year_of_manufacture: int | None = Field(default=None, ge=-(2**31), le=2**31 - 1)
    frame_material: str = Field(default=FrameMaterial.METAL.value, max_length=16)
    mark_carrier: str | None = Short
    description: str = Field(default="", max_length=10_000)
    markings: list[MarkingIn] = Field(default_factory=list, max_length=50)
    event: EventFields

    def to_input(self) -> WeaponInput:
        return WeaponInput(**self.model_dump(exclude={"markings", "event"}))


class WarningOut(BaseModel):
    code: str
    message: str
    field: str | None = None

    @classmethod
    def of(cls, w: Warning) -> WarningOut:
        return cls(code=w.code, message=w.message, field=w.field)


class MarkingOut(BaseModel):
    id: uuid.UUID
    kind: str
    component: str
    primary: bool
    text: str
    manufacturer: str | None
    country: str | None
    serial: str | None
    year: int | None
    method: str
    condition: str
    verified: bool

    @classmethod
    def of(cls, m: Marking) -> MarkingOut:
        return cls(
            id=m.id,
            kind=m.kind,
            component=m.component_kind,
            primary=m.is_primary,
            text=m.text,
            manufacturer=m.manufacturer,
            country=m.country,
            serial=m.serial,
            year=m.year,
            method=m.method,
            condition=m.condition,
            verified=m.verified,
        )


class WeaponOut(BaseModel):
    id: uuid.UUID
    category: str
    make: str
    manufacturer_code: str | None
    model: str | None
    calibre: str | None
    serial: str | None
    country_of_manufacture: str | None
    year_of_manufacture: int | None
    frame_material: str
    mark_carrier: str | None
    status: str
    custodian_org_id: uuid.UUID | None
    holder_person_id: uuid.UUID | None
    location: str | None
    country: str | None
    illicit: bool
    pending_marking: bool
    events: int
    registered_at: datetime
    registered_by: str

    @classmethod
    def of(cls, w: Weapon, s: WeaponState) -> WeaponOut:
        return cls(
            id=w.id,
            category=w.category,
            make=w.make,
            manufacturer_code=w.manufacturer_code,
            model=w.model,
            calibre=w.calibre,
            serial=w.serial,
            country_of_manufacture=w.country_of_manufacture,
            year_of_manufacture=w.year_of_manufacture,
            frame_material=w.frame_material,
            mark_carrier=w.mark_carrier,
            status=s.status,
            custodian_org_id=s.custodian_org_id,
            holder_person_id=s.holder_person_id,
            location=s.location,
            country=s.country,
            illicit=s.illicit,
            pending_marking=s.pending_marking,
            events=s.event_count,
            registered_at=w.registered_at,
            registered_by=w.registered_by,
        )


class WeaponDocument(WeaponOut):
    """A weapon with its current state and marks; `warnings` on writes tell what is encouraged but missing."""

    markings: list[MarkingOut] = []
    warnings: list[WarningOut] = []


class WeaponPage(BaseModel):
    items: list[WeaponOut]
    next: str | None = Field(description="URL of the next page, or null on the last one")


class MatchOut(BaseModel):
    """Why a weapon is a candidate for a damaged or misread serial (`tracing.matching`)."""

    score: float = Field(description="1.0 only for an exact match; lower for each tolerance used")
    exact: bool
    reason: str = Field(description="Each difference: unreadable positions, look-alikes read, transposition")
    matched: str = Field(description="The registered serial or mark text (normalised) that matched")
    source: str = Field(description="weapon_serial, mark_serial or mark_text")
    method: str = Field(description="exact, probe (index probes) or anchor (readable prefix/suffix)")
    agreed: list[str] = Field(
        default_factory=list,
        description="The described fields (make, model, calibre, category) the weapon's record agrees with",
    )
    rank_score: float = Field(description="The order of the list: `score` plus the description's agreement")


class CandidateOut(WeaponOut):
    match: MatchOut


class CandidatePage(BaseModel):
    """Ranked candidates for `serial` with `fuzzy=true`, best first (at most `limit`, no further pages)."""

    query: str = Field(description="The serial as read, normalised; `?` marks an unreadable character")
    items: list[CandidateOut]
    next: None = None


class EventOut(BaseModel):
    id: uuid.UUID
    seq: int
    type: str
    occurred_at: datetime
    recorded_by: str
    from_org_id: uuid.UUID | None
    to_org_id: uuid.UUID | None
    from_country: str | None
    to_country: str | None
    location: str | None
    documents: list[dict[str, Any]]
    data: dict[str, Any]
    notes: str
    corrects_event_id: uuid.UUID | None
    amended: dict[str, Any] | None = Field(
        default=None, description="The fields as later amendments correct them, if any"
    )

    @classmethod
    def of(cls, e: Event, amended: dict[str, Any] | None = None) -> EventOut:
        return cls(
            id=e.id,
            seq=e.seq,
            type=e.type,
            occurred_at=e.occurred_at,
            recorded_by=e.recorded_by,
            from_org_id=e.from_org_id,
            to_org_id=e.to_org_id,
            from_country=e.from_country,
            to_country=e.to_country,
            location=e.location,
            documents=list(e.documents or []),
            data=dict(e.data or {}),
            notes=e.notes,
            corrects_event_id=e.corrects_event_id,
            amended=amended,
        )


class RecordedEvent(BaseModel):
    event: EventOut
    weapon: WeaponOut
    marking: MarkingOut | None = None
    warnings: list[WarningOut] = []


class History(BaseModel):
    weapon_id: uuid.UUID
    events: list[EventOut] = Field(description="Oldest first; corrections are `amended` events")
