"""What marking stations send and receive: the composed mark job, a verified mark report, stocktakes,
offline event batches and reserved serials."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.stations.models import StationSyncEvent, Stocktake


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MarkFieldOut(BaseModel):
    name: str
    text: str = Field(description="As sent to the machine (the code field holds the raw payload)")
    char_height_mm: float
    is_code: bool


class ProfileChecks(BaseModel):
    profile: str
    passed: bool = Field(description="The job was checked against the profile; a breaking job is a 422")
    min_char_height_mm: float | None
    min_depth_mm: float | None
    require_model: bool
    require_year: bool
    serial_pattern: str | None
    scripts: list[str] | None


class MarkJobOut(BaseModel):
    weapon_id: uuid.UUID
    payload: str = Field(
        description="ISO/IEC 15434 format 06 payload of the Data Matrix, separators included"
    )
    payload_display: str = Field(description="The payload with <RS> <GS> <EOT> spelt out")
    uii: str
    human_readable: str = Field(description="The text marked next to the code (required by law)")
    fields: list[MarkFieldOut]
    depth_mm: float
    method: str
    symbol_size: str = Field(description="Data Matrix size in modules (always square)")
    preview_svg: str = Field(description="The whole mark drawn to scale (mm), for the operator to check")
    checks: ProfileChecks


class ReadBackIn(Strict):
    fields_match: bool = Field(description="The fields read back from the machine equalled those sent")
    decoded: list[str] = Field(
        max_length=8, description="What the verification reader decoded from the applied mark, exactly"
    )


class StationMarkIn(Strict):
    station: str = Field(min_length=1, max_length=120)
    operator: str = Field(min_length=1, max_length=120)
    machine: str = Field(
        min_length=1, max_length=200, description="The machine, e.g. `panasonic:/dev/ttyUSB0`"
    )
    method: str = Field(default="laser", max_length=30, description="laser, dot_peen, engraving, stamp…")
    read_back: ReadBackIn
    frames: int | None = Field(default=None, ge=0, description="Frames exchanged with the machine")
    frames_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the station's frame log lines"
    )
    occurred_at: datetime | None = Field(default=None, description="When it was marked (default: now)")


class StationMarkOut(BaseModel):
    id: uuid.UUID = Field(description="The `marked` event")
    weapon_id: uuid.UUID
    marking_id: uuid.UUID | None
    payload: str
    warnings: list[str]


class StocktakeIn(Strict):
    location: str = Field(min_length=1, max_length=300)
    scans: list[str] = Field(
        default_factory=list, max_length=20000, description="Barcode / 2D reads, as read"
    )
    epcs: list[str] = Field(default_factory=list, max_length=20000, description="RFID inventory (EPC hex)")
    ncage: str | None = Field(default=None, max_length=5, description="NCAGE code of the ADI property tags")
    station: str | None = Field(default=None, max_length=120)
    notes: str = Field(default="", max_length=4000)


class StocktakeLine(BaseModel):
    result: str = Field(description="found, missing, elsewhere, unknown or repeated")
    weapon_id: uuid.UUID | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    status: str | None = None
    registry_location: str | None = None
    scan: str | None = None
    reason: str | None = None


class StocktakeOut(BaseModel):
    id: uuid.UUID
    location: str
    counted_by: str
    counted_at: datetime
    station: str | None
    method: str
    expected: int
    found: int
    missing: int
    elsewhere: int
    unknown: int
    clean: bool
    notes: str
    lines: list[StocktakeLine]

    @classmethod
    def of(cls, s: Stocktake) -> StocktakeOut:
        return cls(
            id=s.id,
            location=s.location,
            counted_by=s.counted_by,
            counted_at=s.counted_at,
            station=s.station,
            method=s.method,
            expected=s.expected,
            found=s.found,
            missing=s.missing,
            elsewhere=s.elsewhere,
            unknown=s.unknown,
            clean=not (s.missing or s.elsewhere or s.unknown),
            notes=s.notes,
            lines=[StocktakeLine(**line) for line in s.lines],
        )


class OfflineBatchIn(Strict):
    format: str = Field(description="`iti-station-events/1`")
    checkout_id: uuid.UUID
    station: str = Field(max_length=120)
    events: list[dict[str, Any]] = Field(max_length=5000, description="As `iti station export-events` writes")


class SyncAnswerOut(BaseModel):
    offline_event_id: uuid.UUID
    weapon_id: uuid.UUID
    status: str = Field(description="applied, conflict (an officer decides) or rejected")
    reason: str
    central_event_id: uuid.UUID | None
    duplicate: bool = Field(description="Received before: nothing was done this time")


class SyncResultOut(BaseModel):
    applied: int
    conflicts: int
    rejected: int
    duplicates: int
    answers: list[SyncAnswerOut]


class SerialIn(Strict):
    country: str | None = Field(default=None, max_length=60, description="Default: this node's country")
    year: int | None = Field(default=None, ge=1800, le=2200, description="Default: this year")
    prefix: str = Field(default="", max_length=12, description="A station or maker prefix, letters/digits")
    purpose: str = Field(default="manufacture", description="manufacture, import or remarking")
    station: str | None = Field(default=None, max_length=120)


class SerialOut(BaseModel):
    serial: str
    scope: str
    seq: int
    id: uuid.UUID


class SyncEventOut(BaseModel):
    id: uuid.UUID
    offline_event_id: uuid.UUID
    checkout_id: uuid.UUID
    station: str
    weapon_id: uuid.UUID
    event_type: str
    offline_at: datetime
    status: str
    reason: str
    central_event_id: uuid.UUID | None
    received_by: str
    received_at: datetime
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, r: StationSyncEvent) -> SyncEventOut:
        return cls.model_validate(r, from_attributes=True)


class DecisionIn(Strict):
    apply: bool = Field(
        description="true: record the station's event on top of the central change; false: reject"
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why (kept with the decision, audited)")
