"""The registry's speed and memory at national scale, measured against plain-SQL and plain-hashlib baselines.

    python -m bench.run --weapons 1000000 --out docs/performance.md --json bench/results/DATE-1000000.json

One run, on fresh SQLite files in a temporary folder:

a. baseline: stdlib `sqlite3` `executemany` of the same rows into the same tables (schema made by
   `iti db upgrade`), in one transaction, with the registry's own connection pragmas;
b. `iti import FILE` as a child process, at a tenth of the size and at full size: wall time, rate, peak RSS;
   then an SQL comparison of every row the import wrote with the baseline's (both must be the same data);
c. `iti audit verify` (and `--no-records`) as a child process, against a bare hashlib Merkle root;
d. `find_by_mark` in-process for random existing serials and mark texts: median and p99 latency;
e. machine information; figures to JSON and to a Markdown block in docs/performance.md;
f. with `--http`, `python -m bench.http_load` on the imported database (HTTP requests/s and latency against
   a bare Starlette endpoint; its own block in docs/performance.md).

With `--db postgresql` the same suite runs on the PostgreSQL server at 127.0.0.1:5432 (bench/run_pg.py: a
psycopg `COPY` baseline, databases `iti_bench_run` and `iti_bench_run_baseline`, sizes per table; results to
bench/results/DATE-postgresql-WEAPONS.json and the `bench:results-postgresql` block).

Develop at `--weapons 20000`; the full size takes several minutes (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import generate
from registry.db import new_id

ACTOR = "bench"
BATCH = 10_000  # rows per executemany in the baseline (memory bound only; one transaction throughout)
MARKERS = ("<!-- bench:results:begin -->", "<!-- bench:results:end -->")
REPO = Path(__file__).resolve().parent.parent


# --- child processes --------------------------------------------------------------------------------------


def iti_command() -> list[str]:
    script = Path(sys.executable).parent / "iti"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli.main import main; main()"]


def child_env(database_url: str, var_dir: Path) -> dict[str, str]:
    """The environment of an `iti` child process on one database (none of this process's own ITI_ settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITI_")}
    env.update(
        ITI_DATABASE_URL=database_url,
        ITI_VAR_DIR=str(var_dir),
        ITI_AUDIT_KEY_PASSPHRASE="bench",  # noqa: S106 - a throw-away key for a throw-away database
        ITI_ACTOR=ACTOR,
        ITI_PROFILE="iti",
    )
    return env


def iti_env(db: Path) -> dict[str, str]:
    return child_env(f"sqlite:///{db}", db.parent / f"{db.stem}-var")


@dataclass
class ChildRun:
    wall_s: float
    max_rss_mb: float  # ru_maxrss of the child (its own peak, from wait4)
    returncode: int
    output: Any  # the command's --json output
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, VmRSS) samples

    def rss_by_tenth(self) -> list[float | None]:
        """The highest sampled RSS in each tenth of the run (shows whether memory grows with progress)."""
        out: list[float | None] = []
        for i in range(10):
            lo, hi = self.wall_s * i / 10, self.wall_s * (i + 1) / 10
            vals = [r for t, r in self.rss_mb if lo <= t < hi]
            out.append(round(max(vals)) if vals else None)
        return out


def _vm_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def run_child(args: Sequence[str], env: dict[str, str], log: Path, *, sample_every: float = 0.25) -> ChildRun:
    """Run a command, sampling its RSS; its peak RSS comes from wait4's rusage (that child alone)."""
    with log.open("wb") as out, (log.with_suffix(".err")).open("wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(args), env=env, stdout=out, stderr=err)
        samples: list[tuple[float, float]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(sample_every):
                kb = _vm_rss_kb(proc.pid)
                if kb is not None:
                    samples.append((time.perf_counter() - t0, kb / 1024))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(encoding="utf-8", errors="replace")
    try:
        output = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        output = text
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {proc.returncode}: {text[-2000:]}"
            f"{log.with_suffix('.err').read_text(errors='replace')[-2000:]}"
        )
    return ChildRun(wall, usage.ru_maxrss / 1024, proc.returncode, output, samples)


def fresh_db(path: Path) -> Path:
    """A new database at the current schema with the shipped reference data, made by the registry itself."""
    subprocess.run(
        [*iti_command(), "--json", "db", "upgrade"], env=iti_env(path), check=True, capture_output=True
    )
    return path


# --- a. the plain-SQL baseline ----------------------------------------------------------------------------

_W_COLS = (
    "id, category, manufacturer_code, make, model, calibre, serial, serial_key, country_of_manufacture, "
    "year_of_manufacture, frame_material, mark_carrier, description, uniqueness_key, registered_at, "
    "registered_by, import_job_id"
)
_M_COLS = (
    "id, weapon_id, component_id, kind, component_kind, is_primary, text, text_key, manufacturer, country, "
    "serial, year, transferring_state, scheme_symbol, method, location_on_component, exposed_surface, "
    "conspicuous, readable, durable, recoverable, condition, payload, applied_on, station, operator, "
    "verified, recorded_at, recorded_by"
)
_E_COLS = (
    "id, weapon_id, seq, type, occurred_at, recorded_at, recorded_by, from_org_id, to_org_id, "
    "from_person_id, to_person_id, from_country, to_country, location, documents, data, notes, "
    "corrects_event_id, marking_id"
)
_S_COLS = (
    "weapon_id, status, custodian_org_id, holder_person_id, location, country, illicit, pending_marking, "
    "pending_transfer_event_id, details, event_count, last_event_at, updated_at"
)
_A_COLS = "seq, recorded_at, actor, action, subject, body, leaf_hash"


def _insert(table: str, cols: str) -> str:
    return f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * (cols.count(',') + 1))})"


