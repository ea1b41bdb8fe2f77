"""The manifest of a backup: what the archive holds, computed from the same snapshot as the dump.

It travels inside the encrypted archive, so it is authenticated with it. A restore compares the restored
database with it (rows per table, audit tree size and root) before running the full audit verification.
"""

from __future__ import annotations

import platform
import sqlite3
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from registry.audit import merkle

FORMAT = "iti-registry/backup/v1"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def table_counts(conn: Connection) -> dict[str, int]:
    """Rows in every table of the database (including alembic_version), by name."""
    names = sorted(inspect(conn).get_table_names())
    prep = conn.dialect.identifier_preparer
    return {
        name: int(conn.execute(text(f"SELECT count(*) FROM {prep.quote(name)}")).scalar_one())
        for name in names
    }


def audit_state(conn: Connection) -> dict[str, Any]:
    """The audit log's size and Merkle root as stored (O(log n): from the frontier), and the latest head."""
    if "audit_log_state" not in inspect(conn).get_table_names():
        return {"tree_size": 0, "root": merkle.EMPTY_ROOT.hex(), "latest_head": None}
    row = conn.execute(text("SELECT next_seq, frontier FROM audit_log_state WHERE id = 1")).first()
    size, frontier = (int(row[0]), bytes(row[1] or b"")) if row else (0, b"")
    acc = merkle.MerkleAccumulator.restore(size, frontier)
    head = conn.execute(
        text("SELECT id, tree_size, root_hash, key_id FROM audit_tree_heads ORDER BY id DESC LIMIT 1")
    ).first()
    latest = (
        None
        if head is None
        else {"id": int(head[0]), "tree_size": int(head[1]), "root": bytes(head[2]).hex(), "key_id": head[3]}
    )
    return {"tree_size": acc.size, "root": acc.root().hex(), "latest_head": latest}


def build(
    conn: Connection, *, backend: str, payload: dict[str, Any], tools: dict[str, Any]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(),
        "backend": backend,
        "schema_revision": MigrationContext.configure(conn).get_current_revision(),
        "tables": table_counts(conn),
        "audit": audit_state(conn),
        "payload": payload,
        "tools": {
            "iti-registry": _version("iti-registry"),
            "python": platform.python_version(),
            "sqlalchemy": _version("sqlalchemy"),
            "cryptography": _version("cryptography"),
            "sqlite": sqlite3.sqlite_version,
            **tools,
        },
    }


def is_empty(conn: Connection) -> bool:
    """No tables, or only the schema and the shipped reference data (no audit entry but their seeding).

    Every registry write is audited, so an audit log holding nothing else means no record would be lost.
    """
    tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
    if not tables:
        return True
    if "audit_entries" not in tables:
        return False
    other = conn.execute(text("SELECT count(*) FROM audit_entries WHERE action <> 'reference.seeded'"))
    return int(other.scalar_one()) == 0
