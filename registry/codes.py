"""Code lists shared across aggregates. Stored as short strings guarded by CHECK constraints."""

from __future__ import annotations

from enum import StrEnum


class OrgKind(StrEnum):
    MANUFACTURER = "manufacturer"
    EXPORTER_IMPORTER = "exporter_importer"
    DEALER = "dealer"
    GOVERNMENT_AGENCY = "government_agency"
    STOCKPILE = "stockpile"
    ARMED_FORCES = "armed_forces"
    LAW_ENFORCEMENT = "law_enforcement"
    OTHER = "other"


# Holders whose weapons are state stock: leaving them for civilian use needs a state mark (ITI 8(c)).
STATE_ORG_KINDS = frozenset(
    {OrgKind.GOVERNMENT_AGENCY, OrgKind.STOCKPILE, OrgKind.ARMED_FORCES, OrgKind.LAW_ENFORCEMENT}
)


class LicenceKind(StrEnum):
    MANUFACTURE = "manufacture"
    DEALER = "dealer"
    IMPORT = "import"
    EXPORT = "export"
    TRANSIT = "transit"
    BROKERING = "brokering"
    POSSESSION = "possession"


class FrameMaterial(StrEnum):
    METAL = "metal"
    POLYMER = "polymer"
    OTHER = "other"


class MarkingKind(StrEnum):
    MANUFACTURE = "manufacture"
    IMPORT = "import"
    STATE_TRANSFER = "state_transfer"
    OWNERSHIP = "ownership"  # security-forces / ownership marks (ITI 8(d))
    REMARKING = "remarking"  # a found or seized weapon given a unique mark
    DEACTIVATION = "deactivation"
    PROOF = "proof"
    OTHER = "other"


class MarkingMethod(StrEnum):
    DOT_PEEN = "dot_peen"
    LASER = "laser"
    STAMP = "stamp"
    ENGRAVE = "engrave"
    CAST = "cast"
    ELECTRO_CHEMICAL = "electro_chemical"
    MICRO_MARKING = "micro_marking"
    RFID_TAG = "rfid_tag"
    CODE_2D = "code_2d"


class MarkCondition(StrEnum):
    INTACT = "intact"
    ALTERED = "altered"
    OBLITERATED = "obliterated"
    MISSING = "missing"


class EventType(StrEnum):
    MANUFACTURED = "manufactured"
    MARKED = "marked"
    IMPORTED = "imported"
    EXPORTED = "exported"
    TRANSFERRED = "transferred"
    TRANSFER_ACCEPTED = "transfer_accepted"
    TRANSFER_REJECTED = "transfer_rejected"
    LOST = "lost"
    STOLEN = "stolen"
    FOUND = "found"
    SEIZED = "seized"
    SURRENDERED = "surrendered"
    ORIGIN_ASSESSED = "origin_assessed"
    DEACTIVATED = "deactivated"
    DESTROYED = "destroyed"
    COMPONENT_REPLACED = "component_replaced"
    RECORD_CUSTODY_TRANSFERRED = "record_custody_transferred"
    AMENDED = "amended"
    VOIDED = "voided"


class Status(StrEnum):
    ACTIVE = "active"  # lawfully held in the country
    TRANSFER_PENDING = "transfer_pending"
    EXPORTED = "exported"
    LOST = "lost"
    STOLEN = "stolen"
    RECOVERED = "recovered"  # found, seized or surrendered: in state hands
    DEACTIVATED = "deactivated"
    DESTROYED = "destroyed"
    VOIDED = "voided"


class IllicitGround(StrEnum):
    """REQ-03 (ITI 6): the only grounds on which a weapon is recorded as illicit."""

    ILLICIT_UNDER_NATIONAL_LAW = "illicit_under_national_law"
    EMBARGO_BREACH = "embargo_breach"
    NOT_MARKED = "not_marked"
    UNLICENSED_MANUFACTURE = "unlicensed_manufacture"
    UNLICENSED_TRANSFER = "unlicensed_transfer"


class OriginEstablished(StrEnum):
    """REQ-39 / SDG 16.4.2: whether and how the illicit origin or context was established."""

    BY_TRACING = "by_tracing"
    BY_OTHER_MEANS = "by_other_means"
    PENDING = "pending"
    INSUFFICIENT_INFORMATION = "insufficient_information"
    NOT_ATTEMPTED = "not_attempted"


class VoidReason(StrEnum):
    DUPLICATE = "duplicate"
    ERROR = "error"


def check_in(column: str, enum: type[StrEnum]) -> str:
    """SQL text for a CHECK constraint that keeps a column inside a code list."""
    values = ", ".join(f"'{m.value}'" for m in enum)
    return f"{column} IN ({values})"
