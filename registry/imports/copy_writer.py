"""The PostgreSQL write path of imports: each checked batch streamed with `COPY ... FROM STDIN`.

`service.import_file` checks records and finds duplicates exactly as on any database; only the writing of a
clean batch changes. The rows are the ones `weapons.prepare` built (same ids, same values), converted by each
column's own bind processor (as `registry.rows.bulk_insert` does) and sent with psycopg 3's `cursor.copy()`
on the session's own connection, so they belong to the import's single transaction: a refused or interrupted
import still commits nothing. The audit entries are built by `audit.record_many` itself (same canonical
body, same leaf hash, same Merkle frontier, under the same log lock) and copied too.

The matcher's skeleton triggers (`trg_weapons_skeleton`, `trg_markings_skeleton`, migration 0008) would fire
on COPY as on INSERT, but they cost about half of the import's time on the server (each row runs a SQL
function that PostgreSQL plans afresh; docs/performance.md, "Bulk import on PostgreSQL (COPY)"). So while
its own COPYs run, a batch turns those two triggers off and writes the rows they would have written, computed
by `tracing.matching.skeleton` (the function the triggers are proven equal to), then turns them on again.
`ALTER TABLE ... DISABLE TRIGGER` is transactional and takes a SHARE ROW EXCLUSIVE lock on `weapons` and
`markings` until the import commits: readers go on, other writers wait — as they already do for the audit
log's lock, which the import holds from its first batch. Only the table owner may do this: a connection that
does not own the tables keeps the triggers (same rows, slower). The foreign-key checks always run.

Chosen automatically on PostgreSQL; `ITI_IMPORT_COPY=off` keeps the `executemany` path, `ITI_IMPORT_COPY=triggers`
copies but leaves the skeleton triggers to fill `serial_skeletons` (docs/operations.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

import registry.models  # noqa: F401  (every table must be known before the first copy)
from registry.audit import service as audit
from registry.audit.service import PendingEntry
from registry.db import Base
from registry.rows import complete
from registry.weapons.service import PreparedWeapon
from tracing.matching.skeleton import reversed_tail, skeleton

ENV = "ITI_IMPORT_COPY"
_OFF = ("off", "0", "false", "no")


def _setting() -> str:
    return os.environ.get(ENV, "auto").strip().lower()


def enabled(session: Session) -> bool:
    """COPY on PostgreSQL unless `ITI_IMPORT_COPY` is off; never on other databases (SQLite has no COPY)."""
    if _setting() in _OFF:
        return False
    return session.connection().dialect.name == "postgresql"


@cache
def _plan(table: str, dialect: Any) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]], list[Any]]:
    cols = list(Base.metadata.tables[table].columns)
    procs = [(i, p) for i, c in enumerate(cols) if (p := c.type._cached_bind_processor(dialect)) is not None]
    quote = dialect.identifier_preparer.quote
    sql = f"COPY {quote(table)} ({', '.join(quote(c.name) for c in cols)}) FROM STDIN"
    return sql, itemgetter(*[c.key for c in cols]), procs


def copy_rows(session: Session, table: str, rows: Sequence[dict[str, Any]]) -> None:
    """COPY complete rows into `table` inside the session's transaction."""
    if not rows:
        return
    conn = session.connection()
    sql, getter, procs = _plan(table, conn.dialect)
    driver = conn.connection.driver_connection  # the psycopg connection of this very transaction
    with driver.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
        for r in rows:
            values = list(getter(r))
            for i, proc in procs:
                values[i] = proc(values[i])
            copy.write_row(values)


def record_many(session: Session, entries: Sequence[PendingEntry]) -> None:
    """`registry.audit.service.record_many` with the entries copied instead of inserted: the same lock, the
    same sequence numbers, canonical bodies, leaf hashes and frontier (`iti audit verify` checks them)."""
    audit.record_many(session, entries, write=lambda s, rows: copy_rows(s, "audit_entries", rows))


def _skeleton_row(source_id: Any, source: str, weapon_id: Any, key: str) -> dict[str, Any]:
    s = skeleton(key)
    return {
        "source_id": source_id,
        "source": source,
        "weapon_id": weapon_id,
        "key": key,
        "skel_len": len(key),
        "skeleton": s,
        "skeleton_rev": reversed_tail(s),
    }


def skeleton_rows(p: PreparedWeapon) -> list[dict[str, Any]]:
    """The `serial_skeletons` rows the two triggers write for one new weapon and its marks, in their order:
    the weapon's serial, replaced by a mark carrying the same serial; each mark's serial and, when it
    differs, its whole text."""
    w = p.weapon
    rows: dict[tuple[Any, str], dict[str, Any]] = {}
    if w["serial_key"]:
        rows[(w["id"], "weapon_serial")] = _skeleton_row(w["id"], "weapon_serial", w["id"], w["serial_key"])
    for m in p.markings:
        if m["serial"]:
            weapon_row = rows.get((m["weapon_id"], "weapon_serial"))
            if weapon_row is not None and weapon_row["key"] == m["serial"]:
                del rows[(m["weapon_id"], "weapon_serial")]
            rows[(m["id"], "mark_serial")] = _skeleton_row(
                m["id"], "mark_serial", m["weapon_id"], m["serial"]
            )
        if m["text_key"] and m["text_key"] != m["serial"]:
            rows[(m["id"], "mark_text")] = _skeleton_row(m["id"], "mark_text", m["weapon_id"], m["text_key"])
    return list(rows.values())


_TRIGGERS = (("weapons", "trg_weapons_skeleton"), ("markings", "trg_markings_skeleton"))


def _may_switch_triggers(session: Session) -> bool:
    """Whether this connection owns both tables (only an owner may disable a trigger)."""
    owned = session.connection().exec_driver_sql(
        "SELECT count(*) FROM pg_class WHERE oid IN ('weapons'::regclass, 'markings'::regclass) "
        "AND pg_has_role(relowner, 'USAGE')"
    )
    return owned.scalar_one() == 2


def _switch_triggers(session: Session, *, on: bool) -> None:
    conn = session.connection()
    for table, trigger in _TRIGGERS:
        conn.exec_driver_sql(f"ALTER TABLE {table} {'ENABLE' if on else 'DISABLE'} TRIGGER {trigger}")


def write_batch(session: Session, batch: Sequence[PreparedWeapon], entries: Sequence[PendingEntry]) -> None:
    """`weapons.write_prepared` + `audit.record_many` for one batch, by COPY. Weapons first: every foreign key
    refers to them."""
    own_skeletons = _setting() != "triggers" and _may_switch_triggers(session)
    if own_skeletons:
        _switch_triggers(session, on=False)
    copy_rows(session, "weapons", [p.weapon for p in batch])
    copy_rows(session, "markings", [m for p in batch for m in p.markings])
    if own_skeletons:
        copy_rows(session, "serial_skeletons", [r for p in batch for r in skeleton_rows(p)])
        _switch_triggers(session, on=True)
    copy_rows(session, "events", [p.event for p in batch])
    copy_rows(session, "weapon_states", [complete("weapon_states", p.state) for p in batch])
    record_many(session, entries)
