"""Does partitioning `events` (by occurred_at year) or `audit_entries` (by seq range) pay off on PostgreSQL?

    python -m bench.partition --weapons 200000 --traces 3000 --json bench/results/DATE-partition-200000.json
    python -m bench.partition --db iti_bench_explain --reuse --keep ...   # on a database bench.explain kept

The data is bench.explain's (weapons imported with `iti import`, histories of 1–19 events appended in SQL,
optionally trace requests). Next to the plain tables, schema `part` gets partitioned copies of `events` and
`audit_entries` holding the same rows, with the indexes, checks, foreign keys and append-only triggers of the
plain tables as far as PostgreSQL allows them on a partitioned table; what it refuses is recorded with its
error message (`constraints` in the JSON). The migration the registry would need is not written here.
Two more copies of `events` are plain tables: `appended.events` with the plain table's indexes, and
`indexed.events` with one index more, (occurred_at, type): what the registry could do instead of partitioning
for its statistics over a period.

The copies are written in recorded_at order, as a registry's appends lay its rows out on disk (its legacy
stock in one block at go-live, then each day's events). bench.explain writes the histories weapon by weapon,
so in `public.events` a year's events are spread over every page: the "plain" side is that layout, the
"appended" side the same table and indexes in time order, which is the fair baseline for the partitioned one.

Each hot path is the registry's own function, run with `search_path = public` (plain tables), then
`part, public` (the partitioned copies; every other table is shared), then `appended, public` and
`indexed, public` (events paths only), one right after the other so all see the same machine load. Timings
and `EXPLAIN (ANALYZE, BUFFERS)` come from bench.explain's `Bench`. The writes (`record_event`, committed)
use different weapons on each side and run after the reads and the audit verification.

Also measured: a bulk INSERT … SELECT of copies of existing rows (rolled back) on every side; ANALYZE,
VACUUM and VACUUM (FREEZE, DISABLE_PAGE_SKIPPING) of the plain and partitioned tables and of the partition
the day's writes go to; sizes. Load averages are recorded before and after each path, `uptime` at the start
and end. docs/partitioning.md has the results and the decision.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import explain
from bench.explain import Bench, HotPath, log
from bench.fuzzy import pg_drop, pg_recreate, pg_url
from bench.run import code_version

SCHEMA = "part"
# Plain copies of events in time order, without and with one more index (what the registry could do instead).
COPIES = {"appended": None, "indexed": "(occurred_at, type)"}
SIDES = {"plain": "public", "partitioned": f"{SCHEMA}, public", **{c: f"{c}, public" for c in COPIES}}
IN_TIME_ORDER = "ORDER BY recorded_at, id"  # the order a registry's appends write its rows in
EVENT_INDEXES = ("type", "occurred_at", "from_org_id", "to_org_id", "weapon_id")
AUDIT_INDEXES = ("actor", "action", "subject")


# --- building the partitioned copies ------------------------------------------------------------------------


def event_bounds(con: Any, old_before: int) -> list[tuple[str, str, str]]:
    """(name, from, to): one partition for everything before `old_before`, then one a year up to next year,
    as an operator would keep one partition ahead of the clock."""
    first, last = con.execute("SELECT min(occurred_at), max(occurred_at) FROM public.events").fetchone()
    last_year = max(last.year if last else 0, datetime.now(UTC).year) + 1
    start = max(old_before, first.year if first else old_before)
    out = [("events_old", "MINVALUE", f"'{start}-01-01 00:00+00'")]
    for y in range(start, last_year + 1):
        out.append((f"events_{y}", f"'{y}-01-01 00:00+00'", f"'{y + 1}-01-01 00:00+00'"))
    return out


def audit_bounds(con: Any, per_partition: int) -> list[tuple[str, str, str]]:
    """Ranges of `per_partition` sequence numbers, one more than the rows need (the one being written)."""
    top = con.execute("SELECT coalesce(max(seq), -1) + 1 FROM public.audit_entries").fetchone()[0]
    n = top // per_partition + 2
    return [
        (f"audit_entries_{k:04d}", str(k * per_partition), str((k + 1) * per_partition)) for k in range(n)
    ]


def _timed(con: Any, sql: str) -> float:
    t = time.perf_counter()
    con.execute(sql)
    return round(time.perf_counter() - t, 3)


def create_events(con: Any, old_before: int) -> dict[str, Any]:
    bounds = event_bounds(con, old_before)
    con.execute(
        f"CREATE TABLE {SCHEMA}.events (LIKE public.events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        " PARTITION BY RANGE (occurred_at)"
    )
    for name, lo, hi in bounds:
        con.execute(
            f"CREATE TABLE {SCHEMA}.{name} PARTITION OF {SCHEMA}.events FOR VALUES FROM ({lo}) TO ({hi})"
        )
    t: dict[str, float] = {
        "copy_s": _timed(con, f"INSERT INTO {SCHEMA}.events SELECT * FROM public.events {IN_TIME_ORDER}")
    }
    # The partition key joins every unique index (see `constraints`): the nearest to the plain table's.
    t["pk_s"] = _timed(
        con, f"ALTER TABLE {SCHEMA}.events ADD CONSTRAINT pk_events PRIMARY KEY (id, occurred_at)"
    )
    t["unique_s"] = _timed(
        con,
        f"ALTER TABLE {SCHEMA}.events ADD CONSTRAINT uq_events_weapon_id_seq UNIQUE (weapon_id, seq, occurred_at)",
    )
    t["indexes_s"] = round(
        sum(_timed(con, f"CREATE INDEX ix_events_{c} ON {SCHEMA}.events ({c})") for c in EVENT_INDEXES), 3
    )
    t["foreign_keys_s"] = round(sum(_timed(con, sql) for sql in _outgoing_fks(con, "events", SCHEMA)), 3)
    _triggers(con, "events", "'weapon_id'", SCHEMA)
    return {"partitions": len(bounds), "first": bounds[1][0], "last": bounds[-1][0], **t}


def create_audit(con: Any, per_partition: int) -> dict[str, Any]:
    bounds = audit_bounds(con, per_partition)
    con.execute(
        f"CREATE TABLE {SCHEMA}.audit_entries (LIKE public.audit_entries INCLUDING DEFAULTS INCLUDING"
        " CONSTRAINTS) PARTITION BY RANGE (seq)"
    )
    for name, lo, hi in bounds:
        con.execute(
            f"CREATE TABLE {SCHEMA}.{name} PARTITION OF {SCHEMA}.audit_entries FOR VALUES FROM ({lo}) TO ({hi})"
        )
    t = {
        "copy_s": _timed(con, f"INSERT INTO {SCHEMA}.audit_entries SELECT * FROM public.audit_entries"),
        "pk_s": _timed(
            con, f"ALTER TABLE {SCHEMA}.audit_entries ADD CONSTRAINT pk_audit_entries PRIMARY KEY (seq)"
        ),
        "indexes_s": round(
            sum(
                _timed(con, f"CREATE INDEX ix_audit_entries_{c} ON {SCHEMA}.audit_entries ({c})")
                for c in AUDIT_INDEXES
            ),
            3,
        ),
    }
    _triggers(con, "audit_entries", "", SCHEMA)
    return {"partitions": len(bounds), "rows_per_partition": per_partition, **t}


def create_copy(con: Any, schema: str, extra_index: str | None) -> dict[str, Any]:
    """`schema`.events: the plain table (indexes, checks, foreign keys, triggers) in time order, with
    `extra_index` if given; (occurred_at, type) lets a period's counts by type be read from the index alone
    (the pages of an append-only table are all-visible)."""
    con.execute(f"CREATE TABLE {schema}.events (LIKE public.events INCLUDING ALL)")
    t = {"copy_s": _timed(con, f"INSERT INTO {schema}.events SELECT * FROM public.events {IN_TIME_ORDER}")}
    for sql in _outgoing_fks(con, "events", schema):
        con.execute(sql)
    con.execute(
        f"ALTER TABLE {schema}.events ADD FOREIGN KEY (corrects_event_id) REFERENCES {schema}.events (id)"
    )
    if extra_index:
        t["extra_index_s"] = _timed(con, f"CREATE INDEX ix_events_extra ON {schema}.events {extra_index}")
    _triggers(con, "events", "'weapon_id'", schema)
    return {"extra_index": extra_index, **t}


def _outgoing_fks(con: Any, table: str, schema: str) -> list[str]:
    """The plain table's foreign keys to other tables, re-issued on the copy (the self-reference cannot be)."""
    rows = con.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = %s::regclass AND contype = 'f' AND confrelid <> conrelid ORDER BY conname",
        (f"public.{table}",),
    ).fetchall()
    return [
        f"ALTER TABLE {schema}.{table} ADD CONSTRAINT {n} {d.replace('REFERENCES ', 'REFERENCES public.')}"
        for n, d in rows
    ]


