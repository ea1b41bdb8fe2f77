#!/usr/bin/env python3
"""Measure, on PostgreSQL, the unit figures docs/scaling.md's capacity model is built from.

    .venv/bin/python scripts/measure_capacity.py --weapons 4000 \\
        --out bench/results/2026-11-24-capacity-postgres.json

On a throw-away primary with a streaming standby (made like the replica tests make theirs, but with fsync
and full-page writes ON, as in production), it registers N weapons through the registry's services, each
with 5 events in 5 separate transactions (imported, stolen, seized, stolen, seized: every transaction
audited), and measures:

- bytes on disk per weapon, per table and in total (`pg_total_relation_size`, after VACUUM), net of the
  empty migrated database;
- WAL bytes per weapon (what replication ships and WAL archiving stores);
- committed write transactions per second, one writer (each event = one officer action);
- exact look-up latency (`find_by_mark`) on the primary and on the standby, p50/p99;
- `pg_basebackup` throughput, `pg_dump -Fc` / `pg_restore` times and sizes.

Run from the repository root (it reuses tests/registry/replicas/cluster.py to make the servers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from registry import migrate
from registry.db import make_engine
from registry.history import service as history
from registry.history.inputs import EventInput
from registry.profiles import ITI
from registry.reference.service import load_catalogue, seed_reference_data
from registry.weapons import service as weapons
from tests.factories import register_weapon, unique_serial
from tests.registry.replicas.cluster import Pair, add_standby, make_pair, pg_bin, run

TABLES_SQL = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""
LATER_EVENTS = (
    EventInput(type="stolen", location="Nairobi"),
    EventInput(type="seized", location="Mombasa", data={"criminal_offence": True}),
    EventInput(type="stolen", location="Kisumu"),
    EventInput(type="seized", location="Eldoret", data={"criminal_offence": False}),
)


def say(message: str) -> None:
    print(message, flush=True)  # noqa: T201 - a measuring script reports as it goes


def sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        conn.exec_driver_sql("COMMIT")
        return {name: int(size) for name, size in conn.exec_driver_sql(TABLES_SQL)}


def vacuum(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")


def wal_lsn(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")).scalar_one())


def load(engine: Engine, n: int) -> tuple[list[str], float, int]:
    """N weapons with 5 events each, one transaction per event; returns serials, seconds, transactions."""
    serials: list[str] = []
    transactions = 0
    with Session(engine) as s:
        catalogue = load_catalogue(s)
    started = time.perf_counter()
    for i in range(n):
        serial = unique_serial("C")
        with Session(engine, expire_on_commit=False) as s, s.begin():
            reg = register_weapon(s, serial=serial)
        transactions += 1
        for ev in LATER_EVENTS:
            with Session(engine) as s, s.begin():
                history.record_event(
                    s,
                    actor="officer-capacity",
                    weapon_id=reg.weapon.id,
                    event=EventInput(type=ev.type, location=ev.location, data=dict(ev.data)),
                    profile=ITI,
                    catalogue=catalogue,
                    home_country="KE",
                )
            transactions += 1
        serials.append(serial)
        if (i + 1) % 500 == 0:
            say(f"  {i + 1} weapons, {transactions / (time.perf_counter() - started):.0f} transactions/s")
    return serials, time.perf_counter() - started, transactions


def lookups(engine: Engine, serials: list[str], count: int) -> dict[str, float]:
    sample = random.Random(1).choices(serials, k=count)
    times: list[float] = []
    for serial in sample:
        t = time.perf_counter()
        with Session(engine) as s:
            found = weapons.find_by_mark(s, serial)
        times.append((time.perf_counter() - t) * 1000)
        assert len(found) == 1
    times = times[20:]  # warm-up
    q = statistics.quantiles(times, n=100)
    return {"n": len(times), "p50_ms": statistics.median(times), "p99_ms": q[98]}


def backup_restore(pair: Pair, engine_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = pair.root / "basebackup"
    t = time.perf_counter()
    run(
        [
            str(pg_bin() / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres"),
            *("-D", str(base), "-X", "stream", "-c", "fast"),
        ],
        timeout=600,
    )
    out["basebackup_s"] = time.perf_counter() - t
    out["basebackup_bytes"] = sum(f.stat().st_size for f in base.rglob("*") if f.is_file())
    dump = pair.root / "iti.dump"
    t = time.perf_counter()
    run(
        [
            str(pg_bin() / "pg_dump"),
            *("-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres"),
            *("-Fc", "-f", str(dump), "iti"),
        ],
        timeout=600,
    )
    out["pg_dump_s"] = time.perf_counter() - t
    out["pg_dump_bytes"] = dump.stat().st_size
    pair.primary.sql("CREATE DATABASE restored")
    t = time.perf_counter()
    run(
        [
            str(pg_bin() / "pg_restore"),
            *("-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres"),
            *("-d", "restored", str(dump)),
        ],
        timeout=600,
    )
    out["pg_restore_s"] = time.perf_counter() - t
    return out


def backup_throughput(gigabytes: float) -> dict[str, Any]:
    """Physical and logical backup/restore rates on a larger database: a filler table of about `gigabytes`
    of rows shaped like registry rows (a UUID key, text, a timestamp, JSON) plus two B-tree indexes. These
    rates (MB/s) are what docs/scaling.md scales to the registry's sizes."""
    pair = make_pair(durable=True)
    try:
        rows = int(gigabytes * 1e9 / 200)
        pair.primary.sql(
            "CREATE TABLE filler AS SELECT gen_random_uuid() AS id, md5(g::text) || md5((g * 7)::text) AS serial,"
            " now() - g * interval '1 second' AS at, jsonb_build_object('n', g, 'kind', 'imported') AS data"
            f" FROM generate_series(1, {rows}) g",
            database="iti",
        )
        pair.primary.sql("ALTER TABLE filler ADD PRIMARY KEY (id)", database="iti")
        pair.primary.sql("CREATE INDEX filler_serial ON filler (serial)", database="iti")
        size = int(pair.primary.sql("SELECT pg_database_size('iti')")[0][0])  # type: ignore[call-overload]
        out: dict[str, Any] = {"database_bytes": size, "rows": rows}
        measured = backup_restore(pair, "")
        out.update(measured)
        out["basebackup_mb_per_s"] = measured["basebackup_bytes"] / 1e6 / measured["basebackup_s"]
        out["pg_dump_mb_per_s"] = size / 1e6 / measured["pg_dump_s"]
        out["pg_restore_mb_per_s"] = size / 1e6 / measured["pg_restore_s"]
        return out
    finally:
        pair.destroy()


