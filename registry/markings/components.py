"""Serialised components of modular weapons (a receiver module, a barrel) that move between weapons.

A component is registered once; `component_replaced` events install it in a weapon or take it out. Its
life across weapons is the list of its moves, so `iti component history` answers "which weapons has this
barrel been part of".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.errors import Conflict, NotFound, UnknownReference, ValidationError
from registry.markings.models import Component, ComponentMove
from registry.reference.service import Catalogue, text_key
from registry.rows import complete


def register_component(
    session: Session,
    *,
    actor: str,
    catalogue: Catalogue,
    kind: str,
    serial: str | None,
    manufacturer_code: str | None = None,
    description: str = "",
) -> Component:
    if kind not in catalogue.component_kinds:
        raise UnknownReference(f"component kind {kind!r} is not known", field="kind", value=kind)
    if manufacturer_code is not None and manufacturer_code not in catalogue.manufacturers:
        raise UnknownReference(f"manufacturer {manufacturer_code!r} is not known", field="manufacturer_code")
    row = complete(
        "components",
        {
            "kind": kind,
            "manufacturer_code": manufacturer_code,
            "serial": serial,
            "serial_key": text_key(serial) if serial else None,
            "description": description,
            "created_by": actor,
        },
    )
    session.execute(Component.__table__.insert(), [row])
    audit.record(
        session,
        actor=actor,
        action="component.registered",
        subject=f"component:{row['id']}",
        records=[audit.snapshot("components", row)],
    )
    found = session.get(Component, row["id"])
    if found is None:  # pragma: no cover - inserted just above
        raise NotFound("component vanished", field="component_id")
    return found


def current_weapon(session: Session, component_id: uuid.UUID) -> uuid.UUID | None:
    """The weapon the component is in now (its last move was an installation), or None."""
    stmt = (
        select(ComponentMove.weapon_id, ComponentMove.action)
        .where(ComponentMove.component_id == component_id)
        .order_by(ComponentMove.occurred_at.desc(), ComponentMove.action.desc())
        .limit(1)
    )
    last = session.execute(stmt).first()
    return last[0] if last is not None and last[1] == "installed" else None


@dataclass(frozen=True)
class Move:
    weapon_id: uuid.UUID
    event_id: uuid.UUID
    action: str
    occurred_at: datetime


def history(session: Session, component_id: uuid.UUID) -> list[Move]:
    if session.get(Component, component_id) is None:
        raise NotFound(f"no component {component_id}", field="component_id", value=str(component_id))
    stmt = (
        select(ComponentMove)
        .where(ComponentMove.component_id == component_id)
        .order_by(ComponentMove.occurred_at, ComponentMove.action.desc())
    )
    return [Move(m.weapon_id, m.event_id, m.action, m.occurred_at) for m in session.execute(stmt).scalars()]


def _component_id(data: dict[str, Any], key: str) -> uuid.UUID | None:
    value = data.get(key)
    if value in (None, ""):
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError(f"{key} is not a component id", field=f"data.{key}", value=value) from None


def plan_replacement(
    session: Session, *, weapon_id: uuid.UUID, data: dict[str, Any]
) -> list[tuple[uuid.UUID, str]]:
    """Check a `component_replaced` event's components; returns the moves to record."""
    installed = _component_id(data, "installed_component_id")
    removed = _component_id(data, "removed_component_id")
    if installed is None and removed is None:
        raise ValidationError(
            "a component replacement names the component installed and/or removed",
            field="data.installed_component_id",
        )
    moves: list[tuple[uuid.UUID, str]] = []
    if removed is not None:
        if current_weapon(session, removed) != weapon_id:
            raise Conflict(
                f"component {removed} is not in this weapon",
                field="data.removed_component_id",
                value=str(removed),
            )
        moves.append((removed, "removed"))
    if installed is not None:
        if session.get(Component, installed) is None:
            raise ValidationError(
                f"no component {installed}", field="data.installed_component_id", value=str(installed)
            )
        holder = current_weapon(session, installed)
        if holder is not None:
            raise Conflict(
                f"component {installed} is still in weapon {holder}: record its removal there first",
                field="data.installed_component_id",
                value=str(installed),
                weapon_id=str(holder),
            )
        moves.append((installed, "installed"))
    return moves


def record_moves(
    session: Session,
    *,
    weapon_id: uuid.UUID,
    event_id: uuid.UUID,
    occurred_at: datetime,
    moves: list[tuple[uuid.UUID, str]],
) -> list[tuple[str, str, str]]:
    rows = [
        complete(
            "component_moves",
            {
                "component_id": cid,
                "weapon_id": weapon_id,
                "event_id": event_id,
                "action": action,
                "occurred_at": occurred_at,
            },
        )
        for cid, action in moves
    ]
    if rows:
        session.execute(ComponentMove.__table__.insert(), rows)
    return [audit.snapshot("component_moves", r) for r in rows]
