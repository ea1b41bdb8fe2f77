"""The two hottest reads as plain rows: a weapon with its state and marks, and the weapons whose serial or
any mark equals a normalised key. Core SELECTs returning dicts keyed by the API's field names, in the API's
order: no ORM objects, no identity map, no session.

The same statements run two ways:

- `weapon_document` / `weapons_by_mark` on a SQLAlchemy `Connection`: any backend, any routing (the
  caller passes the connection its read was routed to, a replica included);
- `SqliteReads`: compiled once for SQLite and run on the DBAPI connection, each value converted by its
  column type's own result processor, so the values are the ones Core returns. SQLAlchemy's per-execution
  work (execution context, result metadata, the `BEGIN` event) costs about 40 µs a statement, more than
  SQLite's indexed look-up itself; this is the API's fast path on a local SQLite file.

Which rows a search finds (serial, or the text or serial of any mark) is `repository._ids_by_mark`'s rule,
used here as it is.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, select
from sqlalchemy.engine import Dialect

from registry.errors import NotFound
from registry.markings.models import Marking
from registry.weapons.models import Weapon, WeaponState
from registry.weapons.repository import _ids_by_mark

MARK_SEARCH_LIMIT = 50  # as `service.find_by_mark`: an exact search answers at most this many weapons

# API field name -> column, in the order the API writes them (`api.weapons.schemas.WeaponOut`).
WEAPON_FIELDS = {
    "id": Weapon.id,
    "category": Weapon.category,
    "make": Weapon.make,
    "manufacturer_code": Weapon.manufacturer_code,
    "model": Weapon.model,
    "calibre": Weapon.calibre,
    "serial": Weapon.serial,
    "country_of_manufacture": Weapon.country_of_manufacture,
    "year_of_manufacture": Weapon.year_of_manufacture,
    "frame_material": Weapon.frame_material,
    "mark_carrier": Weapon.mark_carrier,
    "status": WeaponState.status,
    "custodian_org_id": WeaponState.custodian_org_id,
    "holder_person_id": WeaponState.holder_person_id,
    "location": WeaponState.location,
    "country": WeaponState.country,
    "illicit": WeaponState.illicit,
    "pending_marking": WeaponState.pending_marking,
    "events": WeaponState.event_count,
    "registered_at": Weapon.registered_at,
    "registered_by": Weapon.registered_by,
}
# `api.weapons.schemas.MarkingOut`.
MARKING_FIELDS = {
    "id": Marking.id,
    "kind": Marking.kind,
    "component": Marking.component_kind,
    "primary": Marking.is_primary,
    "text": Marking.text,
    "manufacturer": Marking.manufacturer,
    "country": Marking.country,
    "serial": Marking.serial,
    "year": Marking.year,
    "method": Marking.method,
    "condition": Marking.condition,
    "verified": Marking.verified,
}


def _weapons() -> Select[Any]:
    """Weapon facts joined with their current state (a weapon without a state row is not found, as in
    `service.get`)."""
    cols = [col.label(name) for name, col in WEAPON_FIELDS.items()]
    return select(*cols).join_from(Weapon, WeaponState, WeaponState.weapon_id == Weapon.id)


# One statement for a weapon document: its row, joined with each of its marks (oldest first; one row with
# NULL marks if it has none). One statement is one snapshot, without a transaction around two.
WEAPON_WITH_MARKINGS = (
    _weapons()
    .add_columns(*[col.label(f"marking_{name}") for name, col in MARKING_FIELDS.items()])
    .outerjoin(Marking, Marking.weapon_id == Weapon.id)
    .where(Weapon.id == bindparam("weapon_id", type_=Weapon.id.type))
    .order_by(Marking.recorded_at, Marking.id)
)
# The same weapons `service.find_by_mark` answers without filters (at most MARK_SEARCH_LIMIT), in id order.
BY_MARK = (
    _weapons()
    .where(
        Weapon.id.in_(
            _ids_by_mark(bindparam("key", type_=Weapon.serial_key.type)).limit(
                bindparam("limit", type_=Integer())
            )
        )
    )
    .order_by(Weapon.id)
)


_NW = len(WEAPON_FIELDS)
_MARKING_NAMES = list(MARKING_FIELDS)


def _document(rows: Sequence[Sequence[Any]]) -> dict[str, Any] | None:
    """The API's weapon document from the rows of WEAPON_WITH_MARKINGS (values already converted)."""
    if not rows:
        return None
    doc = dict(zip(WEAPON_FIELDS, rows[0][:_NW], strict=True))
    doc["markings"] = [dict(zip(_MARKING_NAMES, r[_NW:], strict=True)) for r in rows if r[_NW] is not None]
    doc["warnings"] = []  # only writes warn
    return doc


