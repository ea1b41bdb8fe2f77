"""`python -m bench.run --db postgresql`: the benchmark suite on PostgreSQL (127.0.0.1:5432, user postgres).

The same steps as on SQLite (bench/run.py; what both do alike is in bench/steps.py), on two databases of
this server made anew by `iti db upgrade` and dropped at the end unless `--keep`: `<dbname>_baseline` and
`<dbname>` (default `iti_bench_run`).

a. baseline: psycopg alone `COPY ... FROM STDIN` of the same rows into the same tables, in one transaction,
   with the two skeleton triggers off and their `serial_skeletons` rows copied, as the import's COPY writer
   does (registry/imports/copy_writer.py) — the fastest plain way, the analogue of SQLite's `executemany`;
b. `iti import FILE` as a child process (the COPY writer, `ITI_IMPORT_COPY` unset), at a tenth of the size
   and at full size: wall time, rate, peak RSS of the child, and the memory of the server backend serving
   it; then every row the import wrote compared with the baseline's (both sides streamed in key order);
c. `iti audit verify` (and `--no-records`) as child processes, against a bare hashlib Merkle root;
d. `find_by_mark` in-process: median and p99, with PostgreSQL's plan for each statement;
e. database size: `pg_total_relation_size` per table and in total, per weapon, per event and per million
   weapons, and `pg_relation_size` per index; machine and server settings; figures to JSON and to the
   `bench:results-postgresql` block;
h. with `--history`, after b'': `bench.history`'s 1–20-event histories appended to the imported weapons
   through `registry.history.service.record_event` (events/s), then the size after VACUUM and after VACUUM
   FULL, per table and per index, with the fit bytes = fixed per weapon + per event × (events − 1)
   (`size_history`, `size_history_compact`); the audit verification and look-ups then run on that database.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench import generate, steps
from bench.run import (
    _A_COLS,
    _E_COLS,
    _M_COLS,
    _S_COLS,
    _VOLATILE,
    _W_COLS,
    ACTOR,
    BATCH,
    _mark,
    _step,
    audit_entry,
    baseline_figures,
    child_env,
    iti_command,
    machine,
    run_child,
)
from bench.run import (
    TARGETS as SQLITE_TARGETS,
)
from registry.db import new_id

SERVER = "postgresql://postgres@127.0.0.1:5432"
MARKERS = ("<!-- bench:results-postgresql:begin -->", "<!-- bench:results-postgresql:end -->")
# Tables a weapon's rows live in (the import writes all of them), and the ones compared row by row.
TABLES = ("weapons", "markings", "events", "weapon_states", "serial_skeletons", "audit_entries")
COMPARED = ("weapons", "markings", "events", "weapon_states", "serial_skeletons")
_SK_COLS = "source_id, source, weapon_id, key, skel_len, skeleton, skeleton_rev"
_skeleton = itemgetter(*_SK_COLS.split(", "))
_TRIGGERS = (("weapons", "trg_weapons_skeleton"), ("markings", "trg_markings_skeleton"))


def url(dbname: str, *, driver: bool = False) -> str:
    """libpq URL for psycopg, or the SQLAlchemy URL (`postgresql+psycopg://`) the registry is given."""
    server = SERVER.replace("postgresql://", "postgresql+psycopg://") if driver else SERVER
    return f"{server}/{dbname}"


def env(dbname: str, var: Path) -> dict[str, str]:
    return child_env(url(dbname, driver=True), var)


def _check_name(dbname: str) -> None:
    if not dbname.startswith("iti_bench_") or not dbname.replace("_", "").isalnum():
        raise SystemExit(f"the benchmark only makes and drops databases named iti_bench_*, not {dbname!r}")


def drop(dbname: str) -> None:
    import psycopg

    _check_name(dbname)
    with psycopg.connect(url("postgres"), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def fresh_db(dbname: str, work: Path) -> str:
    """A new database at the current schema with the shipped reference data, made by the registry itself."""
    import psycopg

    drop(dbname)
    with psycopg.connect(url("postgres"), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{dbname}"')
    run_child(
        [*iti_command(), "--json", "db", "upgrade"], env(dbname, work / "var"), work / f"{dbname}-up.log"
    )
    return dbname


# --- a. the raw-driver baseline ---------------------------------------------------------------------------


def _copy(cur: Any, table: str, cols: str, rows: list[tuple[Any, ...]]) -> None:
    with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as cp:
        for row in rows:
            cp.write_row(row)


def baseline_copy(dbname: str, n: int, seed: int) -> dict[str, Any]:
    """COPY the rows the import writes, built from the generator's canonical values, with psycopg alone.

    Times the COPYs, the trigger switches and the COMMIT (`sql_s`) apart from building the rows in Python
    (`build_s`, which includes the skeletons): the acceptance ratio uses the SQL time alone, as on SQLite.
    """
    import psycopg

    from registry.imports.copy_writer import skeleton_rows

    key = generate.text_key
    job = new_id()
    sql_s = 0.0
    t_start = time.perf_counter()
    with psycopg.connect(url(dbname)) as con, con.cursor() as cur:
        t = time.perf_counter()
        seq = cur.execute("SELECT next_seq FROM audit_log_state WHERE id = 1").fetchone()[0]  # type: ignore[index]
        cur.execute(
            "INSERT INTO import_jobs (id, source_name, source_sha256, format, custody_of_org_id, started_at, "
            "finished_at, started_by, rows_total, rows_imported, rows_rejected) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (job, "baseline", "0" * 64, "csv", None, datetime.now(UTC), None, ACTOR, n, n, 0),
        )
        for table, trigger in _TRIGGERS:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        sql_s += time.perf_counter() - t
        records = generate.records(n, seed)
        while chunk := [r for _, r in zip(range(BATCH), records, strict=False)]:
            now = datetime.now(UTC)
            now_iso = now.isoformat()
            ws, ms, ks, es, ss, aus = [], [], [], [], [], []
            for r in chunk:
                wid, mid, eid = new_id(), new_id(), new_id()
                serial_key = key(r.serial)
                make = r.make.strip()
                w = (wid, r.category, r.maker_code, make, r.model, r.calibre_code, r.serial, serial_key)
                w += (r.country, r.year, r.frame_material, r.mark_carrier or None, "")
                w += (f"{key(r.maker_code)}|{r.country}|{serial_key}", now, ACTOR, job)
                text = r.mark_text or f"{make} {r.country} {r.serial}"
                m = (mid, wid, None, "manufacture", "frame", True, text, key(text), make, r.country)
                m += (serial_key, r.year, None, None, "stamp", None, True, True, True, True, True, "intact")
                m += (None, None, None, None, False, now, ACTOR)
                shim = SimpleNamespace(
                    weapon={"id": wid, "serial_key": serial_key},
                    markings=[{"id": mid, "weapon_id": wid, "serial": serial_key, "text_key": m[7]}],
                )
                ks += [_skeleton(s) for s in skeleton_rows(shim)]  # type: ignore[arg-type]
                e = (eid, wid, 1, "manufactured", r.occurred, now, ACTOR)
                e += (None, None, None, None, None, None, None, "[]", "{}", "", None, None)
                s = (wid, "active", None, None, None, None, False, False, None, "{}", 1, r.occurred, now)
                body, leaf = audit_entry(seq, now_iso, job, (wid, mid, eid), (w, m, e))
                aus.append((seq, now, ACTOR, "weapon.imported", f"weapon:{wid}", body, leaf))
                seq += 1
                ws.append(w)
                ms.append(m)
                es.append(e)
                ss.append(s)
            t = time.perf_counter()
            _copy(cur, "weapons", _W_COLS, ws)
            _copy(cur, "markings", _M_COLS, ms)
            _copy(cur, "serial_skeletons", _SK_COLS, ks)
            _copy(cur, "events", _E_COLS, es)
            _copy(cur, "weapon_states", _S_COLS, ss)
            _copy(cur, "audit_entries", _A_COLS, aus)
            sql_s += time.perf_counter() - t
        t = time.perf_counter()
        for table, trigger in _TRIGGERS:
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        cur.execute("UPDATE audit_log_state SET next_seq = %s WHERE id = 1", (seq,))
        con.commit()
        sql_s += time.perf_counter() - t
    return baseline_figures(n, sql_s, time.perf_counter() - t_start)


# --- b. the import, with the server backend's memory ------------------------------------------------------


def _proc_kb(pid: int, fields: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                name = line.split(":", 1)[0]
                if name in fields:
                    out[name] = int(line.split()[1])
    except OSError:
        pass
    return out


class BackendMemory:
    """Samples the memory of the server processes connected to one database (the import's backend) through
    `/proc` (the server runs on this machine). VmRSS counts the shared buffers a backend has touched;
    RssAnon is its private memory (sorts, caches, COPY buffers)."""

    def __init__(self, dbname: str, every: float = 0.5) -> None:
        self.dbname, self.every = dbname, every
        self.peak_rss_kb = self.peak_anon_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(url("postgres"), autocommit=True) as con:
            while not self._done.wait(self.every):
                pids = [
                    r[0]
                    for r in con.execute(
                        "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self.dbname,)
                    ).fetchall()
                ]
                for pid in pids:
                    kb = _proc_kb(pid, ("VmRSS", "RssAnon"))
                    self.peak_rss_kb = max(self.peak_rss_kb, kb.get("VmRSS", 0))
                    self.peak_anon_kb = max(self.peak_anon_kb, kb.get("RssAnon", 0))

    def __enter__(self) -> BackendMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def result(self) -> dict[str, float]:
        return {"peak_rss_mb": self.peak_rss_kb / 1024, "peak_anon_mb": self.peak_anon_kb / 1024}


# --- b'. equivalence of the baseline's rows and the import's ----------------------------------------------


def _stream(dbname: str, table: str) -> Iterator[tuple[Any, ...]]:
    """(uniqueness key of the weapon, row...) for every row of `table`, in code-point order of the key (the
    order of Python's `<`, for the merge in `compare_rows`), read with a server-side cursor."""
    import psycopg

    with psycopg.connect(url(dbname)) as con:
        collate = con.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        # Under C or C.UTF-8 the index on the key already gives that order; any other collation needs "C".
        order = "" if collate.fetchone()[0] in ("C", "C.UTF-8", "C.utf8", "POSIX") else ' COLLATE "C"'  # type: ignore[index]
        sql = (
            f"SELECT w.uniqueness_key, w.* FROM weapons w ORDER BY w.uniqueness_key{order}"
            if table == "weapons"
            else f"SELECT w.uniqueness_key, x.* FROM weapons w JOIN {table} x ON x.weapon_id = w.id "
            f"ORDER BY w.uniqueness_key{order}"
        )
        with con.cursor(name=f"cmp_{table}") as cur:
            cur.itersize = 5000
            cur.execute(sql)
            yield from cur


def _groups(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    for k, group in itertools.groupby(rows, key=lambda r: r[0]):
        yield k, list(group)


def _columns(dbname: str, table: str) -> list[str]:
    import psycopg

    with psycopg.connect(url(dbname)) as con:
        return [d.name for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description or ()]


def compare_rows(imported: str, baseline: str) -> dict[str, Any]:
    """Match every imported weapon to the baseline's by uniqueness key and compare every column of its rows
    in weapons, markings, events, weapon_states and serial_skeletons. The two databases are separate, so
    both sides are streamed in key order and compared in Python; ids and clock times (`_VOLATILE`, plus the
    skeletons' `source_id`) by type and presence only."""
    import psycopg

    out: dict[str, Any] = {}
    for table in COMPARED:
        cols = _columns(imported, table)
        volatile = [c in _VOLATILE or c == "source_id" for c in cols]

        def norm(row: tuple[Any, ...], volatile: list[bool] = volatile) -> tuple[Any, ...]:
            return tuple(
                (type(v).__name__, v is None) if vol else v for v, vol in zip(row[1:], volatile, strict=True)
            )

        matched, differing, unmatched = 0, dict.fromkeys(cols, 0), 0
        left, right = _groups(_stream(imported, table)), _groups(_stream(baseline, table))
        a, b = next(left, None), next(right, None)
        while a is not None or b is not None:  # a merge join on the key; a key on one side only is unmatched
            if b is None or (a is not None and a[0] < b[0]):
                unmatched, a = unmatched + 1, next(left, None)
                continue
            if a is None or b[0] < a[0]:
                unmatched, b = unmatched + 1, next(right, None)
                continue
            rows_a = sorted((norm(r) for r in a[1]), key=repr)
            rows_b = sorted((norm(r) for r in b[1]), key=repr)
            a, b = next(left, None), next(right, None)
            if len(rows_a) != len(rows_b):
                unmatched += 1
                continue
            for ra, rb in zip(rows_a, rows_b, strict=True):
                matched += 1
                for c, va, vb in zip(cols, ra, rb, strict=True):
                    if va != vb:
                        differing[c] += 1
        counts = {}
        for side, db in (("import", imported), ("baseline", baseline)):
            with psycopg.connect(url(db)) as con:
                counts[side] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
        out[table] = {
            "rows": counts,
            "matched": matched,
            "unmatched_weapons": unmatched,
            "differing_columns": {c: k for c, k in differing.items() if k},
        }
    audit = {}
    for side, db in (("import", imported), ("baseline", baseline)):
        with psycopg.connect(url(db)) as con:
            audit[side] = con.execute(
                "SELECT count(*), avg(length(body))::float, min(length(leaf_hash)), max(length(leaf_hash)) "
                "FROM audit_entries WHERE action = 'weapon.imported'"
            ).fetchone()
    out["audit_entries"] = audit
    out["identical"] = all(
        not v["differing_columns"]
        and not v["unmatched_weapons"]
        and v["matched"] == v["rows"]["import"] == v["rows"]["baseline"]
        for k, v in out.items()
        if k != "audit_entries"
    )
    return out


# --- d. exact look-up -------------------------------------------------------------------------------------


def lookup_sample(dbname: str, count: int, seed: int) -> list[steps.Lookup]:
    """(weapon id hex, query, kind) for `count` weapons picked by a seeded hash of their uniqueness key (the
    same weapons in every run of the same data): 3 in 4 by serial, some typed in lower case with spaces, 1
    in 4 by the full text of the manufacture mark — as on SQLite."""
    import psycopg

    with psycopg.connect(url(dbname)) as con:
        # Weapons first (one scan and a top-N sort), then their marks by index: no join of the whole tables.
        rows = con.execute(
            "WITH picked AS (SELECT id, serial, md5(uniqueness_key || %(seed)s) AS h FROM weapons "
            "ORDER BY h LIMIT %(count)s) "
            "SELECT p.id, p.serial, m.text FROM picked p JOIN markings m ON m.weapon_id = p.id ORDER BY p.h, m.id",
            {"seed": str(seed), "count": count},
        ).fetchall()
    random.Random(seed).shuffle(rows)
    return steps.lookup_queries((wid.hex, serial, text) for wid, serial, text in rows)


def lookups(dbname: str, sample: list[steps.Lookup], *, budget_s: float, warmup: int = 20) -> dict[str, Any]:
    """`find_by_mark` in-process (`steps.time_find_by_mark`); the statements of one look-up with PostgreSQL's
    plan for each, with that look-up's parameters."""
    from registry.db import make_engine

    engine = make_engine(url(dbname, driver=True))
    times, misses, statements = steps.time_find_by_mark(engine, sample, budget_s=budget_s, warmup=warmup)
    plans = []
    with engine.connect() as conn:
        for stmt, params in statements:
            if not stmt.lstrip().upper().startswith("SELECT"):
                continue
            rows = conn.exec_driver_sql(f"EXPLAIN {stmt}", params).fetchall()
            plans.append({"sql": " ".join(stmt.split()), "plan": [r[0].strip() for r in rows]})
    engine.dispose()
    return steps.lookup_figures(times, misses, planned=len(sample) - warmup, budget_s=budget_s, plans=plans)


# --- e. size, server ----------------------------------------------------------------------------------------


def sizes(dbname: str, *, vacuum: str | None = None) -> dict[str, Any]:
    """`pg_total_relation_size` (heap, indexes, TOAST) and row count of each table a weapon's rows live in,
    the total of every table, and the database; per weapon, per event and per million weapons. Also each
    table's heap, TOAST and index bytes, each index's `pg_relation_size`, and — when the weapons have more
    events than their first — the split of the bytes into a fixed part per weapon and a part per added event
    (`fit`). `vacuum` "plain" runs VACUUM first (what an operator's database looks like: space freed by
    updates stays in the files for reuse), "full" VACUUM FULL (the compact lower bound)."""
    import psycopg

    with psycopg.connect(url(dbname), autocommit=True) as con:
        if vacuum == "full":
            # Table by table: a database-wide VACUUM FULL also rewrites the catalogs, and on this server it
            # failed on pg_statistic's TOAST ("missing chunk number 0") right after an ANALYZE.
            for t in TABLES:
                con.execute(f"VACUUM (FULL, ANALYZE) {t}")
        else:
            con.execute("VACUUM (ANALYZE)" if vacuum else "ANALYZE")
        tables = {}
        for t in TABLES:
            count, total, heap, table, idx = con.execute(
                f"SELECT (SELECT count(*) FROM {t}), pg_total_relation_size(%s), pg_relation_size(%s), "
                "pg_table_size(%s), pg_indexes_size(%s)",
                (t, t, t, t),
            ).fetchone()  # type: ignore[misc]
            tables[t] = {"rows": count, "bytes": total, "heap_bytes": heap}
            tables[t] |= {"table_bytes": table, "index_bytes": idx, "toast_and_maps_bytes": table - heap}
        all_tables = con.execute(
            "SELECT sum(pg_total_relation_size(c.oid))::bigint FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
        ).fetchone()[0]  # type: ignore[index]
        database = con.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        index_sizes = indexes(con, tables)
        fit = size_fit(con, tables) if tables["events"]["rows"] > tables["weapons"]["rows"] else None
    weapons, events = tables["weapons"]["rows"], tables["events"]["rows"]
    weapon_bytes = sum(v["bytes"] for v in tables.values())
    per_event = tables["events"]["bytes"] / max(1, events)
    per_audit = tables["audit_entries"]["bytes"] / max(1, tables["audit_entries"]["rows"])
    per_weapon = weapon_bytes / max(1, weapons)
    return {
        "tables": tables,
        "weapon_tables_bytes": weapon_bytes,
        "all_tables_bytes": all_tables,
        "database_bytes": database,
        "events_per_weapon": events / max(1, weapons),
        "bytes_per_weapon": per_weapon,
        "bytes_per_million_weapons": per_weapon * 1_000_000,
        "database_bytes_per_million_weapons": database * 1_000_000 / max(1, weapons),
        "bytes_per_event": per_event,
        "bytes_per_audit_entry": per_audit,
        # Not measured: four more events, each with its own audit entry, on top of the measured weapon.
        "estimate_bytes_per_weapon_with_5_events": per_weapon + 4 * (per_event + per_audit),
        "vacuum": vacuum,
        "indexes": index_sizes,
        **({"fit": fit} if fit else {}),
    }


def indexes(con: Any, tables: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every index of the weapon tables: its table, definition, `pg_relation_size`, bytes per row of its
    table, and how often it was scanned since the database was made (`pg_stat_user_indexes.idx_scan`)."""
    rows = con.execute(
        "SELECT c.relname, t.relname, pg_relation_size(i.indexrelid), i.indisunique, "
        "pg_get_indexdef(i.indexrelid), coalesce(s.idx_scan, 0) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid "
        "LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid "
        "WHERE t.relname = ANY(%s) ORDER BY t.relname, c.relname",
        (list(tables),),
    ).fetchall()
    return {
        name: {
            "table": table,
            "bytes": size,
            "bytes_per_row": size / max(1, tables[table]["rows"]),
            "unique": unique,
            "definition": definition,
            "scans": scans,
        }
        for name, table, size, unique, definition, scans in rows
    }


# Rows that come with each event after a weapon's first: the event, its audit entry, and the marking some
# events record (an import mark on re-import, a deactivation mark). Everything else is the weapon's own.
_PER_EVENT_ROWS = {
    "events": "seq > 1",
    "audit_entries": "action LIKE 'event.%'",
    "markings": "id IN (SELECT marking_id FROM events WHERE seq > 1 AND marking_id IS NOT NULL)",
}


def size_fit(con: Any, tables: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """bytes per weapon = fixed_per_weapon + per_event × (events − 1), from the measured rows.

    In `events`, `audit_entries` and `markings` the rows an added event brings (`_PER_EVENT_ROWS`) are
    separated from the rest: the table's heap and TOAST (`pg_table_size`) in proportion to the rows'
    `pg_column_size`, its indexes in proportion to the row counts (each row has one entry in each index).
    Every other byte of the weapon tables is fixed per weapon (including the free space the updates of
    `weapon_states` leave after a plain VACUUM)."""
    weapons, events = tables["weapons"]["rows"], tables["events"]["rows"]
    added = events - weapons
    per_event_parts: dict[str, float] = {}
    fixed_parts: dict[str, float] = {}
    for t, x in tables.items():
        if t not in _PER_EVENT_ROWS:
            fixed_parts[t] = x["bytes"]
            continue
        where = _PER_EVENT_ROWS[t]
        part_rows, part_col, all_col = con.execute(
            f"SELECT count(*) FILTER (WHERE {where}), "
            f"coalesce(sum(pg_column_size(x.*)) FILTER (WHERE {where}), 0), "
            f"coalesce(sum(pg_column_size(x.*)), 0) FROM {t} x"
        ).fetchone()
        share = x["table_bytes"] * part_col / max(1, all_col) + x["index_bytes"] * part_rows / max(
            1, x["rows"]
        )
        per_event_parts[t] = share
        fixed_parts[t] = x["bytes"] - share
    total = sum(x["bytes"] for x in tables.values())
    fixed = sum(fixed_parts.values()) / max(1, weapons)
    per_event = sum(per_event_parts.values()) / max(1, added)
    return {
        "weapons": weapons,
        "events": events,
        "mean_events": events / max(1, weapons),
        "fixed_per_weapon": fixed,
        "per_event": per_event,
        "fixed_parts_per_weapon": {t: b / max(1, weapons) for t, b in fixed_parts.items()},
        "per_event_parts": {t: b / max(1, added) for t, b in per_event_parts.items()},
        "bytes_per_weapon_at_mean": total / max(1, weapons),
        "bytes_per_weapon_with_5_events": fixed + 4 * per_event,
        "bytes_per_weapon_with_1_event": fixed,
        "bytes_per_weapon_with_20_events": fixed + 19 * per_event,
    }


def server() -> dict[str, Any]:
    import psycopg

    names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size")
    names += ("synchronous_commit", "fsync", "wal_level", "max_wal_size", "checkpoint_timeout", "jit")
    with psycopg.connect(url("postgres"), autocommit=True) as con:
        out = {n: con.execute(f"SHOW {n}").fetchone()[0] for n in names}  # type: ignore[index]
        out["version"] = con.execute("SELECT version()").fetchone()[0]  # type: ignore[index]
    out["psycopg"] = psycopg.__version__
    return out


# --- the run ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Fill `results` step by step (so the caller keeps whatever was measured if a step fails)."""
    import tempfile

    _check_name(args.dbname)
    n, seed = args.weapons, args.seed
    small = max(1, n // 10)
    db_import, db_base = args.dbname, f"{args.dbname}_baseline"
    work = Path(tempfile.mkdtemp(prefix="iti-bench-pg-", dir=args.workdir))
    results |= steps.header(
        args,
        machine() | {"postgresql": server()},
        db="postgresql",
        databases={"import": db_import, "baseline": db_base},
    )

    def drop_databases() -> None:
        drop(db_base)
        drop(db_import)

    kept_note = f" and databases {db_import}, {db_base}"
    with steps.cleaned_up(work, keep=args.keep, kept_note=kept_note, then=drop_databases):
        csv_full, csv_small = steps.write_csv_files(results, work, n, small, seed)

        _step(f"a. baseline: psycopg COPY ... FROM STDIN into {db_base} (fresh, from iti db upgrade)")
        fresh_db(db_base, work)
        results["baseline"] = base = baseline_copy(db_base, n, seed)
        steps.print_baseline(base)

        results["import"] = imports = {}
        for label, path, rows in (("small", csv_small, small), ("full", csv_full, n)):
            _step(f"b. iti import ({rows:,} rows) into {db_import} (fresh, from iti db upgrade)")
            fresh_db(db_import, work)
            with BackendMemory(db_import) as backend:
                child = steps.run_import(
                    path, rows, env(db_import, work / "var"), work / f"import-{label}.log"
                )
            imports[label] = steps.import_figures(child, rows, server_backend=backend.result())
            print(
                f"{steps.import_summary(child, rows)}, "
                f"server backend {backend.result()['peak_anon_mb']:.0f} MB private"
            )
        steps.import_ratios(results)

        _step("b'. size of the imported database (pg_total_relation_size)")
        results["size"] = sz = sizes(db_import)
        results["size_baseline"] = sizes(db_base)
        print(
            f"   {sz['bytes_per_weapon']:,.0f} bytes per weapon, {sz['events_per_weapon']:.2f} events per weapon"
        )

        if args.compare:
            _step("b''. every imported row against the baseline's (both streamed in uniqueness-key order)")
            steps.timed_equivalence(results, lambda: compare_rows(db_import, db_base))
        if not args.keep:
            drop(db_base)

        if getattr(args, "history", False):
            add_histories(results, db_import, n, seed)

        steps.verify_and_merkle(results, env(db_import, work / "var"), work, n, seed)

        _step("d. find_by_mark")
        sample = lookup_sample(db_import, args.lookups + 20, seed)
        results["lookup"] = lk = lookups(db_import, sample, budget_s=args.lookup_budget)
        print(steps.lookup_summary(lk))
        if getattr(args, "history", False):
            results["index_scans_at_end"] = index_scans(db_import)
        steps.finish(results)
    return results


# --- histories (--history) --------------------------------------------------------------------------------


def add_histories(results: dict[str, Any], dbname: str, n: int, seed: int) -> None:
    """Append `bench.history`'s 1–20-event histories to the imported weapons through the registry's
    `record_event`, then measure the size after VACUUM and after VACUUM FULL, with the fit."""
    from bench import history
    from registry.db import make_engine, make_sessionmaker

    _step(f"h. histories of {n:,} weapons through registry.history.service.record_event")
    engine = make_engine(url(dbname, driver=True))
    try:
        load = history.load(make_sessionmaker(engine), n, seed)
    finally:
        engine.dispose()
    results["history"] = load | {"loadavg_after": os.getloadavg()}
    print(
        f"   {load['events_added']:,} events in {load['seconds']:.0f} s: {load['events_per_s']:,.0f} events/s "
        f"({load['events_per_weapon']:.2f} events per weapon)"
    )
    _step("h'. size with histories, after VACUUM and after VACUUM FULL")
    results["size_history"] = sz = sizes(dbname, vacuum="plain")
    results["size_history_compact"] = full = sizes(dbname, vacuum="full")
    for label, x in (("VACUUM", sz), ("VACUUM FULL", full)):
        f = x["fit"]
        print(
            f"   after {label}: {f['bytes_per_weapon_at_mean']:,.0f} bytes per weapon at {f['mean_events']:.2f} "
            f"events = {f['fixed_per_weapon']:,.0f} + {f['per_event']:,.0f} per added event; "
            f"{f['bytes_per_weapon_with_5_events']:,.0f} at 5 events"
        )


def index_scans(dbname: str) -> dict[str, int]:
    """`idx_scan` of every index of the weapon tables at the end of the run (which indexes queries used)."""
    import psycopg

    with psycopg.connect(url(dbname), autocommit=True) as con:
        return {k: v["scans"] for k, v in indexes(con, {t: {"rows": 1} for t in TABLES}).items()}


# --- report -----------------------------------------------------------------------------------------------


def _mb(b: float) -> str:
    return f"{b / 2**20:,.1f} MB"


TARGETS = {**SQLITE_TARGETS, "bytes_per_weapon_5_events": 2048}


def _code_line(r: dict[str, Any]) -> str:
    start, end = r["code_at_start"], r.get("code_at_end") or r["code_at_start"]
    line = f"commit {start['commit']}" + (
        " with uncommitted changes to registry/ or cli/" if start["registry_or_cli_modified"] else ""
    )
    if end != start:
        line += f"; at the end commit {end['commit']}" + (
            " with uncommitted changes to registry/ or cli/" if end["registry_or_cli_modified"] else ""
        )
        line += (
            " (**registry/ or cli/ changed during the run: figures may mix two versions**)"
            if r.get("registry_changed_during_run")
            else " (no change to registry/ or cli/)"
        )
    return line + "."


def markdown(r: dict[str, Any]) -> str:
    m, b, imp, v = r["machine"], r["baseline"], r["import"], r["verify"]
    mb, lk, sz, pg = r["merkle_baseline"], r["lookup"], r["size"], r["machine"]["postgresql"]
    n = r["weapons"]
    full, small = imp["full"], imp["small"]
    lines = [
        f"Run of {r['date']} on PostgreSQL: {n:,} weapons, seed {r['seed']}, `{r['command']}`.",
        "",
        f"Code: {_code_line(r)}",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}, "
        f"SQLAlchemy {m['sqlalchemy']}, psycopg {pg['psycopg']}; PostgreSQL {pg['server_version']} on the same "
        f"machine, shared_buffers {pg['shared_buffers']}, work_mem {pg['work_mem']}, synchronous_commit "
        f"{pg['synchronous_commit']}, max_wal_size {pg['max_wal_size']}. {steps.loadavg_text(m)}",
        "",
        "| Figure | Value | Bar | |",
        "|---|---|---|---|",
        f"| Baseline: psycopg `COPY ... FROM STDIN`, one transaction, SQL time only | "
        f"{b['weapons_per_s']:,.0f} weapons/s ({b['sql_s']:.1f} s) | | |",
        f"| Baseline including building the rows in Python | {b['weapons_per_s_incl_build']:,.0f} weapons/s "
        f"({b['total_s']:.1f} s) | | |",
        f"| `iti import`, {n:,} rows (COPY writer) | {full['weapons_per_s']:,.0f} weapons/s "
        f"({full['wall_s']:.1f} s) | | |",
        f"| Import rate ÷ baseline rate (SQL time) | **{r['import_ratio']:.2f}** | ≥ 0.33 (aim 0.5) "
        f"| {_mark(r['import_ratio'] >= TARGETS['import_ratio'])} |",
        f"| Import rate ÷ baseline rate (incl. building rows) | {r['import_ratio_incl_build']:.2f} | | |",
        f"| Peak RSS of `iti import`, {small['weapons']:,} / {n:,} rows | "
        f"{small['peak_rss_mb']:.0f} MB / {full['peak_rss_mb']:.0f} MB | < 300 MB "
        f"| {_mark(full['peak_rss_mb'] < TARGETS['rss_mb'])} |",
        f"| Server backend of the import, {n:,} rows: peak private memory (RssAnon) / VmRSS with the shared "
        f"buffers it touched | {full['server_backend']['peak_anon_mb']:.0f} MB / "
        f"{full['server_backend']['peak_rss_mb']:.0f} MB | | |",
        f"| `iti audit verify` ({v['records']['entries']:,} entries, {v['records']['records']:,} rows) "
        f"| {v['records']['wall_s']:.1f} s, {v['records']['entries_per_s']:,.0f} entries/s | | |",
        f"| `iti audit verify --no-records` | {v['log_only']['wall_s']:.1f} s, "
        f"{v['log_only']['entries_per_s']:,.0f} entries/s | | |",
        f"| Peak RSS of `iti audit verify` (with records / log only) | {v['records']['peak_rss_mb']:.0f} MB / "
        f"{v['log_only']['peak_rss_mb']:.0f} MB | | |",
        f"| Bare hashlib Merkle root, {mb['leaves']:,} leaves of {mb['leaf_bytes']} B | {mb['seconds']:.2f} s "
        "| | |",
        f"| verify ÷ hashlib (with records / log only) | {v['records']['ratio_to_hashlib']:.1f}× / "
        f"{v['log_only']['ratio_to_hashlib']:.1f}× | | |",
        f"| `find_by_mark`, {lk['lookups']:,} look-ups, median / p99 | **{lk['median_ms']:.2f} ms** / "
        f"{lk['p99_ms']:.2f} ms | median < 2 ms | {_mark(lk['median_ms'] < TARGETS['lookup_median_ms'])} |",
        f"| Weapon tables per weapon ({sz['events_per_weapon']:.2f} events per weapon) | "
        f"**{sz['bytes_per_weapon']:,.0f} bytes** ({_mb(sz['bytes_per_million_weapons'])} per million) | | |",
        f"| Whole database per million weapons (`pg_database_size`) | "
        f"{_mb(sz['database_bytes_per_million_weapons'])} | | |",
        f"| Per event (`events`, with its indexes) / per audit entry | {sz['bytes_per_event']:,.0f} bytes / "
        f"{sz['bytes_per_audit_entry']:,.0f} bytes | | |",
        f"| Estimate, not measured: a weapon with 5 events (+4 × (event + audit entry)) | "
        f"{sz['estimate_bytes_per_weapon_with_5_events']:,.0f} bytes | 2 KB "
        f"| {_mark(sz['estimate_bytes_per_weapon_with_5_events'] <= TARGETS['bytes_per_weapon_5_events'])} |",
        "",
        "Size by table after the import (`pg_total_relation_size`: heap, indexes and TOAST; heap alone in "
        "brackets):",
        "",
        "| Table | Rows | Total | Bytes per row |",
        "|---|---:|---:|---:|",
    ]
    for t, x in sz["tables"].items():
        lines.append(
            f"| `{t}` | {x['rows']:,} | {_mb(x['bytes'])} ({_mb(x['heap_bytes'])}) "
            f"| {x['bytes'] / max(1, x['rows']):,.0f} |"
        )
    lines.append(
        f"| all tables / database | | {_mb(sz['all_tables_bytes'])} / {_mb(sz['database_bytes'])} | |"
    )
    eq = r.get("equivalence")
    lines.append("")
    if eq:
        lines.append(
            "Same rows: every imported weapon matched the baseline's by uniqueness key and every column of "
            "weapons, markings, events, weapon_states and serial_skeletons compared equal (ids and clock "
            f"times by type and presence), streamed from both databases in {eq['seconds']:.0f} s: "
            f"**{'yes' if eq['identical'] else 'NO'}**"
            + ("" if eq["identical"] else f" — {json_short(eq)}")
            + steps.audit_bodies_text(eq)
        )
    else:
        lines.append("The rows were not compared with the baseline's in this run (`--no-compare`).")
    lines += [
        "",
        steps.lookups_by_kind_text(lk),
        "",
        "Statements of one look-up and the scans of PostgreSQL's plan for each (`EXPLAIN` with that "
        "look-up's parameters; the whole plans are in the JSON file):",
        "",
    ]
    for s in lk["statements"]:
        scans = [
            re.sub(r"\s*\(cost=[^)]*\)", "", x).removeprefix("->").strip()
            for x in s["plan"]
            if "Scan" in x or "Cond" in x
        ]
        lines.append(f"- `{s['sql']}` — {'; '.join(scans)}")
    if "history" in r:
        lines += ["", *history_markdown(r)]
    return "\n".join(lines) + "\n"


def history_markdown(r: dict[str, Any]) -> list[str]:
    """With --history: the load through `record_event`, the measured size and its fit, bytes per index."""
    h, sz, full = r["history"], r["size_history"], r["size_history_compact"]
    f, ff = sz["fit"], full["fit"]
    lines = [
        f"Histories (`--history`): {h['events_added']:,} events added to {h['weapons']:,} weapons through "
        f"`registry.history.service.record_event`, {h['batch_weapons']} weapons per transaction, in "
        f"{h['seconds']:.0f} s: **{h['events_per_s']:,.0f} events/s**; {f['mean_events']:.2f} events per weapon.",
        "",
        "| Size with histories | after VACUUM | after VACUUM FULL |",
        "|---|---:|---:|",
        f"| Weapon tables per weapon at {f['mean_events']:.2f} events | {f['bytes_per_weapon_at_mean']:,.0f} B "
        f"| {ff['bytes_per_weapon_at_mean']:,.0f} B |",
        f"| Fixed per weapon | {f['fixed_per_weapon']:,.0f} B | {ff['fixed_per_weapon']:,.0f} B |",
        f"| Per added event (event, its audit entry, its marking if any) | {f['per_event']:,.0f} B "
        f"| {ff['per_event']:,.0f} B |",
        f"| **Measured fit at 5 events** (target 2 KB) | **{f['bytes_per_weapon_with_5_events']:,.0f} B** "
        f"{_mark(f['bytes_per_weapon_with_5_events'] <= TARGETS['bytes_per_weapon_5_events'])} "
        f"| {ff['bytes_per_weapon_with_5_events']:,.0f} B |",
        "",
        "| Index | Table | Bytes per row (after VACUUM) | Scans in the run |",
        "|---|---|---:|---:|",
    ]
    scans = r.get("index_scans_at_end", {})
    for name, x in sz["indexes"].items():
        lines.append(
            f"| `{name}` | `{x['table']}` | {x['bytes_per_row']:,.1f} | {scans.get(name, x['scans']):,} |"
        )
    return lines


def json_short(eq: dict[str, Any]) -> str:
    import json

    return json.dumps({k: v for k, v in eq.items() if k not in ("seconds", "audit_entries")})
