"""The canonical form of an audited row, the same whether it is computed from the values a service is about to
insert or from the raw values a driver reads back — on SQLite or PostgreSQL alike.

Each column value becomes: UUID → 32 lowercase hex digits; timestamp → UTC "YYYY-MM-DD HH:MM:SS.ffffff";
date → "YYYY-MM-DD"; boolean → true/false; JSON → the parsed value (keys sorted on encoding); bytes → hex;
text and numbers as they are. The digest is SHA-256 of the orjson encoding of [table, [values in column
order]]. These happen to be the forms SQLite stores, so verifying a SQLite registry converts almost nothing;
a registry moved between backends keeps verifying.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Boolean, Date, DateTime, LargeBinary, TypeDecorator, Uuid

from registry.db import Base

Convert = Callable[[Any], Any]


def _kind(coltype: Any) -> str:
    t = coltype.impl if isinstance(coltype, TypeDecorator) else coltype
    for cls, kind in (
        (Uuid, "uuid"),
        (DateTime, "datetime"),
        (Date, "date"),
        (Boolean, "bool"),
        (JSON, "json"),
        (LargeBinary, "bytes"),
    ):
        if isinstance(t, cls):
            return kind
    return "plain"


@cache
def columns(table: str) -> tuple[tuple[str, str], ...]:
    """(column key, kind) in table order."""
    return tuple((c.key, _kind(c.type)) for c in Base.metadata.tables[table].columns)


def _timestamp(value: datetime) -> str:
    text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
    return text if len(text) > 19 else text + ".000000"


def _date(value: date) -> str:
    return value.isoformat()


def _hex(value: Any) -> str:
    return bytes(value).hex()


_FROM_PYTHON: dict[str, Convert | None] = {
    "uuid": lambda v: v.hex,
    "datetime": _timestamp,
    "date": _date,
    "bool": bool,
    "json": None,
    "bytes": _hex,
    "plain": None,
}
# What each driver hands back for each kind, and how to reach the canonical form from it.
_FROM_RAW: dict[str, dict[str, Convert | None]] = {
    "sqlite": {
        "uuid": None,
        "datetime": None,
        "date": None,
        "bool": bool,
        "json": orjson.loads,
        "bytes": _hex,
        "plain": None,
    },
    "postgresql": {
        "uuid": lambda v: v.hex,
        "datetime": _timestamp,
        "date": _date,
        "bool": None,
        "json": None,
        "bytes": _hex,
        "plain": None,
    },
}


def digest(table: str, values: list[Any]) -> bytes:
    return hashlib.sha256(orjson.dumps([table, values], option=orjson.OPT_SORT_KEYS)).digest()


@cache
def _python_plan(table: str) -> tuple[tuple[str, Convert | None], ...]:
    return tuple((key, _FROM_PYTHON[kind]) for key, kind in columns(table))


def from_python(table: str, row: Mapping[str, Any]) -> list[Any]:
    """Canonical values of a row given as the Python values inserted (or an ORM object's attributes)."""
    out = []
    for key, conv in _python_plan(table):
        v = row[key]
        out.append(v if conv is None or v is None else conv(v))
    return out


@cache
def raw_plan(table: str, dialect: str) -> tuple[tuple[int, Convert], ...]:
    """Which raw columns need converting for this driver; an unknown dialect raises (add it above)."""
    table_map = _FROM_RAW[dialect]
    return tuple(
        (i, conv) for i, (_k, kind) in enumerate(columns(table)) if (conv := table_map[kind]) is not None
    )


def from_raw(plan: tuple[tuple[int, Convert], ...], raw: tuple[Any, ...]) -> list[Any]:
    values = list(raw)
    for i, conv in plan:
        v = values[i]
        if v is not None:
            values[i] = conv(v)
    return values
