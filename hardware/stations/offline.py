"""Offline marking stations: check weapons out of the national registry, mark them on the station's own
database, and synchronise the station's events back exactly once.

Central side: `checkout` writes a bundle (the weapons of a site with their marks and history, the reference
rows they name, and each weapon's state at checkout — the conflict baseline). Station side: `load_bundle`
copies it into the station's own migrated database (same ids), the station marks and records as usual
(`workflow.run`), and `pending_events` lists what it recorded since. Central side again: `receive` records
each offline event through the normal registry services (so the audit log covers it), unless the weapon's
history grew centrally since checkout — then the event is kept as a conflict for an officer (`resolve`),
never applied over the central change. Each offline event keeps its station-side id; an id already received
is answered from the record and never applied twice.

Personal data stays central: persons are not copied (holder and person ids are blanked in the station's
copy), nor component records; the station needs neither to mark.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import JSON, Date, DateTime, LargeBinary, TypeDecorator, Uuid
from sqlalchemy.orm import Session

from hardware.stations import repository as repo
from registry.audit import service as audit
from registry.audit.canonical import AUDITED_TABLES
from registry.db import utcnow
from registry.errors import Conflict, NotFound, RegistryError, ValidationError
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.markings.rules import MarkingInput
from registry.profiles import Profile
from registry.stations.models import StationCheckout, StationSyncEvent, SyncStatus
from registry.weapons import repository as weapon_repo

BUNDLE_FORMAT = "iti-station-bundle/1"
EVENTS_FORMAT = "iti-station-events/1"
# Insert order respects foreign keys; columns blanked in the station's copy (persons, components, jobs).
TABLES = ("organisations", "weapons", "markings", "events", "weapon_states")
BLANKED = {
    "organisations": ("records_custodian_id",),
    "weapons": ("import_job_id",),
    "markings": ("component_id",),
    "events": ("from_person_id", "to_person_id"),
    "weapon_states": ("holder_person_id",),
}
REFERENCES = {  # reference table: (key column, [(table, column) naming it])
    "ref_categories": ("code", [("weapons", "category")]),
    "ref_manufacturers": ("code", [("weapons", "manufacturer_code"), ("organisations", "manufacturer_code")]),
    "ref_component_kinds": ("code", [("markings", "component_kind")]),
}


# --- encoding ---------------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    raise TypeError(f"cannot encode {type(value).__name__}")


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, default=_default, option=orjson.OPT_SORT_KEYS)


def decode_row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """A row as read from a bundle back into Python values, by column type; unknown columns refused."""
    cols = repo.table_of(table).columns
    unknown = set(row) - {c.name for c in cols}
    if unknown:
        raise ValidationError(f"{table} rows have unknown columns {sorted(unknown)}", field=table)
    out: dict[str, Any] = {}
    for c in cols:
        value = row.get(c.name)
        t = c.type.impl if isinstance(c.type, TypeDecorator) else c.type
        if value is None or isinstance(t, JSON):
            out[c.name] = value
        elif isinstance(t, Uuid):
            out[c.name] = uuid.UUID(str(value))
        elif isinstance(t, DateTime):
            out[c.name] = datetime.fromisoformat(value)
        elif isinstance(t, Date):
            out[c.name] = date.fromisoformat(value)
        elif isinstance(t, LargeBinary):
            out[c.name] = bytes.fromhex(value)
        else:
            out[c.name] = value
    return out


# --- central: checkout ------------------------------------------------------------------------------------


def checkout(
    session: Session,
    *,
    station: str,
    location: str,
    actor: str,
    weapon_ids: list[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Record that `station` takes the weapons held at `location` (or `weapon_ids`) offline; the bundle."""
    if not station.strip():
        raise ValidationError("name the station", field="station")
    held = repo.held_at(session, location)
    if weapon_ids is not None:
        wanted = set(weapon_ids)
        held = [(w, s) for w, s in held if w.id in wanted]
        missing = wanted - {w.id for w, _ in held}
        if missing:
            raise NotFound(
                f"{len(missing)} of the weapons are not held at {location}",
                field="weapon_ids",
                value=sorted(map(str, missing))[:10],
            )
    if not held:
        raise NotFound(f"the registry places no weapon in store at {location!r}", field="location")
    baseline = {str(w.id): {"event_count": s.event_count, "status": s.status} for w, s in held}
    co = StationCheckout(
        station=station.strip(), location=location, created_by=actor, weapons=len(held), baseline=baseline
    )
    session.add(co)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="station.checkout",
        subject=audit.new_subject("checkout", co.id),
        records=[audit.snapshot_obj(co)],
        info={"station": co.station, "location": location, "weapons": len(held)},
    )
    return {
        "format": BUNDLE_FORMAT,
        "checkout": _row_of(co),
        "tables": _tables(session, [w.id for w, _ in held]),
    }