def _sql_time(value: datetime) -> str:
    """How SQLAlchemy's DateTime stores a UTC time on SQLite (the registry's UTCDateTime drops the zone)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _digest(row: tuple[Any, ...]) -> str:
    return hashlib.sha256(repr(row).encode()).hexdigest()


def audit_entry(
    seq: int, now_iso: str, job: Any, ids: tuple[Any, Any, Any], rows: tuple[tuple[Any, ...], ...]
) -> tuple[bytes, bytes]:
    """The body the import's audit entry for one weapon has (its weapon, marking and event rows' digests)
    and its RFC 9162 leaf hash. `ids` and `rows` are the weapon's, the marking's and the event's."""
    (wid, mid, eid), (w, m, e) = ids, rows
    body = (
        f'{{"action":"weapon.imported","actor":"{ACTOR}","at":"{now_iso}",'
        f'"info":{{"import_job":"{job}"}},"records":[["weapons","{wid}","{_digest(w)}"],'
        f'["markings","{mid}","{_digest(m)}"],["events","{eid}","{_digest(e)}"]],'
        f'"seq":{seq},"subject":"weapon:{wid}","v":1}}'
    ).encode()
    return body, hashlib.sha256(b"\x00" + body).digest()


def baseline_figures(n: int, sql_s: float, total_s: float) -> dict[str, Any]:
    """A baseline's rates: by SQL time alone (the acceptance ratio's) and including building the rows."""
    return {
        "weapons": n,
        "sql_s": sql_s,
        "build_s": total_s - sql_s,
        "total_s": total_s,
        "weapons_per_s": n / sql_s,
        "weapons_per_s_incl_build": n / total_s,
    }


