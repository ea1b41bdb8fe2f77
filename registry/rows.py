"""Complete row dictionaries for Core inserts of audited tables.

Audited rows are inserted with every column value computed in Python (no server defaults), so the digest
written to the audit log is the digest of exactly what the database holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

import registry.models  # noqa: F401  (every table must be known before the first insert)
from registry.db import Base


def complete(table: str | Table, values: dict[str, Any]) -> dict[str, Any]:
    tbl = Base.metadata.tables[table] if isinstance(table, str) else table
    row: dict[str, Any] = {}
    for col in tbl.columns:
        if col.key in values:
            row[col.key] = values[col.key]
        elif col.default is not None and col.default.is_callable:
            row[col.key] = col.default.arg(None)  # type: ignore[attr-defined]
        elif col.default is not None and col.default.is_scalar:
            row[col.key] = col.default.arg  # type: ignore[attr-defined]
        else:
            row[col.key] = None
    return row
