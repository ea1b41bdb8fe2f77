"""Every foreign key into a table the retention purge deletes from is indexed, and the database uses that
index for the check it makes per deleted row (migration 0015). Without it, purging one weapon read the
whole `events` table once per event and per mark: hours for a day's purge in a national registry.

The check is `SELECT 1 FROM child WHERE fk = $1`: a parameter, so a partial index `WHERE fk IS NOT NULL`
must still be usable for it (both planners prove `fk = $1` implies `fk IS NOT NULL`). Asked here of each
planner with sequential scans priced out, on the migrated test databases.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, ForeignKey, text

from registry.db import Base

# What `registry.retention.service._purge_one` deletes from.
PURGED = {"component_moves", "events", "markings", "weapons", "weapon_states", "purge_permits"}


def _references() -> list[ForeignKey]:
    return [
        fk
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name in PURGED
    ]


def test_every_reference_into_purged_rows_is_known() -> None:
    names = {f"{fk.parent.table.name}.{fk.parent.name}" for fk in _references()}
    # The ones migration 0015 indexed are among them (a rename here must not silently drop the guard).
    assert {
        "events.corrects_event_id",
        "events.marking_id",
        "weapon_states.pending_transfer_event_id",
        "component_moves.event_id",
    } <= names


def _plan(engine: Engine, table: str, column: str) -> str:
    probe = str(uuid.uuid4())
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
            conn.execute(text(f"PREPARE fk_check(uuid) AS SELECT 1 FROM {table} WHERE {column} = $1"))
            rows = conn.execute(text(f"EXPLAIN EXECUTE fk_check('{probe}')")).scalars().all()
            conn.execute(text("DEALLOCATE fk_check"))
            conn.rollback()
            return "\n".join(rows)
        rows = conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN SELECT 1 FROM {table} WHERE {column} = ?", (probe.replace("-", ""),)
        ).all()
        return "\n".join(str(r[-1]) for r in rows)


def test_the_check_for_each_deleted_row_reads_an_index(engine: Engine) -> None:
    scans = {}
    for fk in _references():
        table, column = fk.parent.table.name, fk.parent.name
        plan = _plan(engine, table, column)
        if "Seq Scan" in plan or "SCAN " in plan:
            scans[f"{table}.{column}"] = plan
    assert scans == {}
