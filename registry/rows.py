"""Complete row dictionaries for audited tables, and a fast executemany for bulk writes.

Audited rows are inserted with every column value computed in Python (no server defaults), so the digest
written to the audit log is the digest of exactly what the database holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

import registry.models  # noqa: F401  (every table must be known before the first insert)
from registry.db import Base

_MISSING = object()


@cache
def _plan(table: str) -> tuple[tuple[str, Callable[[], Any] | None, Any], ...]:
    """Per column: its key, a default factory (or None) and a scalar default (or _MISSING)."""
    out = []
    for col in Base.metadata.tables[table].columns:
        factory, scalar = None, _MISSING
        if col.default is not None and col.default.is_callable:
            fn = col.default.arg  # type: ignore[attr-defined]
            factory = lambda fn=fn: fn(None)  # noqa: E731 - bind the loop variable
        elif col.default is not None and col.default.is_scalar:
            scalar = col.default.arg  # type: ignore[attr-defined]
        out.append((col.key, factory, scalar))
    return tuple(out)


def complete(table: str | Table, values: dict[str, Any]) -> dict[str, Any]:
    name = table if isinstance(table, str) else table.name
    row: dict[str, Any] = {}
    for key, factory, scalar in _plan(name):
        if key in values:
            row[key] = values[key]
        elif factory is not None:
            row[key] = factory()
        else:
            row[key] = None if scalar is _MISSING else scalar
    return row


def bulk_insert(session: Session, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT many complete rows with one DBAPI executemany.

    The values go through each column type's own bind processor (the same conversion SQLAlchemy applies), but
    without building a parameter dictionary per row: for a million-row import this is most of the overhead.
    """
    if not rows:
        return
    conn = session.connection()
    sql, getter, procs = _insert_plan(table, conn.dialect)
    params = []
    for r in rows:
        values = list(getter(r))
        for i, proc in procs:
            values[i] = proc(values[i])
        params.append(tuple(values))
    conn.exec_driver_sql(sql, params)


@cache
def _insert_plan(
    table: str, dialect: Any
) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]], list[Any]]:
    cols = list(Base.metadata.tables[table].columns)
    procs = [(i, p) for i, c in enumerate(cols) if (p := c.type._cached_bind_processor(dialect)) is not None]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c.name) for c in cols)
    sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({', '.join([mark] * len(cols))})"
    return sql, itemgetter(*[c.key for c in cols]), procs