def hot_row_ceiling(seconds: float = 8.0, writers: int = 4) -> dict[str, Any]:
    """The ceiling the audit log's single state row puts on audited writes: `writers` connections each lock
    one shared row, update it and commit, as `registry.audit.service.record` does at the end of every write,
    with no other work. Measured asynchronous, then with a synchronous standby (`on`, `remote_apply`)."""
    import threading

    import psycopg

    pair = make_pair(durable=True)
    out: dict[str, Any] = {"writers": writers, "seconds_each": seconds}
    try:
        add_standby(pair)
        pair.primary.sql("CREATE TABLE hot (id int PRIMARY KEY, n bigint)", database="iti")
        pair.primary.sql("INSERT INTO hot VALUES (1, 0)", database="iti")
        dsn = pair.primary.dsn.replace("dbname=postgres", "dbname=iti")
        for mode, names, commit in (
            ("async", "", "on"),
            ("sync_on", "iti_standby", "on"),
            ("sync_remote_apply", "iti_standby", "remote_apply"),
        ):
            pair.primary.sql(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
            pair.primary.sql(f"ALTER SYSTEM SET synchronous_commit = '{commit}'")
            pair.primary.sql("SELECT pg_reload_conf()")
            time.sleep(1.0)
            counts = [0] * writers
            stop = time.monotonic() + seconds

            def work(i: int, stop: float = stop, counts: list[int] = counts) -> None:
                with psycopg.connect(dsn) as conn:
                    while time.monotonic() < stop:
                        conn.execute("SELECT n FROM hot WHERE id = 1 FOR UPDATE")
                        conn.execute("UPDATE hot SET n = n + 1 WHERE id = 1")
                        conn.commit()
                        counts[i] += 1

            threads = [threading.Thread(target=work, args=(i,)) for i in range(writers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[mode] = {"commits_per_s": sum(counts) / seconds, "commits": sum(counts)}
            say(f"  {mode}: {sum(counts) / seconds:.0f} commits/s on one hot row")
        return out
    finally:
        pair.destroy()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weapons", type=int, default=4000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--backup-gb", type=float, help="only measure backup/restore rates on a filler database"
    )
    parser.add_argument("--hot-row", action="store_true", help="only measure the audit state row's ceiling")
    args = parser.parse_args()
    if args.hot_row:
        figures = hot_row_ceiling()
        say(json.dumps(figures, indent=2))
        if args.out:
            existing = json.loads(args.out.read_text()) if args.out.exists() else {}
            existing["hot_row_ceiling"] = figures
            args.out.write_text(json.dumps(existing, indent=2) + "\n")
        return 0
    if args.backup_gb:
        figures = backup_throughput(args.backup_gb)
        say(json.dumps(figures, indent=2))
        if args.out:
            existing = json.loads(args.out.read_text()) if args.out.exists() else {}
            existing["backup_throughput"] = figures
            args.out.write_text(json.dumps(existing, indent=2) + "\n")
        return 0

    pair = make_pair(durable=True)
    try:
        url = pair.primary.url()
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine) as s, s.begin():
            seed_reference_data(s, actor="capacity")
        add_standby(pair)
        vacuum(engine)
        empty, wal0 = sizes(engine), wal_lsn(engine)
        say(f"loading {args.weapons} weapons x 5 events on PostgreSQL (fsync on) ...")
        serials, seconds, transactions = load(engine, args.weapons)
        wal1 = wal_lsn(engine)
        t = time.perf_counter()
        pair.wait_replayed(timeout=600)
        catch_up_s = time.perf_counter() - t
        vacuum(engine)
        full = sizes(engine)
        per_table = {
            k: (full[k] - empty.get(k, 0)) / args.weapons for k in sorted(full) if full[k] != empty.get(k, 0)
        }
        say("look-ups on the primary and on the standby ...")
        standby_engine = make_engine(pair.standby.url())
        result: dict[str, Any] = {
            "what": "capacity unit figures on PostgreSQL (scripts/measure_capacity.py)",
            "date": time.strftime("%Y-%m-%d"),
            "machine": {
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "postgresql": pair.primary.sql("SHOW server_version")[0][0],
                "loadavg": list(os.getloadavg()),
            },
            "weapons": args.weapons,
            "events_per_weapon": 1 + len(LATER_EVENTS),
            "write_transactions": transactions,
            "load_s": seconds,
            "transactions_per_s": transactions / seconds,
            "weapons_with_5_events_per_s": args.weapons / seconds,
            "bytes_per_weapon": (sum(full.values()) - sum(empty.values())) / args.weapons,
            "bytes_per_weapon_by_table": per_table,
            "wal_bytes_per_weapon": (wal1 - wal0) / args.weapons,
            "standby_catch_up_after_load_s": catch_up_s,
            "lookup_primary": lookups(engine, serials, args.lookups),
            "lookup_standby": lookups(standby_engine, serials, args.lookups),
        }
        standby_engine.dispose()
        engine.dispose()
        say("backup and restore ...")
        result["backup"] = backup_restore(pair, url)
        result["database_bytes"] = int(pair.primary.sql("SELECT pg_database_size('iti')")[0][0])  # type: ignore[call-overload]
    finally:
        pair.destroy()
    say(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