def registry_connection(path: Path) -> sqlite3.Connection:
    """A stdlib connection with the pragmas `registry.db.make_engine` sets (foreign keys on, WAL, NORMAL)."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


def baseline_insert(db: Path, n: int, seed: int) -> dict[str, Any]:
    """INSERT the rows the import writes, built from the generator's canonical values, with executemany.

    Times the executemany calls and the COMMIT (`sql_s`) apart from building the rows (`build_s`): the
    acceptance ratio uses the SQL time alone, the strictest reading of "the rate of executemany".
    """
    con = registry_connection(db)
    key = generate.text_key
    sql_w, sql_m, sql_e = (
        _insert("weapons", _W_COLS),
        _insert("markings", _M_COLS),
        _insert("events", _E_COLS),
    )
    sql_s, sql_a = _insert("weapon_states", _S_COLS), _insert("audit_entries", _A_COLS)
    job = new_id()
    seq = con.execute("SELECT next_seq FROM audit_log_state WHERE id = 1").fetchone()[0]
    sql_s_total = 0.0
    t_start = time.perf_counter()
    t = time.perf_counter()
    con.execute("BEGIN")
    con.execute(
        "INSERT INTO import_jobs (id, source_name, source_sha256, format, custody_of_org_id, started_at, "
        "finished_at, started_by, rows_total, rows_imported, rows_rejected) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (job.hex, "baseline", "0" * 64, "csv", None, _sql_time(datetime.now(UTC)), None, ACTOR, n, n, 0),
    )
    sql_s_total += time.perf_counter() - t
    records = generate.records(n, seed)
    while chunk := [r for _, r in zip(range(BATCH), records, strict=False)]:
        now = datetime.now(UTC)
        now_sql, now_iso = _sql_time(now), now.isoformat()
        ws, ms, es, ss, aus = [], [], [], [], []
        for r in chunk:
            # The same id scheme as the registry (time-ordered UUIDv7), so both sides pay the same index cost.
            wid, mid, eid = new_id(), new_id(), new_id()
            serial_key = key(r.serial)
            make = r.make.strip()
            w = (
                wid.hex,
                r.category,
                r.maker_code,
                make,
                r.model,
                r.calibre_code,
                r.serial,
                serial_key,
                r.country,
                r.year,
                r.frame_material,
                r.mark_carrier or None,
                "",
                f"{key(r.maker_code)}|{r.country}|{serial_key}",
                now_sql,
                ACTOR,
                job.hex,
            )
            text = r.mark_text or f"{make} {r.country} {r.serial}"
            m = (
                mid.hex,
                wid.hex,
                None,
                "manufacture",
                "frame",
                1,
                text,
                key(text),
                make,
                r.country,
                serial_key,
                r.year,
                None,
                None,
                "stamp",
                None,
                1,
                1,
                1,
                1,
                1,
                "intact",
                None,
                None,
                None,
                None,
                0,
                now_sql,
                ACTOR,
            )
            occurred = _sql_time(r.occurred)
            e = (eid.hex, wid.hex, 1, "manufactured", occurred, now_sql, ACTOR)
            e += (None, None, None, None, None, None, None, "[]", "{}", "", None, None)
            s = (wid.hex, "active", None, None, None, None, 0, 0, None, "{}", 1, occurred, now_sql)
            body, leaf = audit_entry(seq, now_iso, job, (wid, mid, eid), (w, m, e))
            a = (seq, now_sql, ACTOR, "weapon.imported", f"weapon:{wid}", body, leaf)
            seq += 1
            ws.append(w)
            ms.append(m)
            es.append(e)
            ss.append(s)
            aus.append(a)
        t = time.perf_counter()
        con.executemany(sql_w, ws)
        con.executemany(sql_m, ms)
        con.executemany(sql_e, es)
        con.executemany(sql_s, ss)
        con.executemany(sql_a, aus)
        sql_s_total += time.perf_counter() - t
    t = time.perf_counter()
    con.execute("UPDATE audit_log_state SET next_seq = ? WHERE id = 1", (seq,))
    con.execute("COMMIT")
    sql_s_total += time.perf_counter() - t
    total = time.perf_counter() - t_start
    con.close()
    return baseline_figures(n, sql_s_total, total)


# --- b. equivalence of the baseline's rows and the import's -----------------------------------------------

# Columns that differ by nature between two runs (fresh ids, clocks): compared by type and length only.
_VOLATILE = {
    "id",
    "weapon_id",
    "import_job_id",
    "registered_at",
    "recorded_at",
    "updated_at",
}


def compare_rows(imported: Path, baseline: Path) -> dict[str, Any]:
    """Match every imported weapon to the baseline's by uniqueness key and compare every column of its rows
    in weapons, markings, events and weapon_states (values, and SQLite storage types)."""
    con = sqlite3.connect(imported)
    con.execute("ATTACH DATABASE ? AS b", (str(baseline),))
    out: dict[str, Any] = {}
    joins = {
        "weapons": "",
        "markings": "JOIN main.markings x ON x.weapon_id = w.id JOIN b.markings y ON y.weapon_id = v.id",
        "events": "JOIN main.events x ON x.weapon_id = w.id JOIN b.events y ON y.weapon_id = v.id",
        "weapon_states": "JOIN main.weapon_states x ON x.weapon_id = w.id "
        "JOIN b.weapon_states y ON y.weapon_id = v.id",
    }
    for table, join in joins.items():
        cols = [r[1] for r in con.execute(f"PRAGMA main.table_info({table})")]
        x, y = ("w", "v") if table == "weapons" else ("x", "y")
        checks = []
        for c in cols:
            if c in _VOLATILE:
                cond = f"typeof({x}.{c}) IS NOT typeof({y}.{c}) OR length({x}.{c}) IS NOT length({y}.{c})"
            else:
                cond = f"{x}.{c} IS NOT {y}.{c} OR typeof({x}.{c}) IS NOT typeof({y}.{c})"
            checks.append(f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END)")
        sql = (
            f"SELECT COUNT(*), {', '.join(checks)} FROM main.weapons w "
            f"JOIN b.weapons v ON v.uniqueness_key = w.uniqueness_key {join}"
        )
        row = con.execute(sql).fetchone()
        counts = {
            "import": con.execute(f"SELECT COUNT(*) FROM main.{table}").fetchone()[0],
            "baseline": con.execute(f"SELECT COUNT(*) FROM b.{table}").fetchone()[0],
        }
        out[table] = {
            "rows": counts,
            "matched": row[0],
            "differing_columns": {c: n for c, n in zip(cols, row[1:], strict=True) if n},
        }
    audit = {}
    for schema in ("main", "b"):
        audit[schema] = con.execute(
            f"SELECT COUNT(*), AVG(LENGTH(body)), MIN(LENGTH(leaf_hash)), MAX(LENGTH(leaf_hash)), "
            f"MIN(typeof(body)) FROM {schema}.audit_entries WHERE action = 'weapon.imported'"
        ).fetchone()
    out["audit_entries"] = {"import": audit["main"], "baseline": audit["b"]}
    con.close()
    out["identical"] = all(
        not v["differing_columns"] and v["matched"] == v["rows"]["import"] == v["rows"]["baseline"]
        for k, v in out.items()
        if k != "audit_entries"
    )
    return out


# --- c. the bare hashlib Merkle root ----------------------------------------------------------------------


def _bare_root(leaves: list[bytes]) -> bytes:
    sha = hashlib.sha256
    level = leaves
    while len(level) > 1:
        it = iter(level)
        upper = [sha(b"\x01" + left + right).digest() for left, right in zip(it, it, strict=False)]
        if len(level) & 1:
            upper.append(level[-1])
        level = upper
    return level[0] if level else sha(b"").digest()


def _check_merkle_against_registry() -> None:
    """The bare baseline computes the registry's root (RFC 9162), for every size up to 70 and a few more."""
    from registry.audit import merkle

    rng = random.Random(0)
    for size in [*range(71), 1000, 1023, 1025]:
        leaves = [merkle.leaf_hash(rng.randbytes(300)) for _ in range(size)]
        if _bare_root(leaves) != merkle.root(leaves):
            raise AssertionError(f"bare Merkle root differs from registry.audit.merkle.root at size {size}")