def _row_of(co: StationCheckout) -> dict[str, Any]:
    return {c.name: getattr(co, c.key) for c in StationCheckout.__table__.columns}


def _tables(session: Session, ids: list[uuid.UUID]) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    tables["weapons"] = repo.rows_of(session, "weapons", "id", ids)
    tables["markings"] = repo.rows_of(session, "markings", "weapon_id", ids)
    tables["events"] = sorted(
        repo.rows_of(session, "events", "weapon_id", ids), key=lambda e: (str(e["weapon_id"]), e["seq"])
    )
    tables["weapon_states"] = repo.rows_of(session, "weapon_states", "weapon_id", ids)
    org_ids = {s["custodian_org_id"] for s in tables["weapon_states"]} | {
        e[k] for e in tables["events"] for k in ("from_org_id", "to_org_id")
    }
    tables["organisations"] = repo.rows_of(session, "organisations", "id", org_ids)
    for name, cols in BLANKED.items():
        for row in tables[name]:
            row.update(dict.fromkeys(cols))
    for ref, (key, users) in REFERENCES.items():
        tables[ref] = repo.rows_of(session, ref, key, {r[c] for t, c in users for r in tables[t]})
    return tables


# --- station: load the bundle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    checkout: StationCheckout
    rows: dict[str, int]


def load_bundle(session: Session, *, bundle: dict[str, Any], actor: str) -> Loaded:
    """Copy a checkout bundle into this station's database (same ids), audited as one entry."""
    if bundle.get("format") != BUNDLE_FORMAT:
        raise ValidationError(f"not a station bundle ({BUNDLE_FORMAT})", field="bundle")
    co_row = decode_row("station_checkouts", bundle["checkout"])
    if repo.get_checkout(session, co_row["id"]) is not None:
        raise Conflict(f"checkout {co_row['id']} is already loaded on this station", field="bundle")
    tables: dict[str, list[dict[str, Any]]] = bundle.get("tables") or {}
    counts: dict[str, int] = {}
    refs: list[audit.RecordRef] = []
    for ref, (key, _) in REFERENCES.items():  # reference rows this station lacks
        rows = [decode_row(ref, r) for r in tables.get(ref, [])]
        have = repo.existing_keys(session, ref, key, [r[key] for r in rows])
        new = [r for r in rows if r[key] not in have]
        repo.insert_rows(session, ref, new)
        counts[ref] = len(new)
    for name in TABLES:
        rows = [decode_row(name, r) for r in tables.get(name, [])]
        key = "weapon_id" if name == "weapon_states" else "id"
        have = repo.existing_keys(session, name, key, [r[key] for r in rows])
        if name != "organisations" and have:
            raise Conflict(
                f"{len(have)} {name} rows of this bundle already exist here: a station loads a checkout "
                "into its own fresh database",
                field="bundle",
            )
        new = [r for r in rows if r[key] not in have]
        repo.insert_rows(session, name, new)
        counts[name] = len(new)
        if name in AUDITED_TABLES:
            refs += [audit.snapshot(name, r) for r in new]
    session.add(StationCheckout(**{c.key: co_row[c.name] for c in StationCheckout.__table__.columns}))
    session.flush()
    co = repo.get_checkout(session, co_row["id"])
    assert co is not None
    audit.record(
        session,
        actor=actor,
        action="station.checkout_loaded",
        subject=audit.new_subject("checkout", co.id),
        records=[*refs, audit.snapshot_obj(co)],
        info={"station": co.station, "location": co.location, "weapons": co.weapons},
    )
    return Loaded(co, counts)