# --- on a SQLAlchemy Connection (any backend) ------------------------------------------------------------


def weapon_document(conn: Connection, weapon_id: uuid.UUID) -> dict[str, Any] | None:
    """The weapon, its current state and its marks (oldest first); None if there is no such weapon."""
    return _document(conn.execute(WEAPON_WITH_MARKINGS, {"weapon_id": weapon_id}).all())


def get_document(conn: Connection, weapon_id: uuid.UUID) -> dict[str, Any]:
    """`weapon_document`, or NotFound naming the id (as `service.get`)."""
    doc = weapon_document(conn, weapon_id)
    if doc is None:
        raise NotFound(f"no weapon {weapon_id}", field="weapon_id", value=str(weapon_id))
    return doc


def weapons_by_mark(conn: Connection, key: str, limit: int = MARK_SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Weapons (with state, without marks) whose serial or any mark's text or serial equals the normalised
    `key` (`registry.reference.service.text_key`)."""
    return [dict(r) for r in conn.execute(BY_MARK, {"key": key, "limit": limit}).mappings()]


# --- on SQLite's DBAPI connection ------------------------------------------------------------------------


Processor = Callable[[Any], Any] | None


class _Statement:
    """One SELECT compiled for SQLite, with the bind and result processors of its parameters and columns."""

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        names = compiled.positiontup or []
        self.params = names
        # Values of binds the statement sets itself (SQLite renders a LIMIT's OFFSET 0 as one).
        self.defaults = {n: compiled.binds[n].value for n in names}
        self.bind: list[Processor] = [
            compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect) for n in names
        ]
        self.result: list[Processor] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.selected_columns
        ]

    def rows(self, dbapi: sqlite3.Connection, values: dict[str, Any]) -> list[list[Any]]:
        given = self.defaults | values
        args = [
            p(given[n]) if p is not None else given[n] for n, p in zip(self.params, self.bind, strict=True)
        ]
        procs = self.result
        return [
            [v if p is None or v is None else p(v) for p, v in zip(procs, row, strict=True)]
            for row in dbapi.execute(self.sql, args)
        ]


class SqliteReads:
    """The read model on a `sqlite3.Connection` (autocommit mode, as `registry.db.make_engine` sets it). Each
    read is one statement, so it sees one snapshot without a transaction of its own."""

    def __init__(self, dialect: Dialect) -> None:
        if dialect.name != "sqlite":
            raise ValueError(f"SqliteReads needs the SQLite dialect, not {dialect.name}")
        self._weapon = _Statement(WEAPON_WITH_MARKINGS, dialect)
        self._by_mark = _Statement(BY_MARK, dialect)

    def weapon_document(self, dbapi: sqlite3.Connection, weapon_id: uuid.UUID) -> dict[str, Any] | None:
        return _document(self._weapon.rows(dbapi, {"weapon_id": weapon_id}))

    def weapons_by_mark(
        self, dbapi: sqlite3.Connection, key: str, limit: int = MARK_SEARCH_LIMIT
    ) -> list[dict[str, Any]]:
        return [
            dict(zip(WEAPON_FIELDS, r, strict=True))
            for r in self._by_mark.rows(dbapi, {"key": key, "limit": limit})
        ]