def _triggers(con: Any, table: str, arg: str, schema: str) -> None:
    con.execute(
        f"CREATE TRIGGER trg_{table}_append_only BEFORE UPDATE OR DELETE ON {schema}.{table}"
        f" FOR EACH ROW EXECUTE FUNCTION public.iti_append_only({arg})"
    )
    con.execute(
        f"CREATE TRIGGER trg_{table}_no_truncate BEFORE TRUNCATE ON {schema}.{table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION public.iti_append_only()"
    )


def build(con: Any, *, old_before: int, audit_per_partition: int) -> dict[str, Any]:
    for schema in (SCHEMA, *COPIES):
        con.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        con.execute(f"CREATE SCHEMA {schema}")
    out = {
        "events": create_events(con, old_before),
        "audit_entries": create_audit(con, audit_per_partition),
        **{f"{c}_events": create_copy(con, c, extra) for c, extra in COPIES.items()},
    }
    for table in ("events", "audit_entries"):  # every side frozen and analysed, so none starts behind
        out[table]["vacuum_freeze_analyze_s"] = _timed(con, f"VACUUM (FREEZE, ANALYZE) {SCHEMA}.{table}")
        _timed(con, f"VACUUM (FREEZE, ANALYZE) public.{table}")
    for c in COPIES:
        _timed(con, f"VACUUM (FREEZE, ANALYZE) {c}.events")
    return out


