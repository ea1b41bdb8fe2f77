"""Streaming export of the registry as CSV (one row per weapon) or JSON Lines (each weapon with its marks and
whole history). Reads in batches so a national registry exports in flat memory."""

from __future__ import annotations

import csv
import uuid
from collections import defaultdict
from collections.abc import Iterator
from typing import IO, Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.history.models import Event
from registry.markings.models import Marking
from registry.weapons.models import Weapon, WeaponState

CSV_COLUMNS = [
    "id",
    "category",
    "make",
    "manufacturer_code",
    "model",
    "calibre",
    "serial",
    "country_of_manufacture",
    "year_of_manufacture",
    "frame_material",
    "mark_carrier",
    "status",
    "custodian_org_id",
    "location",
    "illicit",
    "pending_marking",
    "event_count",
    "registered_at",
    "registered_by",
    "marks",
]
_WEAPON_FIELDS = [
    c
    for c in CSV_COLUMNS
    if c
    not in (
        "id",
        "status",
        "custodian_org_id",
        "location",
        "illicit",
        "pending_marking",
        "event_count",
        "marks",
    )
]


def _batches(
    session: Session, *, status: str | None, batch: int
) -> Iterator[list[tuple[Weapon, WeaponState]]]:
    last: uuid.UUID | None = None
    while True:
        stmt = select(Weapon, WeaponState).join(WeaponState, WeaponState.weapon_id == Weapon.id)
        if status:
            stmt = stmt.where(WeaponState.status == status)
        if last is not None:
            stmt = stmt.where(Weapon.id > last)
        rows = [(w, s) for w, s in session.execute(stmt.order_by(Weapon.id).limit(batch))]
        if not rows:
            return
        yield rows
        last = rows[-1][0].id


def _children(
    session: Session, ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[Marking]], dict[uuid.UUID, list[Event]]]:
    marks: dict[uuid.UUID, list[Marking]] = defaultdict(list)
    events: dict[uuid.UUID, list[Event]] = defaultdict(list)
    for m in session.execute(select(Marking).where(Marking.weapon_id.in_(ids))).scalars():
        marks[m.weapon_id].append(m)
    for e in session.execute(select(Event).where(Event.weapon_id.in_(ids)).order_by(Event.seq)).scalars():
        events[e.weapon_id].append(e)
    return marks, events


def _columns(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in skip}


def export(
    session: Session, out: IO[bytes], *, fmt: str, status: str | None = None, batch: int = 1000
) -> int:
    count = 0
    if fmt == "csv":
        text = _TextOut(out)
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
        writer.writeheader()
    for rows in _batches(session, status=status, batch=batch):
        marks, events = _children(session, [w.id for w, _ in rows])
        for w, s in rows:
            if fmt == "csv":
                row = {f: getattr(w, f) for f in _WEAPON_FIELDS}
                row.update(
                    id=w.id,
                    status=s.status,
                    custodian_org_id=s.custodian_org_id or "",
                    location=s.location or "",
                    illicit=s.illicit,
                    pending_marking=s.pending_marking,
                    event_count=s.event_count,
                    marks=" | ".join(m.text for m in marks.get(w.id, [])),
                )
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
            else:
                record = {
                    "weapon": _columns(w),
                    "state": _columns(s, skip=("weapon_id",)),
                    "markings": [_columns(m, skip=("weapon_id",)) for m in marks.get(w.id, [])],
                    "history": [_columns(e, skip=("weapon_id",)) for e in events.get(w.id, [])],
                }
                out.write(orjson.dumps(record, default=str) + b"\n")
            count += 1
        # Let go of this batch's objects (only them: the caller's own pending objects stay) so memory stays flat.
        for obj in (
            [x for pair in rows for x in pair]
            + [m for ms in marks.values() for m in ms]
            + [e for es in events.values() for e in es]
        ):
            session.expunge(obj)
    if fmt == "csv":
        text.flush()
    return count


class _TextOut:
    """csv needs text; the CLI hands us a binary stream (a file or stdout's buffer)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, s: str) -> int:
        return self.out.write(s.encode("utf-8"))

    def flush(self) -> None:
        self.out.flush()