def station_checkout(session: Session) -> StationCheckout:
    """The checkout this station runs on (a station database holds exactly one)."""
    found = repo.only_checkout(session)
    if len(found) != 1:
        raise NotFound(
            "this database holds no station checkout; run `iti station init --bundle FILE` first"
            if not found
            else f"this database holds {len(found)} checkouts; a station runs on one",
            field="checkout",
        )
    return found[0]


# --- station: what to upload ------------------------------------------------------------------------------


def pending_events(session: Session) -> dict[str, Any]:
    """Every event this station recorded since checkout and has not had answered by the registry."""
    co = station_checkout(session)
    done = repo.synced_offline_ids(session)
    events = repo.rows_of(session, "events", "weapon_id", [uuid.UUID(w) for w in co.baseline])
    new = [
        e
        for e in events
        if e["seq"] > co.baseline[str(e["weapon_id"])]["event_count"] and e["id"] not in done
    ]
    new.sort(key=lambda e: (e["recorded_at"], e["id"]))
    marks = {m["id"]: m for m in repo.rows_of(session, "markings", "id", [e["marking_id"] for e in new])}
    out = [_offline_event(e, marks.get(e["marking_id"]), co.baseline[str(e["weapon_id"])]) for e in new]
    return {"format": EVENTS_FORMAT, "checkout_id": str(co.id), "station": co.station, "events": out}


_MARKING_FIELDS = (
    "text", "kind", "component_kind", "method", "manufacturer", "country", "serial", "year",
    "transferring_state", "scheme_symbol", "location_on_component", "exposed_surface", "conspicuous",
    "readable", "durable", "recoverable", "condition", "payload", "applied_on", "station", "operator",
    "verified",
)  # fmt: skip


def _offline_event(e: dict[str, Any], mark: dict[str, Any] | None, base: dict[str, Any]) -> dict[str, Any]:
    doc = {
        k: e[k]
        for k in ("id", "weapon_id", "seq", "type", "occurred_at", "recorded_at", "recorded_by", "location")
    }
    doc |= {"documents": e["documents"], "data": e["data"], "notes": e["notes"], "base": base}
    doc["marking"] = {k: mark[k] for k in _MARKING_FIELDS} if mark else None
    return orjson.loads(dumps(doc))  # plain JSON values, the same whether written to a file or posted


# --- central: receive -------------------------------------------------------------------------------------


@dataclass
class Answer:
    offline_event_id: uuid.UUID
    weapon_id: uuid.UUID
    status: str
    reason: str = ""
    central_event_id: uuid.UUID | None = None
    duplicate: bool = False  # already received before: nothing was done this time

    def as_dict(self) -> dict[str, Any]:
        return {
            "offline_event_id": str(self.offline_event_id),
            "weapon_id": str(self.weapon_id),
            "status": self.status,
            "reason": self.reason,
            "central_event_id": str(self.central_event_id) if self.central_event_id else None,
            "duplicate": self.duplicate,
        }


@dataclass
class Received:
    answers: list[Answer] = field(default_factory=list)

    def count(self, status: str, *, new_only: bool = True) -> int:
        return sum(1 for a in self.answers if a.status == status and not (new_only and a.duplicate))


def receive(
    session: Session,
    *,
    batch: dict[str, Any],
    actor: str,
    profile: Profile,
    home_country: str | None = None,
) -> Received:
    """Record a station's offline events centrally, each once; conflicts are kept for an officer."""
    if batch.get("format") != EVENTS_FORMAT:
        raise ValidationError(f"not a station events file ({EVENTS_FORMAT})", field="format")
    try:
        checkout_id = uuid.UUID(str(batch.get("checkout_id")))
    except ValueError:
        raise ValidationError("checkout_id is not a UUID", field="checkout_id") from None
    co = repo.get_checkout(session, checkout_id)
    if co is None:
        raise NotFound(f"no checkout {checkout_id} in this registry", field="checkout_id")
    if batch.get("station") != co.station:
        raise ValidationError(
            f"checkout {co.id} was made for station {co.station!r}, not {batch.get('station')!r}",
            field="station",
        )
    out = Received()
    for ev in batch.get("events") or []:
        out.answers.append(_receive_one(session, co, ev, actor, profile, home_country))
    return out