def merkle_baseline(n: int, leaf_bytes: int = 300, seed: int = 1) -> dict[str, Any]:
    """RFC 9162 Merkle Tree Hash over n leaves of `leaf_bytes` random bytes: leaf = sha256(0x00||data),
    node = sha256(0x01||left||right), a right-hand node without a partner moves up unchanged. Timed from
    the leaf data in memory to the root."""
    _check_merkle_against_registry()
    rng = random.Random(seed)
    blob = b"".join(
        rng.randbytes(min(1 << 20, n * leaf_bytes - i)) for i in range(0, n * leaf_bytes, 1 << 20)
    )
    sha = hashlib.sha256
    t0 = time.perf_counter()
    level = [sha(b"\x00" + blob[i : i + leaf_bytes]).digest() for i in range(0, n * leaf_bytes, leaf_bytes)]
    t_leaves = time.perf_counter() - t0
    root = _bare_root(level)
    elapsed = time.perf_counter() - t0
    return {
        "leaves": n,
        "leaf_bytes": leaf_bytes,
        "seconds": elapsed,
        "leaf_hashing_s": t_leaves,
        "leaves_per_s": n / elapsed,
        "root": root.hex(),
    }


# --- d. exact look-up -------------------------------------------------------------------------------------


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def lookup_sample(db: Path, n: int, count: int, seed: int) -> list[tuple[str, str, str]]:
    """(weapon id hex, query, kind) for `count` random weapons: 3 in 4 by serial (some typed in lower case
    or with spaces), 1 in 4 by the full text of the manufacture mark."""
    from bench import steps

    rng = random.Random(seed)
    rowids = rng.sample(range(1, n + 1), min(count, n))
    con = sqlite3.connect(db)
    rows = []
    for i in range(0, len(rowids), 500):
        chunk = rowids[i : i + 500]
        rows += con.execute(
            "SELECT w.id, w.serial, m.text FROM weapons w JOIN markings m ON m.weapon_id = w.id "
            f"WHERE w.rowid IN ({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    con.close()
    rng.shuffle(rows)
    return steps.lookup_queries(rows)


def lookups(
    db: Path, sample: list[tuple[str, str, str]], *, budget_s: float, warmup: int = 20
) -> dict[str, Any]:
    """`find_by_mark` in-process (`steps.time_find_by_mark`), with SQLite's plan for each statement."""
    from bench import steps
    from registry.db import make_engine

    engine = make_engine(f"sqlite:///{db}")
    times, misses, statements = steps.time_find_by_mark(engine, sample, budget_s=budget_s, warmup=warmup)
    engine.dispose()
    plans = []
    con = sqlite3.connect(db)
    for stmt, _params in statements:
        if not stmt.lstrip().upper().startswith("SELECT"):
            continue
        params = ["X"] * stmt.count("?")
        plan = [r[3] for r in con.execute(f"EXPLAIN QUERY PLAN {stmt}", params)]
        plans.append({"sql": " ".join(stmt.split()), "plan": plan})
    con.close()
    return steps.lookup_figures(times, misses, planned=len(sample) - warmup, budget_s=budget_s, plans=plans)


# --- e. machine, report -----------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import sqlalchemy

    cpu = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = None
    with contextlib.suppress(OSError), open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether registry code differed from it (other work in the same checkout)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    changed = git("status", "--porcelain", "--", "registry", "cli")
    return {"commit": git("rev-parse", "--short", "HEAD"), "registry_or_cli_modified": bool(changed)}


def registry_changed(start: dict[str, Any], end: dict[str, Any]) -> bool:
    """Whether registry/ or cli/ differ between the commits at the start and at the end of a run."""
    if start["registry_or_cli_modified"] or end["registry_or_cli_modified"]:
        return True
    if start["commit"] == end["commit"]:
        return False
    diff = subprocess.run(
        ["git", "diff", "--name-only", start["commit"], end["commit"], "--", "registry", "cli"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return diff.returncode != 0 or bool(diff.stdout.strip())


def _step(name: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}", flush=True)


def run(args: argparse.Namespace, results: dict[str, Any]) -> dict[str, Any]:
    """Fill `results` step by step (so the caller keeps whatever was measured if a step fails)."""
    from bench import steps  # here, not at the top: bench.steps imports this module

    n, seed = args.weapons, args.seed
    small = max(1, n // 10)
    work = Path(tempfile.mkdtemp(prefix="iti-bench-", dir=args.workdir))
    results |= steps.header(args, machine())
    with steps.cleaned_up(work, keep=args.keep):
        csv_full, csv_small = steps.write_csv_files(results, work, n, small, seed)

        # Each database is made just before its step: other work on the registry may add a migration while
        # a long run goes on, and a database made earlier would then no longer be at the current schema.
        _step("a. baseline: sqlite3 executemany (fresh database from iti db upgrade)")
        db_base = fresh_db(work / "baseline.db")
        results["baseline"] = base = baseline_insert(db_base, n, seed)
        steps.print_baseline(base)

        results["import"] = imports = {}
        db_full = work / "import.db"
        for label, path, db, rows in (
            ("small", csv_small, work / "import-small.db", small),
            ("full", csv_full, db_full, n),
        ):
            _step(f"b. iti import ({rows:,} rows, fresh database from iti db upgrade)")
            fresh_db(db)
            child = steps.run_import(path, rows, iti_env(db), work / f"import-{label}.log")
            imports[label] = steps.import_figures(child, rows)
            print(steps.import_summary(child, rows))

        steps.import_ratios(results)
        results["db_bytes"] = db_full.stat().st_size

        _step("b'. every imported row against the baseline's (SQL join on the uniqueness key)")
        steps.timed_equivalence(results, lambda: compare_rows(db_full, db_base))
        if not args.keep:
            db_base.unlink()
            for p in work.glob("baseline.db-*"):
                p.unlink()

        steps.verify_and_merkle(results, iti_env(db_full), work, n, seed)

        _step("d. find_by_mark")
        sample = lookup_sample(db_full, n, args.lookups + 20, seed)
        results["lookup"] = lk = lookups(db_full, sample, budget_s=args.lookup_budget)
        print(steps.lookup_summary(lk))
        if args.what_if_index:
            _step("d'. what if markings.serial had an index (on this throw-away copy only)")
            con = sqlite3.connect(db_full)
            t0 = time.perf_counter()
            con.execute("CREATE INDEX bench_what_if_markings_serial ON markings (serial)")
            con.commit()
            con.close()
            lk2 = lookups(db_full, sample, budget_s=args.lookup_budget)
            lk2["index_build_s"] = time.perf_counter() - t0
            results["lookup_what_if_index"] = lk2
            print(f"   median {lk2['median_ms']:.2f} ms, p99 {lk2['p99_ms']:.2f} ms")

        if args.http:
            _step("f. HTTP load on the imported database (python -m bench.http_load, child process)")
            http_json = work / "http.json"
            subprocess.run(
                [
                    *(sys.executable, "-m", "bench.http_load", "--weapons", str(n), "--seed", str(seed)),
                    *("--db", str(db_full), "--json", str(http_json), "--workdir", str(work)),
                    *(("--out", str(args.out)) if args.out else ()),
                ],
                check=True,
                cwd=REPO,
            )
            results["http"] = json.loads(http_json.read_text())

        if args.profile_weapons:
            for what in ("import", "verify"):
                _step(f"profile of {what} at {args.profile_weapons:,} weapons (cProfile, child process)")
                prof_json = work / f"profile-{what}.json"
                subprocess.run(
                    [
                        *(sys.executable, "-m", "bench.profile", "--what", what),
                        *("--weapons", str(args.profile_weapons), "--seed", str(seed)),
                        *("--json", str(prof_json), "--workdir", str(work)),
                    ],
                    check=True,
                    cwd=REPO,
                )
                results[f"profile_{what}"] = json.loads(prof_json.read_text())
        steps.finish(results)
    return results


# --- report -----------------------------------------------------------------------------------------------

TARGETS = {
    "import_ratio": 1 / 3,
    "import_ratio_aim": 1 / 2,
    "rss_mb": 300,
    "verify_s": 10,
    "lookup_median_ms": 2,
}


def _series(values: list[float | None]) -> str:
    return "[" + ", ".join("–" if v is None else f"{v:.0f}" for v in values) + "]"


def _mark(ok: bool) -> str:
    return "met" if ok else "**missed**"


def markdown(r: dict[str, Any]) -> str:
    from bench import steps

    m, b, imp, v = r["machine"], r["baseline"], r["import"], r["verify"]
    mb, lk = r["merkle_baseline"], r["lookup"]
    n = r["weapons"]
    full, small = imp["full"], imp["small"]
    peak = max(full["peak_rss_mb"], small["peak_rss_mb"])
    growth = full["peak_rss_mb"] - small["peak_rss_mb"]
    eq = r["equivalence"]
    lines = [
        f"Run of {r['date']}: {n:,} weapons, seed {r['seed']}, `{r['command']}`.",
        "",
        f"Code: commit {r['code_at_start']['commit']}"
        + (
            " with uncommitted changes to registry/ or cli/"
            if r["code_at_start"]["registry_or_cli_modified"]
            else ""
        )
        + (
            f"; the checkout moved to {r['code_at_end']['commit']} during the run, "
            + (
                "**with changes to registry/ or cli/: figures may mix two versions**"
                if r.get("registry_changed_during_run")
                else "with no change to registry/ or cli/ (only other files)"
            )
            if r.get("code_at_end") and r["code_at_end"] != r["code_at_start"]
            else ""
        )
        + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}. {steps.loadavg_text(m)}",
        "",
        "| Figure | Value | Target | |",
        "|---|---|---|---|",
        f"| Baseline: `sqlite3` `executemany`, SQL time only | {b['weapons_per_s']:,.0f} weapons/s "
        f"({b['sql_s']:.1f} s) | | |",
        f"| Baseline including building the rows in Python | {b['weapons_per_s_incl_build']:,.0f} weapons/s "
        f"({b['total_s']:.1f} s) | | |",
        f"| `iti import`, {n:,} rows | {full['weapons_per_s']:,.0f} weapons/s ({full['wall_s']:.1f} s) | | |",
        f"| Import rate ÷ baseline rate (SQL time) | {r['import_ratio']:.2f} | ≥ 0.33 (aim 0.5) "
        f"| {_mark(r['import_ratio'] >= TARGETS['import_ratio'])} |",
        f"| Import rate ÷ baseline rate (incl. building rows) | {r['import_ratio_incl_build']:.2f} | | |",
        f"| Peak RSS of `iti import`, {small['weapons']:,} rows | {small['peak_rss_mb']:.0f} MB | < 300 MB "
        f"| {_mark(small['peak_rss_mb'] < TARGETS['rss_mb'])} |",
        f"| Peak RSS of `iti import`, {n:,} rows | {full['peak_rss_mb']:.0f} MB | < 300 MB "
        f"| {_mark(full['peak_rss_mb'] < TARGETS['rss_mb'])} |",
        f"| Growth of peak RSS from {small['weapons']:,} to {n:,} rows | +{growth:.0f} MB "
        f"(≈ {1024 * 1024 * growth / max(1, n - small['weapons']):.0f} bytes per extra row) | flat (< 10 %) "
        f"| {_mark(growth < 0.1 * small['peak_rss_mb'])} |",
        f"| `iti audit verify` ({v['records']['entries']:,} entries, {v['records']['records']:,} rows) "
        f"| {v['records']['wall_s']:.1f} s, {v['records']['entries_per_s']:,.0f} entries/s | < 10 s "
        f"| {_mark(v['records']['wall_s'] < TARGETS['verify_s'])} |",
        f"| `iti audit verify --no-records` | {v['log_only']['wall_s']:.1f} s, "
        f"{v['log_only']['entries_per_s']:,.0f} entries/s | | |",
        f"| Peak RSS of `iti audit verify` (with records / log only) | {v['records']['peak_rss_mb']:.0f} MB / "
        f"{v['log_only']['peak_rss_mb']:.0f} MB | | |",
        f"| Bare hashlib Merkle root, {mb['leaves']:,} leaves of {mb['leaf_bytes']} B | {mb['seconds']:.2f} s, "
        f"{mb['leaves_per_s']:,.0f} leaves/s | | |",
        f"| verify ÷ hashlib (with records / log only) | {v['records']['ratio_to_hashlib']:.1f}× / "
        f"{v['log_only']['ratio_to_hashlib']:.1f}× | | |",
        f"| `find_by_mark`, {lk['lookups']:,} look-ups, median | {lk['median_ms']:.2f} ms | < 2 ms "
        f"| {_mark(lk['median_ms'] < TARGETS['lookup_median_ms'])} |",
        f"| `find_by_mark`, p99 | {lk['p99_ms']:.2f} ms | | |",
    ]
    if "lookup_what_if_index" in r:
        w = r["lookup_what_if_index"]
        lines.append(
            f"| `find_by_mark` with an index on `markings.serial` (diagnostic) | median {w['median_ms']:.2f} ms, "
            f"p99 {w['p99_ms']:.2f} ms | | |"
        )
    lines += [
        "",
        f"Peak RSS over the run, highest sample in each tenth of the import (MB): "
        f"{small['weapons']:,} rows {_series(small['rss_by_tenth_mb'])}; "
        f"{n:,} rows {_series(full['rss_by_tenth_mb'])}. "
        f"Highest of both: {peak:.0f} MB.",
        "",
        f"Same rows: every imported weapon matched the baseline's by uniqueness key and every column of "
        f"weapons, markings, events and weapon_states compared equal (ids and clock times by type and "
        f"length): **{'yes' if eq['identical'] else 'NO'}**"
        + ("" if eq["identical"] else f" — {json.dumps({k: v for k, v in eq.items() if k != 'seconds'})}")
        + steps.audit_bodies_text(eq),
        "",
        steps.lookups_by_kind_text(lk),
    ]
    if lk["lookups"] < lk["planned"]:
        lines.append(
            f"The look-ups stopped at the {lk['budget_s']:.0f} s budget after {lk['lookups']} of {lk['planned']}."
        )
    lines += ["", "Statements of one look-up and SQLite's plan for each:", ""]
    for s in lk["statements"]:
        lines.append(f"- `{s['sql']}` — {'; '.join(s['plan'])}")
    if "lookup_what_if_index" in r:
        w = r["lookup_what_if_index"]
        lines += [
            "",
            f"With the diagnostic index (built in {w['index_build_s']:.1f} s, {w['lookups']:,} look-ups), the "
            f"first statement's plan becomes: {'; '.join(w['statements'][0]['plan'])}.",
        ]
    for what, fn in (("import", "import_file"), ("verify", "checker.verify")):
        p = r.get(f"profile_{what}")
        if not p:
            continue
        lines += [
            "",
            f"Profile of `{fn}` over {p['weapons']:,} weapons (cProfile; {p['seconds']:.1f} s under the "
            f"profiler, which slows pure-Python code most), top functions by own time:",
            "",
            "| tottime s | % | cumtime s | calls | function |",
            "|---:|---:|---:|---:|---|",
        ]
        for f in p["top"]:
            lines.append(
                f"| {f['tottime']:.2f} | {100 * f['tottime'] / p['total_tt']:.1f} | {f['cumtime']:.2f} "
                f"| {f['calls']:,} | `{f['function']}` |"
            )
    return "\n".join(lines) + "\n"


def write_doc(path: Path, block: str, markers: tuple[str, str] = MARKERS) -> None:
    begin, end = markers
    body = f"{begin}\n{block}{end}"
    if path.exists():
        text = path.read_text(encoding="utf-8")
        if begin in text and end in text:
            text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: body, text, flags=re.S)
        else:
            text = text.rstrip("\n") + "\n\n" + body + "\n"
    else:
        text = f"# Performance\n\n{body}\n"
    path.write_text(text, encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(type(value).__name__)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weapons", type=int, default=20_000)
    p.add_argument(
        "--db", choices=("sqlite", "postgresql"), default="sqlite", help="Database to run on (default sqlite)"
    )
    p.add_argument(
        "--dbname",
        default="iti_bench_run",
        help="PostgreSQL: database of the import; the baseline's gets _baseline appended (iti_bench_* only)",
    )
    p.add_argument(
        "--no-compare",
        dest="compare",
        action="store_false",
        help="PostgreSQL: skip comparing every imported row with the baseline's",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="Markdown file whose results block to replace")
    p.add_argument(
        "--json",
        type=Path,
        help="JSON file (default: bench/results/DATE-WEAPONS.json, or DATE-postgresql-WEAPONS.json)",
    )
    p.add_argument("--lookups", type=int, default=2000)
    p.add_argument("--lookup-budget", type=float, default=120.0, help="Seconds at most for the look-ups")
    p.add_argument(
        "--what-if-index", action="store_true", help="Also time look-ups with markings.serial indexed"
    )
    p.add_argument(
        "--profile-weapons",
        type=int,
        default=0,
        help="Also profile an import and an audit verify of this many weapons (cProfile)",
    )
    p.add_argument(
        "--http", action="store_true", help="Also load the HTTP API with wrk (bench.http_load) on the import"
    )
    p.add_argument(
        "--history",
        action="store_true",
        help="PostgreSQL: also add 1–20-event histories through the registry's service (bench.history) and "
        "measure the size per table, per index and per event",
    )
    p.add_argument("--workdir", type=Path, help="Where to make the temporary folder (default: system temp)")
    p.add_argument("--keep", action="store_true", help="Keep the files (CSV, databases, logs)")
    p.add_argument(
        "--render", type=Path, metavar="JSON", help="Only re-render --out from a saved results file"
    )
    args = p.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text(encoding="utf-8"))
        if "code_at_end" in saved and "registry_changed_during_run" not in saved:
            saved["registry_changed_during_run"] = registry_changed(
                saved["code_at_start"], saved["code_at_end"]
            )
            args.render.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        if saved.get("db") == "postgresql":
            from bench import run_pg

            block = run_pg.markdown(saved)
            if args.out:
                write_doc(args.out, block, run_pg.MARKERS)
            print(block)
            return
        block = markdown(saved)
        if args.out:
            write_doc(args.out, block)
        print(block)
        return
    if args.db == "postgresql":
        run_postgresql(args)
        return
    if args.history:
        raise SystemExit("--history is only available with --db postgresql")
    run_and_write(args, run, markdown, MARKERS, file_label="")


def run_postgresql(args: argparse.Namespace) -> None:
    from bench import run_pg

    unsupported = [o for o, on in (("--http", args.http), ("--what-if-index", args.what_if_index)) if on]
    if unsupported or args.profile_weapons:
        raise SystemExit(
            f"not available with --db postgresql: {', '.join(unsupported) or '--profile-weapons'}"
        )
    run_and_write(args, run_pg.run, run_pg.markdown, run_pg.MARKERS, file_label="postgresql-")


def run_and_write(
    args: argparse.Namespace,
    run_suite: Callable[[argparse.Namespace, dict[str, Any]], Any],
    render: Callable[[dict[str, Any]], str],
    markers: tuple[str, str],
    *,
    file_label: str,
) -> None:
    """Run one backend's suite, then write its JSON results (bench/results/DATE-<file_label>WEAPONS.json by
    default) and print its Markdown block (and put it in --out)."""
    results: dict[str, Any] = {}
    try:
        run_suite(args, results)
    except BaseException as exc:
        # A long run that fails late still leaves what it measured, for the record and for debugging.
        results["error"] = repr(exc)
        partial = Path(tempfile.gettempdir()) / f"iti-bench-partial-{file_label}{args.weapons}.json"
        partial.write_text(json.dumps(results, indent=2, default=_jsonable) + "\n", encoding="utf-8")
        print(f"failed; partial results in {partial}", file=sys.stderr)
        raise
    out_json = args.json or REPO / "bench" / "results" / f"{results['date']}-{file_label}{args.weapons}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    block = render(results)
    print(block)
    if args.out:
        write_doc(args.out, block, markers)
    print(f"wrote {out_json}" + (f" and {args.out}" if args.out else ""))


if __name__ == "__main__":
    main()