# --- what PostgreSQL refuses ----------------------------------------------------------------------------------


@contextmanager
def _savepoint(con: Any) -> Iterator[None]:
    con.execute("SAVEPOINT probe")
    try:
        yield
    finally:
        con.execute("ROLLBACK TO SAVEPOINT probe")


def _attempt(con: Any, what: str, sql: str) -> dict[str, Any]:
    import psycopg

    with _savepoint(con):
        try:
            con.execute(sql)
            return {"attempt": what, "sql": sql, "accepted": True}
        except psycopg.Error as exc:
            return {"attempt": what, "sql": sql, "accepted": False, "error": str(exc).splitlines()[0]}


def constraints(con: Any) -> dict[str, Any]:
    """The plain tables' keys on the partitioned copies, the foreign keys that point at `events`, and whether
    the copy still refuses a second event with a weapon's existing seq."""
    s = SCHEMA
    attempts = [
        _attempt(
            con,
            "events primary key (id), partitioned by occurred_at",
            f"CREATE TABLE {s}.probe (LIKE public.events, PRIMARY KEY (id)) PARTITION BY RANGE (occurred_at)",
        ),
        _attempt(
            con,
            "events unique (weapon_id, seq), partitioned by occurred_at",
            f"CREATE TABLE {s}.probe (LIKE public.events, UNIQUE (weapon_id, seq)) PARTITION BY RANGE (occurred_at)",
        ),
        _attempt(
            con,
            "events.corrects_event_id references events (id)",
            f"ALTER TABLE {s}.events ADD CONSTRAINT x FOREIGN KEY (corrects_event_id) REFERENCES {s}.events (id)",
        ),
        _attempt(
            con,
            "weapon_states.pending_transfer_event_id references the partitioned events (id)",
            "ALTER TABLE public.weapon_states ADD CONSTRAINT x FOREIGN KEY (pending_transfer_event_id)"
            f" REFERENCES {s}.events (id)",
        ),
        _attempt(
            con,
            "audit_entries partitioned by recorded_at, primary key (seq)",
            f"CREATE TABLE {s}.audit_by_time (LIKE public.audit_entries, PRIMARY KEY (seq))"
            " PARTITION BY RANGE (recorded_at)",
        ),
    ]
    fks = con.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE confrelid = 'public.events'::regclass AND contype = 'f' ORDER BY 1, 2"
    ).fetchall()
    return {
        "attempts": attempts,
        "foreign_keys_to_events": [{"table": t, "name": n, "definition": d} for t, n, d in fks],
        "duplicate_seq": duplicate_seq(con),
    }