def _receive_one(
    session: Session,
    co: StationCheckout,
    ev: dict[str, Any],
    actor: str,
    profile: Profile,
    home_country: str | None,
) -> Answer:
    try:
        oid, wid = uuid.UUID(str(ev["id"])), uuid.UUID(str(ev["weapon_id"]))
        offline_at = datetime.fromisoformat(ev["occurred_at"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ValidationError(
            f"an offline event lacks a valid id, weapon_id or occurred_at: {exc}", field="events"
        ) from None
    if offline_at.tzinfo is None:
        raise ValidationError("an offline event's occurred_at needs a time zone", field="events.occurred_at")
    seen = repo.sync_event(session, oid)
    if seen is not None:
        return _answer(seen, duplicate=True)
    if weapon_repo.get_state(session, wid) is None:
        # Nothing to attach a record to (and nothing is written): the answer says why.
        return Answer(oid, wid, SyncStatus.REJECTED, f"no weapon {wid} in this registry")
    status, reason, central = _decide(session, co, ev, wid, actor, profile, home_country)
    row = StationSyncEvent(
        offline_event_id=oid,
        checkout_id=co.id,
        station=co.station,
        weapon_id=wid,
        event_type=str(ev.get("type")),
        offline_at=offline_at,
        status=status,
        reason=reason,
        central_event_id=central,
        payload=ev,
        received_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"station.sync_{status}",
        subject=f"weapon:{wid}",
        records=[audit.snapshot_obj(row)],
        info={"station": co.station, "offline_event_id": str(oid), "reason": reason[:200]},
    )
    return _answer(row)


def _decide(
    session: Session,
    co: StationCheckout,
    ev: dict[str, Any],
    wid: uuid.UUID,
    actor: str,
    profile: Profile,
    home_country: str | None,
) -> tuple[str, str, uuid.UUID | None]:
    base = co.baseline.get(str(wid))
    if base is None:
        return SyncStatus.REJECTED, f"weapon {wid} was not checked out to {co.station}", None
    expected = base["event_count"] + repo.applied_count(session, checkout_id=co.id, weapon_id=wid)
    events = weapon_repo.events_of(session, wid)
    if len(events) != expected:
        later = [
            f"{e.type} ({e.recorded_by}, {e.recorded_at:%Y-%m-%d %H:%M})"
            for e in events[base["event_count"] :]
        ]
        return (
            SyncStatus.CONFLICT,
            f"the weapon changed centrally since checkout ({base['event_count']} → {len(events)} events: "
            f"{', '.join(later) or 'history shortened'}); an officer must decide",
            None,
        )
    return _apply(session, co, ev, wid, actor, profile, home_country)


def _apply(
    session: Session,
    co: StationCheckout,
    ev: dict[str, Any],
    wid: uuid.UUID,
    actor: str,
    profile: Profile,
    home_country: str | None,
) -> tuple[str, str, uuid.UUID | None]:
    """Record the offline event through the registry's own rules; a refusal becomes `rejected`."""
    try:
        event, marking = _event_input(ev, co), _marking_input(ev.get("marking"))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return SyncStatus.REJECTED, f"the station's event is malformed: {type(exc).__name__}: {exc}", None
    try:
        with session.begin_nested():
            rec = history.record_event(
                session,
                actor=actor,
                weapon_id=wid,
                event=event,
                marking=marking,
                profile=profile,
                home_country=home_country,
            )
    except RegistryError as exc:
        return SyncStatus.REJECTED, f"refused by the registry's rules: {exc.message}", None
    return SyncStatus.APPLIED, "", rec.event.id


def _event_input(ev: dict[str, Any], co: StationCheckout) -> EventInput:
    data = dict(ev.get("data") or {})
    data["offline"] = {
        "station": co.station,
        "checkout_id": str(co.id),
        "offline_event_id": str(ev["id"]),
        "recorded_offline_at": ev.get("recorded_at"),
        "recorded_offline_by": ev.get("recorded_by"),
    }
    return EventInput(
        type=str(ev.get("type")),
        occurred_at=datetime.fromisoformat(ev["occurred_at"]),
        location=ev.get("location"),
        documents=list(ev.get("documents") or []),
        data=data,
        notes=str(ev.get("notes") or ""),
    )


def _marking_input(m: dict[str, Any] | None) -> MarkingInput | None:
    if not m:
        return None
    if not isinstance(m, dict):
        raise TypeError("marking is not an object")
    return MarkingInput(
        text=m["text"],
        kind=m["kind"],
        component=m["component_kind"],
        method=m["method"],
        manufacturer=m.get("manufacturer"),
        country=m.get("country"),
        serial=m.get("serial"),
        year=m.get("year"),
        transferring_state=m.get("transferring_state"),
        scheme_symbol=m.get("scheme_symbol"),
        location=m.get("location_on_component"),
        exposed_surface=m.get("exposed_surface", True),
        conspicuous=m.get("conspicuous", True),
        readable=m.get("readable", True),
        durable=m.get("durable", True),
        recoverable=m.get("recoverable", True),
        condition=m.get("condition", "intact"),
        payload=m.get("payload"),
        applied_on=date.fromisoformat(m["applied_on"]) if m.get("applied_on") else None,
        station=m.get("station"),
        operator=m.get("operator"),
        verified=bool(m.get("verified")),
    )


def _answer(row: StationSyncEvent, *, duplicate: bool = False) -> Answer:
    return Answer(
        row.offline_event_id, row.weapon_id, row.status, row.reason, row.central_event_id, duplicate
    )


# --- central: an officer decides a conflict ---------------------------------------------------------------


def resolve(
    session: Session,
    *,
    sync_id: uuid.UUID,
    apply: bool,
    actor: str,
    reason: str,
    profile: Profile,
    home_country: str | None = None,
) -> Answer:
    """Apply a conflicting offline event after review (on top of the central change), or reject it."""
    row = repo.lock_sync_event(session, sync_id)
    if row is None:
        raise NotFound(f"no synchronised station event {sync_id}", field="sync_id")
    if row.status != SyncStatus.CONFLICT:
        raise Conflict(f"the event is {row.status}, not a conflict awaiting a decision", field="status")
    if not reason.strip():
        raise ValidationError("give the reason for the decision", field="reason")
    co = repo.get_checkout(session, row.checkout_id)
    assert co is not None  # foreign key
    if apply:
        status, why, central = _apply(session, co, row.payload, row.weapon_id, actor, profile, home_country)
    else:
        status, why, central = SyncStatus.REJECTED, "", None
    row.status, row.central_event_id = status, central
    row.reason = f"{row.reason} — decided by {actor}: {reason.strip()}" + (f"; {why}" if why else "")
    row.decided_by, row.decided_at = actor, utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor,
        action=f"station.sync_resolved_{status}",
        subject=f"weapon:{row.weapon_id}",
        records=[audit.snapshot_obj(row)],
        info={"station": row.station, "offline_event_id": str(row.offline_event_id)},
    )
    return _answer(row)


# --- station: remember the registry's answers -------------------------------------------------------------


def remember_answers(session: Session, *, answers: list[dict[str, Any]], actor: str) -> int:
    """Keep the registry's answer to each uploaded event, so the next sync sends only what is new."""
    co = station_checkout(session)
    done = repo.synced_offline_ids(session)
    pending = {e["id"]: e for e in pending_events(session)["events"]}
    n = 0
    for a in answers:
        oid = uuid.UUID(a["offline_event_id"])
        ev = pending.get(str(oid))
        if oid in done or ev is None:
            continue
        row = StationSyncEvent(
            offline_event_id=oid,
            checkout_id=co.id,
            station=co.station,
            weapon_id=uuid.UUID(a["weapon_id"]),
            event_type=ev["type"],
            offline_at=datetime.fromisoformat(ev["occurred_at"]),
            status=a["status"],
            reason=a.get("reason") or "",
            central_event_id=uuid.UUID(a["central_event_id"]) if a.get("central_event_id") else None,
            payload={},
            received_by=actor,
        )
        session.add(row)
        session.flush()
        audit.record(
            session,
            actor=actor,
            action="station.sync_answered",
            subject=f"weapon:{row.weapon_id}",
            records=[audit.snapshot_obj(row)],
            info={"status": row.status},
        )
        n += 1
    return n


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
