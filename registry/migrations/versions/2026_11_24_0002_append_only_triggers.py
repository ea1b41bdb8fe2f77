"""Append-only triggers on history, markings, weapons and the audit log; seed the audit log state row.

History rows are never UPDATEd or DELETEd (REQ-19, REQ-23). The domain layer never tries; these triggers
stop anything else that does (a script, a careless SQL session). A DELETE passes only for a weapon named in
`purge_permits`, which `iti records purge` writes inside its own transaction after checking retention.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> column naming the weapon a purge may remove it for (None: never deletable)
APPEND_ONLY: dict[str, str | None] = {
    "weapons": "id",
    "markings": "weapon_id",
    "events": "weapon_id",
    "components": None,
    "audit_entries": None,
    "audit_tree_heads": None,
    "audit_keys": None,
}


def _sqlite_triggers(table: str, weapon_col: str | None) -> list[str]:
    msg = f"append-only: {table} rows are never changed; record a new event instead"
    permit = (
        f" WHEN NOT EXISTS (SELECT 1 FROM purge_permits WHERE weapon_id = OLD.{weapon_col})"
        if weapon_col
        else ""
    )
    return [
        f"CREATE TRIGGER trg_{table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{msg}'); END",
        f"CREATE TRIGGER trg_{table}_no_delete BEFORE DELETE ON {table}{permit} "
        f"BEGIN SELECT RAISE(ABORT, '{msg}'); END",
    ]


PG_FUNCTION = """
CREATE OR REPLACE FUNCTION iti_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_NARGS > 0 AND EXISTS (
        SELECT 1 FROM purge_permits WHERE weapon_id = (to_jsonb(OLD) ->> TG_ARGV[0])::uuid
    ) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'append-only: % rows are never changed; record a new event instead', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""


def _pg_triggers(table: str, weapon_col: str | None) -> list[str]:
    arg = f"'{weapon_col}'" if weapon_col else ""
    return [
        f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION iti_append_only({arg})",
        f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION iti_append_only()",
    ]


def upgrade() -> None:
    op.execute(
        sa.text("INSERT INTO audit_log_state (id, next_seq, frontier) VALUES (1, 0, :f)").bindparams(f=b"")
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
    for table, col in APPEND_ONLY.items():
        for stmt in _pg_triggers(table, col) if dialect == "postgresql" else _sqlite_triggers(table, col):
            op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_truncate ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_no_delete")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS iti_append_only()")
    op.execute("DELETE FROM audit_log_state")