def copy_select(con: Any, table: str, **exprs: str) -> str:
    """`(columns) SELECT …` copying public.`table`'s rows, with the given columns replaced by expressions."""
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND table_name = %s ORDER BY ordinal_position",
            (table,),
        )
    ]
    return f"({', '.join(cols)}) SELECT {', '.join(exprs.get(c, c) for c in cols)} FROM public.{table}"


def duplicate_seq(con: Any) -> dict[str, Any]:
    """A second event with an existing (weapon_id, seq) but another year's occurred_at, on both sides."""
    row = con.execute("SELECT id FROM public.events WHERE seq = 2 ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return {}
    body = copy_select(con, "events", id="gen_random_uuid()", occurred_at="occurred_at - interval '400 days'")
    return {
        side: _attempt(
            con,
            f"{side}: duplicate (weapon_id, seq) 400 days earlier",
            f"INSERT INTO {side}.events {body} WHERE id = '{row[0]}'",
        )
        for side in ("public", SCHEMA)
    }


# --- checks and sizes ---------------------------------------------------------------------------------------


def same_rows(con: Any) -> dict[str, Any]:
    """Row count and an order-independent sum of row hashes of each table on each side."""

    def digest(table: str) -> tuple[int, Any]:
        sql = f"SELECT count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) FROM {table} t"
        return con.execute(sql).fetchone()

    out: dict[str, Any] = {}
    for table in ("events", "audit_entries"):
        plain, part = digest(f"public.{table}"), digest(f"{SCHEMA}.{table}")
        out[table] = {"rows": plain[0], "partitioned_rows": part[0], "identical": plain == part}
    plain = digest("public.events")
    out["events"]["copies_identical"] = {c: digest(f"{c}.events") == plain for c in COPIES}
    return out


def sizes(con: Any) -> dict[str, Any]:
    def size(table: str) -> dict[str, int]:
        kind = con.execute("SELECT relkind FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]
        leaves = (
            "SELECT relid FROM pg_partition_tree(%(t)s::regclass) WHERE isleaf"
            if kind == "p"
            else "SELECT %(t)s::regclass AS relid"
        )
        heap, total, rows = con.execute(
            "SELECT sum(pg_table_size(relid)), sum(pg_total_relation_size(relid)),"
            f" sum((SELECT reltuples FROM pg_class WHERE oid = relid)) FROM ({leaves}) l",
            {"t": table},
        ).fetchone()
        return {
            "table_bytes": int(heap),
            "indexes_bytes": int(total - heap),
            "total_bytes": int(total),
            "bytes_per_row": round(int(total) / max(float(rows), 1)),
        }

    out = {
        t: {"plain": size(f"public.{t}"), "partitioned": size(f"{SCHEMA}.{t}")}
        for t in ("events", "audit_entries")
    }
    out["events"] |= {c: size(f"{c}.events") for c in COPIES}
    return out


# --- maintenance and bulk writes ------------------------------------------------------------------------------


def newest_partition(con: Any, table: str) -> str:
    """The leaf the daily writes go to: for events this year's, for the audit log the one holding max(seq)."""
    if table == "events":
        return f"{SCHEMA}.events_{datetime.now(UTC).year}"
    top = con.execute(f"SELECT max(seq) FROM {SCHEMA}.audit_entries").fetchone()[0] or 0
    return con.execute(
        f"SELECT tableoid::regclass::text FROM {SCHEMA}.audit_entries WHERE seq = %s", (top,)
    ).fetchone()[0]


_PAGES = re.compile(r"pages: \d+ removed, (\d+) remain, (\d+) scanned")


def _vacuum(con: Any, options: str, target: str) -> dict[str, Any]:
    """VACUUM (VERBOSE, …): its time, and the heap pages it read of those the table (or its leaves) has."""
    notes: list[str] = []

    def note(d: Any) -> None:
        notes.append(d.message_primary or "")

    con.add_notice_handler(note)
    try:
        secs = _timed(con, f"VACUUM (VERBOSE{options}) {target}")
    finally:
        con.remove_notice_handler(note)
    pages = [tuple(map(int, m.groups())) for n in notes for m in _PAGES.finditer(n)]
    return {"s": secs, "pages": sum(p[0] for p in pages), "pages_scanned": sum(p[1] for p in pages)}


def maintenance(con: Any) -> dict[str, Any]:
    """ANALYZE, a plain VACUUM (the visibility map lets it skip the all-visible pages of an append-only table)
    and VACUUM (FREEZE, DISABLE_PAGE_SKIPPING), which reads every page: the upper bound of an anti-wraparound
    vacuum. On the plain table, the partitioned one, and the partition the day's writes go to."""
    out: dict[str, Any] = {}
    for table in ("events", "audit_entries"):
        leaf = newest_partition(con, table)
        row: dict[str, Any] = {}
        for label, target in (
            ("plain", f"public.{table}"),
            ("partitioned", f"{SCHEMA}.{table}"),
            ("newest_partition", leaf),
        ):
            row[label] = {
                "analyze_s": _timed(con, f"ANALYZE {target}"),
                "vacuum": _vacuum(con, "", target),
                "vacuum_freeze_every_page": _vacuum(con, ", FREEZE, DISABLE_PAGE_SKIPPING", target),
            }
        row["newest_partition"]["name"] = leaf
        out[table] = row
    return out


def bulk_insert(con: Any, n: int) -> dict[str, Any]:
    """INSERT … SELECT of `n` copies of existing rows (new ids, later seqs, the original occurred_at so the
    copies spread over the partitions as an import of old records would), each in a rolled-back transaction."""
    top = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM public.audit_entries").fetchone()[0] + 10_000_000
    ev = copy_select(con, "events", id="gen_random_uuid()", seq="seq + 1000", corrects_event_id="NULL")
    au = copy_select(con, "audit_entries", seq=f"seq + {top}")
    out: dict[str, Any] = {}
    for side, schema in (("plain", "public"), ("partitioned", SCHEMA), *((c, c) for c in COPIES)):
        row = {}
        for table, body in (
            ("events", f"{ev} ORDER BY weapon_id, seq"),
            ("audit_entries", f"{au} ORDER BY seq"),
        ):
            if side in COPIES and table != "events":
                continue
            with con.transaction(force_rollback=True):
                if side == "partitioned" and table == "audit_entries":  # the copies' seqs need a partition
                    con.execute(
                        f"CREATE TABLE {SCHEMA}.audit_bulk PARTITION OF {SCHEMA}.audit_entries"
                        f" FOR VALUES FROM ({top}) TO ({top + n})"
                    )
                t = time.perf_counter()
                done = con.execute(f"INSERT INTO {schema}.{table} {body} LIMIT {n}").rowcount
                secs = time.perf_counter() - t
            row[table] = {"rows": done, "s": round(secs, 3), "rows_per_s": round(done / secs)}
        out[side] = row
    return out


# --- hot paths --------------------------------------------------------------------------------------------------


class SideBench(Bench):
    """bench.explain's Bench with the tables of one side first on the search path."""

    def __init__(self, dbname: str, search_path: str) -> None:
        super().__init__(dbname)
        from sqlalchemy import event

        @event.listens_for(self.engine, "connect")
        def _path(dbapi: Any, _rec: Any) -> None:
            with dbapi.cursor() as cur:
                cur.execute(f"SET search_path = {search_path}")
            dbapi.commit()  # outside any transaction the pool would roll back


def samples(con: Any, n: int) -> dict[str, Any]:
    """Weapons, event ids, audit subjects and seqs, chosen by hash, not by time."""
    weapons = con.execute(
        "SELECT id FROM weapons ORDER BY md5(id::text) LIMIT %s",
        (n,),
    ).fetchall()
    events = [r[0] for r in con.execute("SELECT id FROM events ORDER BY md5(id::text) LIMIT %s", (n,))]
    subjects = [
        r[0]
        for r in con.execute(
            "SELECT subject FROM (SELECT DISTINCT subject FROM audit_entries WHERE subject IS NOT NULL) s"
            " ORDER BY md5(subject) LIMIT %s",
            (n,),
        )
    ]
    top = con.execute("SELECT coalesce(max(seq), 0) FROM audit_entries").fetchone()[0]
    rng = random.Random(5)
    # Weapons a `stolen` event may be recorded on, apart for each side (an earlier run's writes used some).
    active = [
        r[0]
        for r in con.execute(
            "SELECT weapon_id FROM weapon_states WHERE status = 'active' ORDER BY md5(weapon_id::text) LIMIT %s",
            (n * len(SIDES),),
        )
    ]
    return {
        "weapons": [w[0] for w in weapons],
        "active": {side: active[k :: len(SIDES)] for k, side in enumerate(SIDES)},
        "events": events,
        "subjects": subjects or [None],
        "seqs": [rng.randint(0, top) for _ in range(n)],
    }


Call = Callable[[Any, int, str], object]  # (session, call number, side)
AUDIT_SIDES = ("plain", "partitioned")  # the copies of events share the plain audit_entries


def hot_paths(smp: dict[str, Any], calls: int) -> list[tuple[HotPath, Call, tuple[str, ...]]]:
    from registry.audit import checker
    from registry.audit import repository as audit_repo
    from registry.history import service as history
    from registry.history.inputs import EventInput
    from registry.profiles import ITI
    from registry.weapons import repository as weapons
    from reports import repository as reports_repo
    from tracing.requests import stats

    year = datetime.now(UTC).year - 1
    y0, y1 = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = datetime(year, 6, 1, tzinfo=UTC)
    five = datetime(year - 4, 1, 1, tzinfo=UTC)

    def pick(key: str) -> Callable[[int], Any]:
        return lambda i: smp[key][i % len(smp[key])]

    w, ev, subj, seq = pick("weapons"), pick("events"), pick("subjects"), pick("seqs")

    def record(s: Any, i: int, side: str) -> object:
        ids = smp["active"][side]
        return history.record_event(
            s, actor="bench", weapon_id=ids[i % len(ids)], profile=ITI, home_country=explain.HOME,
            event=EventInput(type="stolen", location="Nairobi", notes="bench"),
        )  # fmt: skip

    def stream_all(s: Any) -> int:
        return sum(1 for _ in audit_repo.stream_entries(s))

    def p(name: str, fn: Call, **kw: Any) -> tuple[HotPath, Call, tuple[str, ...]]:
        sides = AUDIT_SIDES if name.startswith("audit") else tuple(SIDES)
        return HotPath(name, lambda s, i: None, **kw), fn, sides

    writes = min(calls, *(len(ids) for ids in smp["active"].values()))
    return [
        p("weapon timeline (history.history)", lambda s, i, _: history.history(s, w(i)), calls=calls),
        p("event by id (get_event)", lambda s, i, _: weapons.get_event(s, ev(i)), calls=calls),
        p("dashboard: recent events", lambda s, i, _: weapons.recent_events(s, limit=10), calls=calls),
        p(
            f"events by type, {year}",
            lambda s, i, _: reports_repo.events_by_type(s, since=y0, until=y1),
            calls=50,
        ),
        p(
            f"events by type, June {year}",
            lambda s, i, _: reports_repo.events_by_type(s, since=month, until=month + timedelta(days=30)),
            calls=100,
        ),
        p(
            f"events by type, {year - 4}–{year}",
            lambda s, i, _: reports_repo.events_by_type(s, since=five, until=y1),
            calls=20,
        ),
        p(f"SDG 16.4.2 ({year})", lambda s, i, _: stats.sdg_16_4_2(s, year=year), calls=10, budget_s=30),
        p(
            "recovery years (national report)",
            lambda s, i, _: reports_repo.recovery_years(s, ("found", "seized", "surrendered")),
            calls=20,
        ),
        p(
            "audit: entries for a subject",
            lambda s, i, _: audit_repo.entries_for_subject(s, subj(i)),
            calls=calls,
        ),
        p("audit: entry by seq", lambda s, i, _: audit_repo.get_entry(s, seq(i)), calls=calls),
        p("audit: entry count", lambda s, i, _: audit_repo.entry_count(s), calls=20),
        p("audit: stream every entry in seq order", lambda s, i, _: stream_all(s), calls=5, budget_s=60),
        p(
            "audit: verify (checker.verify, records not checked)",
            lambda s, i, _: checker.verify(s, check_records=False),
            calls=3,
            budget_s=90,
        ),
        p("record an event (record_event, commit)", record, write=True, calls=writes),
    ]


@contextmanager
def audit_log_kept(db: str, keep: bool) -> Iterator[None]:
    """The partitioned side's writes advance the one `audit_log_state` both audit tables share; put it back
    afterwards, so the plain log has no gap where those entries went to the copy (a rerun with --reuse
    verifies the whole plain log)."""
    if not keep:
        yield
        return
    import psycopg

    with psycopg.connect(pg_url(db), autocommit=True) as con:
        state = con.execute("SELECT next_seq, frontier FROM audit_log_state WHERE id = 1").fetchone()
        yield
        con.execute("UPDATE audit_log_state SET next_seq = %s, frontier = %s WHERE id = 1", state)


def measure(db: str, smp: dict[str, Any], calls: int, only: str | None) -> list[dict[str, Any]]:
    benches = {side: SideBench(db, path) for side, path in SIDES.items()}
    out = []
    for spec, fn, sides in hot_paths(smp, calls):
        if only and only not in spec.name:
            continue
        row: dict[str, Any] = {"path": spec.name, "loadavg_before": os.getloadavg()}
        for side in sides:
            b = benches[side]
            hp = HotPath(
                spec.name, lambda s, i, f=fn, sd=side: f(s, i, sd), spec.write, spec.calls, spec.budget_s
            )
            plans = [] if spec.write else b.explain(hp, 10_000)  # the write paths are timed, not explained
            with audit_log_kept(db, side in AUDIT_SIDES[1:] and spec.write):
                timing = b.time(hp)
            log(
                f"{spec.name} [{side}]: p50 {timing['p50_ms']} ms, p99 {timing['p99_ms']} ms ({timing['calls']})"
            )
            row[side] = {**timing, "statements": plans}
        row["ratio_p50"] = {x: round(row[x]["p50_ms"] / row["plain"]["p50_ms"], 2) for x in sides[1:]}
        row["loadavg_after"] = os.getloadavg()
        out.append(row)
    for b in benches.values():
        b.engine.dispose()
    return out


# --- output -----------------------------------------------------------------------------------------------------


def render(r: dict[str, Any]) -> str:
    """The paths as a Markdown table (p50 / p99 ms, and p50 as a ratio to the plain table's), then the rest."""
    head = " | ".join(f"{side} p50 / p99 ms" for side in SIDES)
    lines = [
        f"| Path | {head} | p50 ratio to plain: {', '.join(list(SIDES)[1:])} | calls | load 1 min before → after |",
        "|---|" + "---:|" * (len(SIDES) + 2) + "---|",
    ]
    for p in r["paths"]:
        cells = " | ".join(f"{p[x]['p50_ms']} / {p[x]['p99_ms']}" if x in p else "–" for x in SIDES)
        ratios = ", ".join(str(v) for v in p["ratio_p50"].values())
        load = f"{p['loadavg_before'][0]:.2f} → {p['loadavg_after'][0]:.2f}"
        lines.append(f"| {p['path']} | {cells} | {ratios} | {p['plain']['calls']} | {load} |")
    lines += [
        "",
        "```json",
        json.dumps({k: r[k] for k in ("sizes", "maintenance", "bulk_insert")}, indent=1),
        "```",
    ]
    return "\n".join(lines)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def load(db: str, weapons: int, traces: int, work: Path) -> dict[str, Any]:
    import psycopg

    explain.DB = db  # bench.explain's loaders name the database through this global
    var_dir = work / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(explain.env(var_dir))
    data = explain.load_weapons(weapons, work, var_dir)
    b = Bench(db)
    explain.add_organisations(b.sessions, n=min(200, max(5, weapons // 100)))
    with psycopg.connect(pg_url(db), autocommit=True) as con:
        data |= explain.add_history(con)
    if traces:
        explain.setup_node(b.sessions, var_dir)
        data |= explain.add_traces(b.sessions, traces, traces // 6, explain.samples_of(b.sessions, 500))
    with psycopg.connect(pg_url(db), autocommit=True) as con:
        con.execute("VACUUM ANALYZE")
    b.engine.dispose()
    return data


def run(a: argparse.Namespace) -> dict[str, Any]:
    import psycopg

    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "label": a.label,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "uptime_at_start": uptime()},
        "data": {},
    }
    if not a.reuse:
        pg_recreate(a.db)
        results["data"] = load(
            a.db, a.weapons, a.traces, Path(a.workdir or tempfile.mkdtemp(prefix="iti-part-"))
        )
    with psycopg.connect(pg_url(a.db), autocommit=True) as con:
        log("building the partitioned copies")
        results["build"] = build(con, old_before=a.old_before, audit_per_partition=a.audit_per_partition)
        results["same_rows"] = same_rows(con)
        with con.transaction(force_rollback=True):
            results["constraints"] = constraints(con)
        results["rows"] = {
            t: con.execute(f"SELECT count(*) FROM public.{t}").fetchone()[0]
            for t in ("weapons", "events", "audit_entries", "trace_requests")
        }
        results["postgres"] = {
            k: con.execute(f"SHOW {k}").fetchone()[0]
            for k in (
                "server_version",
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "enable_partition_pruning",
            )
        }
        results["sizes"] = sizes(con)
        smp = samples(con, a.calls)
    log("measuring the hot paths")
    results["paths"] = measure(a.db, smp, a.calls, a.only)
    with psycopg.connect(pg_url(a.db), autocommit=True) as con:
        log("maintenance")  # before the bulk inserts, whose rolled-back rows would give VACUUM work
        results["maintenance"] = maintenance(con)
        log("bulk insert")
        results["bulk_insert"] = bulk_insert(con, a.bulk)
    results["machine"]["uptime_at_end"] = uptime()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default="iti_bench_partition", help="the database, named iti_bench_*")
    ap.add_argument("--weapons", type=int, default=200_000)
    ap.add_argument(
        "--traces", type=int, default=0, help="outgoing trace requests to add (and a sixth incoming)"
    )
    ap.add_argument("--reuse", action="store_true", help="partition the existing database (do not load)")
    ap.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    ap.add_argument(
        "--old-before", type=int, default=2000, help="events before this year share one partition"
    )
    ap.add_argument(
        "--audit-per-partition", type=int, default=50_000, help="audit sequence numbers a partition"
    )
    ap.add_argument("--calls", type=int, default=300, help="calls of each light path (the heavy ones fewer)")
    ap.add_argument("--bulk", type=int, default=100_000, help="rows of the rolled-back bulk insert")
    ap.add_argument("--only", help="measure only the paths whose name contains this")
    ap.add_argument("--label", default="")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args(argv)
    if not a.db.startswith("iti_bench_"):
        raise SystemExit("the benchmark only uses databases named iti_bench_*")
    try:
        results = run(a)
    finally:
        if not a.keep:
            pg_drop(a.db)
    text = json.dumps(results, indent=1, default=str, ensure_ascii=False)
    if a.json:
        a.json.write_text(text + "\n", encoding="utf-8")
    if a.md:
        a.md.write_text(render(results) + "\n", encoding="utf-8")
    log("done")
    return results


if __name__ == "__main__":
    main()
