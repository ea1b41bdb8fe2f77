"""What the registry knows of one weapon along its supply chain, as a requested state answers it (REQ-29,
REQ-34): manufacture, export, import, transfers through wholesalers and retailers (also those recorded from a
closed company's records in state custody), loss and theft, recovery. Never a person's identity; the
category of the last lawful holder only where national policy allows (`ITI_TRACE_SHARE_HOLDER_CATEGORY`).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from registry.history.models import Event
from tracing.requests import repository as repo
from tracing.requests.errors import TraceNotFound

SHARED_EVENTS = (
    "manufactured",
    "imported",
    "exported",
    "transferred",
    "transfer_accepted",
    "record_custody_transferred",
    "lost",
    "stolen",
    "found",
    "seized",
    "surrendered",
    "deactivated",
    "destroyed",
)


def supply_chain(session: Session, weapon_id: uuid.UUID, *, share_holder_category: bool) -> dict[str, Any]:
    weapon = repo.weapon(session, weapon_id)
    if weapon is None:
        raise TraceNotFound(f"no weapon {weapon_id} in this registry", field="weapon_id")
    events = [e for e in repo.events_of(session, weapon_id) if e.type in SHARED_EVENTS]
    orgs = repo.organisations(session, [x for e in events for x in (e.from_org_id, e.to_org_id)])

    def org(oid: uuid.UUID | None) -> dict[str, Any] | None:
        o = orgs.get(oid) if oid else None
        if o is None:
            return None
        return {"name": o.name, "kind": o.kind, "country": o.country, "closed": o.closed_at is not None}

    steps = [_step(e, org) for e in events]
    out: dict[str, Any] = {
        "weapon": {
            "category": weapon.category,
            "make": weapon.make,
            "model": weapon.model,
            "calibre": weapon.calibre,
            "serial": weapon.serial,
            "country_of_manufacture": weapon.country_of_manufacture,
            "year_of_manufacture": weapon.year_of_manufacture,
        },
        "events": steps,
        "countries": _countries(weapon.country_of_manufacture, events),
    }
    if share_holder_category:
        out["last_lawful_holder_category"] = _holder_category(events, org)
    return out


def _step(e: Event, org: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"event": e.type, "date": e.occurred_at.date().isoformat()}
    for name in ("from_country", "to_country", "location"):
        if getattr(e, name):
            step[name] = getattr(e, name)
    if (o := org(e.from_org_id)) is not None:
        step["from"] = o
    if (o := org(e.to_org_id)) is not None:
        step["to"] = o
    if e.from_person_id or e.to_person_id:
        step["private_person_involved"] = True
    docs = [{k: d.get(k) for k in ("kind", "number", "issued_on") if d.get(k)} for d in (e.documents or [])]
    if docs:
        step["documents"] = docs
    return step


def _countries(made_in: str | None, events: list[Event]) -> list[str]:
    """States the weapon passed through, in order: where a next request may go (the "next hop")."""
    seen: list[str] = []
    for c in [made_in, *[x for e in events for x in (e.from_country, e.to_country)]]:
        if c and c not in seen:
            seen.append(c)
    return seen


def _holder_category(events: list[Event], org: Any) -> str | None:
    for e in reversed(events):
        if e.type in ("transferred", "transfer_accepted", "imported", "manufactured"):
            if e.to_person_id:
                return "private_person"
            if (o := org(e.to_org_id)) is not None:
                return str(o["kind"])
    return None
