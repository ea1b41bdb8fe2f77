"""Imports every model so that `Base.metadata` is complete (Alembic and tests use it)."""

from registry.audit.models import AuditEntry, AuditKey, AuditLogState, PurgePermit, TreeHeadRecord
from registry.db import Base
from registry.history.models import Event
from registry.idempotency.models import IdempotencyKey
from registry.imports.jobs_models import ImportJobRun
from registry.imports.models import ImportJob
from registry.markings.models import Component, ComponentMove, Marking
from registry.organisations.models import Licence, Organisation
from registry.persons.models import Person
from registry.ratelimit.models import RateLimitBucket
from registry.reference.models import CalibreRef, CategoryRef, ComponentKindRef, ManufacturerRef, ModelRef
from registry.stations.models import (
    SerialCounter,
    SerialReservation,
    StationCheckout,
    StationSyncEvent,
    Stocktake,
)
from registry.users.models import ApiKey, AuthToken, User
from registry.weapons.models import Weapon, WeaponState
from tracing.federation.models import FederationNode, InboxMessage, OutboxMessage, Peer
from tracing.matching.models import SerialSkeleton
from tracing.requests.models import TraceAttachment, TraceRequest, TraceTransition

__all__ = [
    "ApiKey",
    "AuditEntry",
    "AuditKey",
    "AuditLogState",
    "AuthToken",
    "Base",
    "CalibreRef",
    "CategoryRef",
    "Component",
    "ComponentKindRef",
    "ComponentMove",
    "Event",
    "FederationNode",
    "IdempotencyKey",
    "ImportJob",
    "ImportJobRun",
    "InboxMessage",
    "Licence",
    "ManufacturerRef",
    "Marking",
    "ModelRef",
    "Organisation",
    "OutboxMessage",
    "Peer",
    "Person",
    "PurgePermit",
    "RateLimitBucket",
    "SerialCounter",
    "SerialReservation",
    "SerialSkeleton",
    "StationCheckout",
    "StationSyncEvent",
    "Stocktake",
    "TraceAttachment",
    "TraceRequest",
    "TraceTransition",
    "TreeHeadRecord",
    "User",
    "Weapon",
    "WeaponState",
]
