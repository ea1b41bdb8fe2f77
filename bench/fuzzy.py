"""Fuzzy serial search at national scale: the matcher against pg_trgm baselines, over damaged readings.

    python -m bench.fuzzy --size 10000000 --db postgresql --keep --out docs/performance.md
    python -m bench.fuzzy --size 1000000 --db sqlite --out docs/performance.md

1. **Load** N synthetic weapons (`bench.generate`: each maker's serial format) into a database made by
   `iti db upgrade`: one row in `weapons`, one manufacture marking in `markings` and the matcher's rows in
   `serial_skeletons` per weapon. Only what the search reads is loaded (no events, states or audit entries:
   this measures search, not the registration rules, which `bench.run` measures).
   - PostgreSQL: the secondary indexes of the three tables are dropped, the rows streamed with COPY on three
     connections (`session_replication_role = replica`, so neither the foreign-key checks nor the skeleton
     triggers run per row; the skeleton rows are computed by `tracing.matching.skeleton`, the function the
     triggers are proven equal to), then the dropped indexes are rebuilt from their own definitions,
     `pg_trgm` and a GIN trigram index on `weapons.serial_key` are created for the baselines, and the
     tables are vacuumed and analysed. `--skeletons trigger` lets the triggers fill `serial_skeletons`
     instead (and keeps the foreign-key checks), to measure that path.
   - SQLite: `executemany` in one transaction with every index and trigger in place (the triggers fill
     `serial_skeletons`).
2. **Queries**: a seeded set of damaged readings of registered serials (the normalised serial, letters and
   digits), in eleven kinds: one or two unreadable characters (`?`), one look-alike substitution (0/O/D/Q,
   1/I/L/7, 2/Z, 5/S, 6/G, 8/B), one transposition of neighbours, and their combinations; the damaged
   positions never overlap.
3. **Measure**, query by query in the same order, after a warm-up on other readings: the matcher
   (`tracing.matching.service.find_candidates(limit=5)`, in-process), and on PostgreSQL the two baselines:
   a `pg_trgm`-indexed `LIKE` with the unreadable positions as `_` (`LIMIT 5`), and `pg_trgm` similarity
   (`%` filter, `<->` order, `LIMIT 5`). A hit is the right weapon (by id) among the five returned.
4. **Report**: recall@5 and latency p50/p99 per kind and overall, load timings, the plans of the hot
   statements, machine; JSON under bench/results/ and, with `--out`, a block of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import generate
from bench.run import REPO, code_version, iti_command, machine
from registry.db import new_id
from tracing.matching.skeleton import CONFUSABLE_CLASSES, SKELETON_MAP, reversed_tail

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DBNAME = "iti_bench_fuzzy"
ACTOR = "bench"
CHUNK = 20_000  # rows per COPY write / executemany
TRGM_INDEX = "ix_bench_weapons_serial_key_trgm"
STATEMENT_TIMEOUT_MS = 10_000  # a baseline query that takes longer counts as a miss at this latency
_SKEL = str.maketrans(SKELETON_MAP)
_CLASS = {c: cls for cls in CONFUSABLE_CLASSES for c in cls}

# The damage kinds: (unreadable characters, look-alike substitution, transposition).
KINDS: dict[str, tuple[int, bool, bool]] = {
    "1 unreadable": (1, False, False),
    "2 unreadable": (2, False, False),
    "look-alike": (0, True, False),
    "transposition": (0, False, True),
    "1 unreadable + look-alike": (1, True, False),
    "1 unreadable + transposition": (1, False, True),
    "look-alike + transposition": (0, True, True),
    "2 unreadable + look-alike": (2, True, False),
    "2 unreadable + transposition": (2, False, True),
    "1 unreadable + look-alike + transposition": (1, True, True),
    "2 unreadable + look-alike + transposition": (2, True, True),
}


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# --- what is loaded -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A registered weapon a damaged reading is made from."""

    index: int  # its place in the generated stream
    weapon_id: str
    serial_key: str
    maker: str


@dataclass(frozen=True)
class Rows:
    weapon: tuple[Any, ...]
    marking: tuple[Any, ...]
    skeletons: list[tuple[Any, ...]]


def _rows(
    r: generate.Record, now: str, bool_: Callable[[bool], Any], ids: Callable[[uuid.UUID], Any]
) -> Rows:
    key = generate.text_key
    wid, mid = new_id(), new_id()
    serial_key = key(r.serial)
    make = r.make.strip()
    text = r.mark_text or f"{make} {r.country} {r.serial}"  # what the registry composes when none is given
    text_key = key(text)
    weapon = (
        ids(wid), r.category, r.maker_code, make, r.model, r.calibre_code, r.serial, serial_key, r.country,
        r.year, r.frame_material, r.mark_carrier or None, "", f"{key(r.maker_code)}|{r.country}|{serial_key}",
        now, ACTOR,
    )  # fmt: skip
    marking = (
        ids(mid), ids(wid), "manufacture", "frame", bool_(True), text, text_key, make, r.country, serial_key,
        r.year, "stamp", bool_(True), bool_(True), bool_(True), bool_(True), bool_(True), "intact",
        bool_(False), now, ACTOR,
    )  # fmt: skip
    # What the markings trigger writes: the mark's serial and, when it differs, its whole text (the weapon's
    # own serial row is replaced by the mark's serial row, as the trigger does).
    skels = []
    for source, k in (("mark_serial", serial_key), ("mark_text", text_key)):
        if source == "mark_text" and k == serial_key:
            continue
        s = k.translate(_SKEL)
        skels.append((ids(mid), source, ids(wid), k, len(k), s, reversed_tail(s)))
    return Rows(weapon, marking, skels)


W_COLS = (
    "id, category, manufacturer_code, make, model, calibre, serial, serial_key, country_of_manufacture, "
    "year_of_manufacture, frame_material, mark_carrier, description, uniqueness_key, registered_at, registered_by"
)
M_COLS = (
    "id, weapon_id, kind, component_kind, is_primary, text, text_key, manufacturer, country, serial, year, "
    "method, exposed_surface, conspicuous, readable, durable, recoverable, condition, verified, recorded_at, "
    "recorded_by"
)
S_COLS = "source_id, source, weapon_id, key, skel_len, skeleton, skeleton_rev"


def pick_indices(n: int, count: int, seed: int) -> set[int]:
    rng = random.Random(f"fuzzy-targets-{seed}")
    return set(rng.sample(range(n), min(n, count)))


def _copy_field(v: Any) -> str:
    if v is None:
        return "\\N"
    s = str(v)
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def _copy_line(row: Sequence[Any]) -> str:
    return "\t".join(_copy_field(v) for v in row) + "\n"


# --- PostgreSQL ---------------------------------------------------------------------------------------------


def pg_url(dbname: str, *, driver: bool = False) -> str:
    server = PG_SERVER.replace("postgresql://", "postgresql+psycopg://") if driver else PG_SERVER
    return f"{server}/{dbname}"


def iti_env(url: str, var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITI_")}
    env.update(
        ITI_DATABASE_URL=url,
        ITI_VAR_DIR=str(var),
        ITI_AUDIT_KEY_PASSPHRASE="bench",  # noqa: S106 - a throw-away key for a throw-away database
        ITI_ACTOR=ACTOR,
    )
    return env


def pg_recreate(dbname: str) -> None:
    import psycopg

    if not dbname.startswith("iti_bench_"):
        raise SystemExit("the benchmark only drops databases named iti_bench_*")
    with psycopg.connect(pg_url("postgres"), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{dbname}"')


def pg_drop(dbname: str) -> None:
    import psycopg

    if dbname.startswith("iti_bench_"):
        with psycopg.connect(pg_url("postgres"), autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def pg_load(
    dbname: str, n: int, seed: int, wanted: set[int], *, skeletons: str, work: Path
) -> dict[str, Any]:
    import psycopg

    out: dict[str, Any] = {"method": f"COPY, skeletons by {skeletons}"}
    t0 = time.perf_counter()
    pg_recreate(dbname)
    subprocess.run(
        [*iti_command(), "db", "upgrade"],
        env=iti_env(pg_url(dbname, driver=True), work / "var"),
        check=True,
        capture_output=True,
    )
    out["upgrade_s"] = time.perf_counter() - t0
    tables = ("weapons", "markings", "serial_skeletons")
    with psycopg.connect(pg_url(dbname), autocommit=True) as con:
        # Secondary indexes and unique constraints, dropped for the load and rebuilt from their definitions.
        cons = con.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'u' AND c.conrelid::regclass::text = ANY(%s)",
            [list(tables)],
        ).fetchall()
        idx = con.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [list(tables)],
        ).fetchall()
        for table, name, _ in cons:
            con.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in idx:
            con.execute(f'DROP INDEX "{name}"')
    out["rebuilt_indexes"] = [d for _, d in idx] + [f"{t} {n}: {d}" for t, n, d in cons]

    targets: list[Target] = []
    t1 = time.perf_counter()
    now = datetime.now(UTC).isoformat()

    def stream() -> Iterator[tuple[str, str, list[str]]]:
        for i, r in enumerate(generate.records(n, seed)):
            rows = _rows(r, now, lambda b: "t" if b else "f", str)
            if i in wanted:
                targets.append(Target(i, rows.weapon[0], rows.weapon[7], r.maker_code))
            if (i + 1) % 1_000_000 == 0:
                log(f"  {i + 1:,} rows streamed, {time.perf_counter() - t1:.0f} s")
            yield _copy_line(rows.weapon), _copy_line(rows.marking), [_copy_line(s) for s in rows.skeletons]

    if skeletons == "copy":
        # Three tables at once on three connections: the generator keeps one core busy, the server the other.
        conns = [psycopg.connect(pg_url(dbname)) for _ in range(3)]
        try:
            for c in conns:
                c.execute("SET session_replication_role = replica")
            cur_w, cur_m, cur_s = (c.cursor() for c in conns)
            with (
                cur_w.copy(f"COPY weapons ({W_COLS}) FROM STDIN") as cw,
                cur_m.copy(f"COPY markings ({M_COLS}) FROM STDIN") as cm,
                cur_s.copy(f"COPY serial_skeletons ({S_COLS}) FROM STDIN") as cs,
            ):
                ws: list[str] = []
                ms: list[str] = []
                ss: list[str] = []
                for w, m, sk in stream():
                    ws.append(w)
                    ms.append(m)
                    ss.extend(sk)
                    if len(ws) >= CHUNK:
                        cw.write("".join(ws).encode())
                        cm.write("".join(ms).encode())
                        cs.write("".join(ss).encode())
                        ws.clear(), ms.clear(), ss.clear()
                cw.write("".join(ws).encode())
                cm.write("".join(ms).encode())
                cs.write("".join(ss).encode())
            for c in conns:
                c.commit()
        finally:
            for c in conns:
                c.close()
    else:
        # The triggers' path: one transaction, weapons first (a marking's skeleton row refers to its weapon),
        # foreign keys checked. The marking lines wait in memory: for sizes that fit.
        with psycopg.connect(pg_url(dbname)) as con:
            cur = con.cursor()
            pending: list[str] = []
            with cur.copy(f"COPY weapons ({W_COLS}) FROM STDIN") as cw:
                ws = []
                for w, m, _ in stream():
                    ws.append(w)
                    pending.append(m)
                    if len(ws) >= CHUNK:
                        cw.write("".join(ws).encode())
                        ws.clear()
                cw.write("".join(ws).encode())
            with cur.copy(f"COPY markings ({M_COLS}) FROM STDIN") as cm:
                for i in range(0, len(pending), CHUNK):
                    cm.write("".join(pending[i : i + CHUNK]).encode())
            con.commit()
    out["copy_s"] = time.perf_counter() - t1
    log(f"  COPY done in {out['copy_s']:.0f} s")

    steps: dict[str, float] = {}
    with psycopg.connect(pg_url(dbname), autocommit=True) as con:
        con.execute("SET maintenance_work_mem = '1GB'")
        for table, name, definition in cons:
            t = time.perf_counter()
            con.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            steps[name] = time.perf_counter() - t
            log(f"  {name}: {steps[name]:.0f} s")
        for name, definition in idx:
            t = time.perf_counter()
            con.execute(definition)
            steps[name] = time.perf_counter() - t
            log(f"  {name}: {steps[name]:.0f} s")
        t = time.perf_counter()
        con.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        con.execute(f"CREATE INDEX {TRGM_INDEX} ON weapons USING gin (serial_key gin_trgm_ops)")
        out["trgm_index_s"] = time.perf_counter() - t
        log(f"  trigram index: {out['trgm_index_s']:.0f} s")
        t = time.perf_counter()
        for table in tables:
            con.execute(f"VACUUM (ANALYZE) {table}")
        out["vacuum_analyze_s"] = time.perf_counter() - t
        out["rows"] = {
            t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in tables
        }
        out["sizes_mb"] = {
            t: round(con.execute("SELECT pg_total_relation_size(%s)", [t]).fetchone()[0] / 2**20)  # type: ignore[index]
            for t in tables
        }
        out["database_mb"] = round(
            con.execute("SELECT pg_database_size(current_database())").fetchone()[0] / 2**20  # type: ignore[index]
        )
    out["index_s"] = steps
    out["total_s"] = time.perf_counter() - t0
    out["targets"] = [asdict(t) for t in targets]
    return out


# --- SQLite -------------------------------------------------------------------------------------------------


def _sql_time(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def sqlite_load(
    path: Path, n: int, seed: int, wanted: set[int], *, skeletons: str, work: Path
) -> dict[str, Any]:
    """As on PostgreSQL: secondary indexes (and, with `skeletons="copy"`, the skeleton triggers and the
    foreign-key checks) off for the load, the skeleton rows computed here, then everything recreated from
    its own `CREATE` statement. With `skeletons="trigger"`, the triggers fill `serial_skeletons`."""
    out: dict[str, Any] = {"method": f"executemany in one transaction, skeletons by {skeletons}"}
    t0 = time.perf_counter()
    path.unlink(missing_ok=True)
    subprocess.run(
        [*iti_command(), "db", "upgrade"],
        env=iti_env(f"sqlite:///{path}", work / "var"),
        check=True,
        capture_output=True,
    )
    out["upgrade_s"] = time.perf_counter() - t0
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA foreign_keys={'OFF' if skeletons == 'copy' else 'ON'}")
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    # A page cache that holds the transaction: otherwise SQLite spills dirty pages to the WAL mid-load.
    con.execute("PRAGMA cache_size=-2000000")
    tables = ("weapons", "markings", "serial_skeletons")
    dropped = con.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN (?, ?, ?) AND "
        "(type = 'index' OR (type = 'trigger' AND name LIKE '%skeleton%' AND ?))",
        (*tables, skeletons == "copy"),
    ).fetchall()
    for kind, name, _ in dropped:
        con.execute(f'DROP {kind.upper()} "{name}"')
    out["rebuilt"] = [sql for _, _, sql in dropped]
    t1 = time.perf_counter()
    targets: list[Target] = []
    now = _sql_time(datetime.now(UTC))

    def ins(table: str, cols: str) -> str:
        return f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * (cols.count(',') + 1))})"

    ins_w, ins_m, ins_s = ins("weapons", W_COLS), ins("markings", M_COLS), ins("serial_skeletons", S_COLS)
    con.execute("BEGIN")
    ws: list[tuple[Any, ...]] = []
    ms: list[tuple[Any, ...]] = []
    ss: list[tuple[Any, ...]] = []
    for i, r in enumerate(generate.records(n, seed)):
        rows = _rows(r, now, int, lambda u: u.hex)
        ws.append(rows.weapon)
        ms.append(rows.marking)
        if skeletons == "copy":
            ss.extend(rows.skeletons)
        if i in wanted:
            targets.append(Target(i, str(uuid.UUID(rows.weapon[0])), rows.weapon[7], r.maker_code))
        if len(ws) >= CHUNK:
            con.executemany(ins_w, ws)
            con.executemany(ins_m, ms)
            con.executemany(ins_s, ss)
            ws.clear(), ms.clear(), ss.clear()
            if (i + 1) % 100_000 == 0:
                log(f"  {i + 1:,} rows, {time.perf_counter() - t1:.0f} s")
    con.executemany(ins_w, ws)
    con.executemany(ins_m, ms)
    con.executemany(ins_s, ss)
    con.execute("COMMIT")
    out["insert_s"] = time.perf_counter() - t1
    log(f"  inserted in {out['insert_s']:.0f} s")
    steps: dict[str, float] = {}
    for _, name, sql in dropped:
        t = time.perf_counter()
        con.execute(sql)
        steps[name] = time.perf_counter() - t
    out["index_s"] = steps
    t = time.perf_counter()
    con.execute("ANALYZE")
    out["analyze_s"] = time.perf_counter() - t
    out["rows"] = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    con.close()
    out["database_mb"] = round(path.stat().st_size / 2**20)
    out["total_s"] = time.perf_counter() - t0
    out["targets"] = [asdict(t) for t in targets]
    return out


# --- damaged readings ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    kind: str
    observed: str
    serial_key: str
    weapon_id: str
    maker: str
    described: dict[str, str | None] | None = None  # make, model, calibre, category as a finder writes them
    marked: dict[str, Any] | None = None  # the same, with the country and year the marking carries


def described(readings_: list[Reading], matcher: Matcher, seed: int) -> list[Reading]:
    """Each reading with the weapon described as a trace request gives it (ITI 17(b)): its make, model and
    category as registered, written in another case, and its calibre in one of the forms officers use
    ("9mm Luger", "9x19mm", "9 mm Parabellum"), picked at random.

    `marked` adds what the rest of the marking says beside the serial: the country of manufacture and, where
    the marking carries it, the year (every generated marking does, as EU Directive 2017/853 and many
    national profiles require). A request reports "markings as observed" (ITI 17(b)), so a finder who
    reads the serial reads these too."""
    from dataclasses import replace

    from registry.reference.catalogue import load_calibres

    forms = {c.code: [c.code, c.name, *c.aliases] for c in load_calibres()}
    rng = random.Random(f"fuzzy-described-{seed}")
    records = matcher.registered([r.weapon_id for r in readings_])
    out = []
    for r in readings_:
        w = records[r.weapon_id]
        calibre = rng.choice(forms.get(w.calibre or "", [w.calibre])) if w.calibre else None
        make = rng.choice([w.make, w.make.title(), w.make.lower()])
        desc = {"make": make, "model": w.model, "calibre": calibre, "category": w.category}
        out.append(replace(r, described=desc, marked={**desc, "country": w.country, "year": w.year}))
    return out


def damage(key: str, unreadable: int, lookalike: bool, transpose: bool, rng: random.Random) -> str | None:
    """One reading of `key` with the damage asked for at distinct positions, or None if `key` cannot carry
    it (no look-alike character, no two different neighbours, too short)."""
    chars = list(key)
    used: set[int] = set()
    if transpose:
        opts = [
            i for i in range(len(chars) - 1) if chars[i].translate(_SKEL) != chars[i + 1].translate(_SKEL)
        ]
        if not opts:
            return None
        i = rng.choice(opts)
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
        used |= {i, i + 1}
    if lookalike:
        opts = [i for i, c in enumerate(chars) if i not in used and c in _CLASS]
        if not opts:
            return None
        i = rng.choice(opts)
        chars[i] = rng.choice([c for c in _CLASS[chars[i]] if c != chars[i]])
        used.add(i)
    for _ in range(unreadable):
        opts = [i for i in range(len(chars)) if i not in used]
        if len(opts) < 2:  # keep at least one character read
            return None
        i = rng.choice(opts)
        chars[i] = "?"
        used.add(i)
    return "".join(chars)


def readings(targets: list[Target], per_kind: int, seed: int) -> tuple[list[Reading], list[Reading]]:
    """`per_kind` readings of each kind, each of another weapon, and a warm-up set of other weapons."""
    rng = random.Random(f"fuzzy-readings-{seed}")
    pool = sorted(targets, key=lambda t: t.index)
    rng.shuffle(pool)
    it = iter(pool)
    out: list[Reading] = []
    for kind, (u, c, t) in KINDS.items():
        made = 0
        while made < per_kind:
            tgt = next(it)
            observed = damage(tgt.serial_key, u, c, t, rng)
            if observed is not None:
                out.append(Reading(kind, observed, tgt.serial_key, tgt.weapon_id, tgt.maker))
                made += 1
    warm = []
    for tgt in it:
        if len(warm) >= 50:
            break
        observed = damage(tgt.serial_key, 1, True, True, rng)
        if observed:
            warm.append(Reading("warm-up", observed, tgt.serial_key, tgt.weapon_id, tgt.maker))
    rng.shuffle(out)  # kinds interleaved, so a slow minute of the shared machine hits all kinds alike
    return out, warm


# --- measuring ----------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    kind: str
    observed: str
    method: str
    hit: bool
    ms: float
    rank: int | None = None  # 1-based rank of the right weapon among the five
    timeout: bool = False
    rivals: int | None = None  # matcher: other weapons ranked at least as high (None: right one not found)


def _percentile(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def summarise(outcomes: list[Outcome]) -> dict[str, Any]:
    by: dict[tuple[str, str], list[Outcome]] = {}
    for o in outcomes:
        by.setdefault((o.method, o.kind), []).append(o)
        by.setdefault((o.method, "all"), []).append(o)
    out: dict[str, Any] = {}
    for (method, kind), os_ in by.items():
        ms = [o.ms for o in os_]
        out.setdefault(method, {})[kind] = {
            "n": len(os_),
            "hits": sum(o.hit for o in os_),
            "recall_at_5": sum(o.hit for o in os_) / len(os_),
            "p50_ms": statistics.median(ms),
            "p90_ms": _percentile(ms, 0.90),
            "p99_ms": _percentile(ms, 0.99),
            "max_ms": max(ms),
            "timeouts": sum(o.timeout for o in os_),
        }
        if method in MATCHERS:
            clear = [o for o in os_ if o.rivals is None or o.rivals < 5]
            out[method][kind].update(
                ambiguous=len(os_) - len(clear),
                clear_hits=sum(o.hit for o in clear),
                recall_at_5_clear=sum(o.hit for o in clear) / len(clear) if clear else None,
            )
    return out


class Matcher:
    def __init__(self, url: str) -> None:
        from sqlalchemy import event

        from registry.db import make_engine, make_sessionmaker

        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.statements: list[tuple[str, Any]] | None = None

        @event.listens_for(self.engine, "before_cursor_execute")
        def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_a: Any) -> None:
            if self.statements is not None:
                self.statements.append((statement, parameters))

    def __call__(
        self, observed: str, limit: int = 5, described: dict[str, str | None] | None = None
    ) -> tuple[list[tuple[str, float]], float]:
        """The ranked weapon ids with their rank scores, and the call's latency in ms."""
        from tracing.matching.description import Description
        from tracing.matching.service import find_candidates

        description = Description(**described) if described else None
        with self.sessions() as s:
            t = time.perf_counter()
            cands = find_candidates(s, observed=observed, limit=limit, description=description)
            dt = (time.perf_counter() - t) * 1000
            s.rollback()
        return [(str(c.weapon_id), c.rank_score) for c in cands], dt

    def exact(self, text: str) -> tuple[list[str], float]:
        """The registry's exact look-up by serial or mark text (`find_by_mark`'s statement), then the weapon
        row of each id found, as a request would; the weapon ids and the latency in ms. (The fuzzy load has
        no `weapon_states` rows, which `find_by_mark` also reads by primary key.)"""
        from registry.reference.service import text_key
        from registry.weapons import repository as weapons

        with self.sessions() as s:
            t = time.perf_counter()
            ids = weapons.find_ids_by_mark(s, text_key(text))
            for i in ids:
                weapons.get_weapon(s, i)
            dt = (time.perf_counter() - t) * 1000
            s.rollback()
        return [str(i) for i in ids], dt

    def mark_texts(self, ids: list[str]) -> dict[str, str]:
        from sqlalchemy import select

        from registry.markings.models import Marking

        with self.sessions() as s:
            rows = s.execute(
                select(Marking.weapon_id, Marking.text).where(
                    Marking.weapon_id.in_([uuid.UUID(x) for x in ids])
                )
            ).all()
        return {str(w): t for w, t in rows}

    def registered(self, ids: list[str]) -> dict[str, Any]:
        from tracing.matching import repository

        with self.sessions() as s:
            found = repository.registered(s, [uuid.UUID(x) for x in ids])
        return {str(k): v for k, v in found.items()}

    def explain(self, observed: str, call: Callable[[], object] | None = None) -> list[dict[str, Any]]:
        """The plan of every statement one search runs (EXPLAIN ANALYZE on PostgreSQL); `call` instead of the
        matcher on `observed` when given."""
        self.statements = []
        call() if call else self(observed)
        stmts, self.statements = self.statements, None
        out = []
        seen: set[str] = set()
        with self.engine.connect() as c:
            for sql, params in stmts:
                # The searches only (not BEGIN), each statement text once (SQLite runs one per range).
                if not sql.lstrip().upper().startswith("SELECT") or sql in seen:
                    continue
                seen.add(sql)
                if self.engine.dialect.name == "postgresql":
                    rows = c.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()
                else:
                    rows = c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
                    rows = [(r[-1],) for r in rows]
                out.append(
                    {"statement": _squash(sql), "parameters": _describe(params), "plan": [r[0] for r in rows]}
                )
            c.rollback()
        return out


def _squash(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).strip()


def _describe(params: Any) -> Any:
    """Parameters as sizes: thousands of probe skeletons are not worth printing."""
    items = params.items() if isinstance(params, dict) else enumerate(params or ())
    out = {}
    for k, v in items:
        if isinstance(v, (list, tuple)):
            out[str(k)] = f"{len(v)} values, e.g. {list(v[:2])}"
        elif isinstance(v, str) and len(v) > 80:
            out[str(k)] = f"{len(v)} characters"
        else:
            out[str(k)] = v if isinstance(v, (int, float, str)) or v is None else str(v)
    return out


class Trigram:
    """The two pg_trgm baselines, on their own connection (autocommit)."""

    LIKE = "SELECT id FROM weapons WHERE serial_key LIKE %(p)s LIMIT 5"
    SIMILAR = "SELECT id FROM weapons WHERE serial_key %% %(q)s ORDER BY serial_key <-> %(q)s LIMIT 5"

    def __init__(self, dbname: str) -> None:
        import psycopg

        # prepare_threshold=None: psycopg would otherwise prepare a statement after five runs, and the
        # server's generic plan for `LIKE $1` cannot use the trigram index (a sequential scan, ~1.2 s here).
        self.con = psycopg.connect(pg_url(dbname), autocommit=True, prepare_threshold=None)
        self.con.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")

    def _run(self, sql: str, params: dict[str, str]) -> tuple[list[str], float, bool]:
        import psycopg

        t = time.perf_counter()
        try:
            ids = [str(r[0]) for r in self.con.execute(sql, params).fetchall()]
            timeout = False
        except psycopg.errors.QueryCanceled:
            ids, timeout = [], True
        return ids, (time.perf_counter() - t) * 1000, timeout

    def like(self, observed: str) -> tuple[list[str], float, bool]:
        return self._run(self.LIKE, {"p": observed.replace("?", "_")})

    def similar(self, observed: str) -> tuple[list[str], float, bool]:
        return self._run(self.SIMILAR, {"q": observed})

    def explain(self, observed: str) -> list[dict[str, Any]]:
        out = []
        for sql, params in ((self.LIKE, {"p": observed.replace("?", "_")}), (self.SIMILAR, {"q": observed})):
            rows = self.con.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            out.append(
                {"statement": sql.replace("%%", "%"), "parameters": params, "plan": [r[0] for r in rows]}
            )
        return out


def measure(
    matcher: Matcher, trgm: Trigram | None, qs: list[Reading], warm: list[Reading], *, baseline_per_kind: int
) -> tuple[list[Outcome], list[dict[str, Any]]]:
    for r in warm:
        matcher(r.observed)
        matcher(r.observed, described=r.described)
        matcher(r.observed, described=r.marked)
        if trgm:
            trgm.like(r.observed)
            trgm.similar(r.observed)
    outcomes: list[Outcome] = []
    misses: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    seen: dict[str, int] = {}
    for i, r in enumerate(qs):
        seen[r.kind] = seen.get(r.kind, 0) + 1
        # The serial alone ("matcher"), then the serial with the weapon described as a trace request
        # describes it ("described"), then with the country and year of the marking as well ("marked"),
        # one after the other on the same reading.
        for method, desc in (("matcher", None), ("described", r.described), ("marked", r.marked)):
            found, ms = matcher(r.observed, described=desc)
            ids = [x for x, _ in found]
            hit = r.weapon_id in ids
            o = Outcome(r.kind, r.observed, method, hit, ms, ids.index(r.weapon_id) + 1 if hit else None)
            # Not timed: the longer list tells how many other registered weapons explain the reading at least
            # as well as the right one. From five on, no ranking can promise the right one the top 5.
            deep, _ = matcher(r.observed, limit=1000, described=desc)
            score = dict(deep).get(r.weapon_id)
            if score is not None:
                o.rivals = sum(1 for x, sc in deep if x != r.weapon_id and sc >= score)
            outcomes.append(o)
            if not hit:
                misses.append({**asdict(r), "method": method, "rivals": o.rivals, "candidates": len(deep),
                               "rank_in_1000": [x for x, _ in deep].index(r.weapon_id) + 1 if score is not None else None})  # fmt: skip
        if trgm and seen[r.kind] <= baseline_per_kind:
            for method, fn in (("trgm LIKE", trgm.like), ("trgm similarity", trgm.similar)):
                ids, ms, timeout = fn(r.observed)
                hit = r.weapon_id in ids
                outcomes.append(
                    Outcome(
                        r.kind,
                        r.observed,
                        method,
                        hit,
                        ms,
                        ids.index(r.weapon_id) + 1 if hit else None,
                        timeout,
                    )
                )
        if (i + 1) % 100 == 0:
            done = [o for o in outcomes if o.method == "matcher"]
            log(
                f"  {i + 1}/{len(qs)} readings, matcher recall {sum(o.hit for o in done) / len(done):.3f}, "
                f"p50 {statistics.median(o.ms for o in done):.1f} ms, {time.perf_counter() - t0:.0f} s"
            )
    return outcomes, misses


def _exact(matcher: Matcher, targets: list[Target]) -> list[Outcome]:
    texts = matcher.mark_texts([t.weapon_id for t in targets])
    out = []
    for i, t in enumerate(targets):
        typed = texts[t.weapon_id] if i % 4 == 3 else " ".join([t.serial_key[:3].lower(), t.serial_key[3:]])
        ids, ms = matcher.exact(typed)
        if i >= 20:  # the first 20 warm the caches
            out.append(Outcome("exact", typed, "exact look-up", t.weapon_id in ids, ms))
    return out


# --- report -------------------------------------------------------------------------------------------------

MATCHERS = ("matcher", "described", "marked")
METHODS = (*MATCHERS, "trgm LIKE", "trgm similarity")
TITLE = {
    "matcher": "serial only",
    "described": "serial + description",
    "marked": "serial + description + country and year as marked",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def markdown(r: dict[str, Any]) -> str:
    m, load, s = r["machine"], r["load"], r["summary"]
    db = r["db"]
    lines = [
        f"#### {db}, {r['size']:,} weapons (run of {r['date']}, commit {r['code_at_start']['commit']}; "
        f"matcher: {r['matcher']['label']}"
        f"{', modified in the working tree' if r.get('matcher_modified') and 'checkout' in r['matcher']['label'] else ''})",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load average at start "
        f"{', '.join(f'{x:.1f}' for x in m['loadavg_at_start'])} (shared with other engineers' test runs); "
        f"{r.get('server', '')}.",
        "",
        "**Load** — " + load["method"] + ":",
        "",
        "| step | seconds |",
        "| --- | ---: |",
        f"| `iti db upgrade` of the empty database | {load['upgrade_s']:.1f} |",
    ]
    if db == "PostgreSQL":
        lines += [
            f"| COPY of weapons, markings and skeleton rows (generation included) | {load['copy_s']:.0f} |"
        ]
        lines += [f"| rebuild `{k}` | {v:.0f} |" for k, v in load["index_s"].items()]
        lines += [
            f"| GIN trigram index on `weapons.serial_key` (baselines only) | {load['trgm_index_s']:.0f} |",
            f"| VACUUM (ANALYZE) of the three tables | {load['vacuum_analyze_s']:.0f} |",
        ]
    else:
        lines += [
            f"| INSERT of weapons, markings and skeleton rows (generation included) | {load['insert_s']:.0f} |",
            *[f"| rebuild `{k}` | {v:.1f} |" for k, v in load["index_s"].items()],
            f"| ANALYZE | {load['analyze_s']:.1f} |",
        ]
    lines += [
        f"| **total** | **{load['total_s']:.0f}** ({r['size'] / load['total_s']:,.0f} weapons/s) |",
        "",
        "Rows: "
        + ", ".join(f"{k} {v:,}" for k, v in load["rows"].items())
        + f"; database {load['database_mb']:,} MB"
        + (
            " (" + ", ".join(f"{k} {v:,} MB" for k, v in load["sizes_mb"].items()) + " with indexes)"
            if "sizes_mb" in load
            else ""
        )
        + ".",
        "",
        f"**Search** — {r['queries']:,} damaged readings ({r['per_kind']} per kind, seed {r['seed']}), "
        f"after {r['warmup']} warm-up readings; recall@5 = right weapon among the five returned; latency of "
        "one call, in ms"
        + (
            f"; the pg_trgm baselines ran on the first {r['baseline_per_kind']} readings of each kind, "
            "interleaved with the matcher's"
            if r.get("baseline_per_kind", r["per_kind"]) < r["per_kind"] and "trgm LIKE" in s
            else ""
        )
        + ":",
        "",
    ]
    methods = [x for x in METHODS if x in s]
    # The matcher's columns add the readings that five or more other weapons rank at least as high
    # ("ambiguous": no ranking on that evidence can put the right one in the top 5).
    head, rule = "| kind |", "| --- |"
    for x in methods:
        if x in MATCHERS:
            head += f" {TITLE[x]}: recall@5 | ambiguous | p50 | p99 |"
            rule += " ---: | ---: | ---: | ---: |"
        else:
            head += f" {x} recall@5 | p50 | p99 |"
            rule += " ---: | ---: | ---: |"
    lines += [head, rule]
    for kind in [*KINDS, "all"]:
        cells = []
        for x in methods:
            k = s[x].get(kind)
            if k is None:
                cells.append("– | – | –")
                continue
            rec = _pct(k["recall_at_5"])
            if kind == "all":
                rec = f"**{rec}**"
            if x in MATCHERS:
                rec += f" | {k['ambiguous']}"
            cells.append(f"{rec} | {k['p50_ms']:.1f} | {k['p99_ms']:.1f}")
        name = "**all**" if kind == "all" else kind
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    timeouts = {x: s[x]["all"]["timeouts"] for x in methods if s[x]["all"]["timeouts"]}
    if timeouts:
        lines += [
            "",
            "Cancelled at the statement timeout of "
            f"{STATEMENT_TIMEOUT_MS / 1000:.0f} s (counted as misses at that latency): "
            + ", ".join(f"{k} {v}" for k, v in timeouts.items())
            + ".",
        ]
    lines.append("")
    for x in (m for m in MATCHERS if m in s):
        mt = s[x]["all"]
        clear = "–" if mt["recall_at_5_clear"] is None else _pct(mt["recall_at_5_clear"])
        lines.append(
            f"Matcher, {TITLE[x]}: recall@5 {_pct(mt['recall_at_5'])} ({mt['hits']:,} of {mt['n']:,}); "
            f"{mt['ambiguous']} readings ambiguous, recall@5 of the other {mt['n'] - mt['ambiguous']:,}: "
            f"{clear}; p50 {mt['p50_ms']:.1f} ms, p90 {mt['p90_ms']:.1f} ms, p99 {mt['p99_ms']:.1f} ms, "
            f"max {mt['max_ms']:.0f} ms."
        )
        lines.append("")
    ex = s.get("exact look-up", {}).get("all")
    if ex:
        lines += [
            f"Exact look-up (the registry's `find_by_mark` statement and the weapon rows; serials typed in lower "
            f"case with a space, one in four by the whole mark text): {ex['n']:,} look-ups, "
            f"{ex['hits']:,} found the weapon; p50 {ex['p50_ms']:.2f} ms, p90 {ex['p90_ms']:.2f} ms, "
            f"p99 {ex['p99_ms']:.2f} ms, max {ex['max_ms']:.1f} ms.",
            "",
        ]
    for method in ("described", "marked"):
        missed = [x for x in r["misses"] if x.get("method", "matcher") == method]
        if not missed:
            continue
        lines += [
            f"Misses with the {TITLE[method]} (the right weapon's rank among up to 1,000 candidates, and how "
            "many others rank at least as high):",
            "",
        ]
        for x in missed[:15]:
            where = (
                f"rank {x['rank_in_1000']} of {x['candidates']}, {x['rivals']} others as good"
                if x["rank_in_1000"]
                else "not found"
            )
            lines.append(f"- `{x['observed']}` for `{x['serial_key']}` ({x['kind']}): {where}")
        if len(missed) > 15:
            lines.append(f"- … {len(missed) - 15} more in the JSON")
        lines.append("")
    lines += ["", f"**Plans** of the statements for `{r['explain_reading']}` ({r['explain_kind']}):", ""]
    for e in r["explain"]:
        lines += [
            f"`{e['method']}`: `{e['statement']}` with {json.dumps(e['parameters'], ensure_ascii=False)}",
            "",
        ]
        lines += ["```", *e["plan"], "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_doc(path: Path, db: str, block: str) -> None:
    begin, end = f"<!-- bench:fuzzy-{db}:begin -->", f"<!-- bench:fuzzy-{db}:end -->"
    body = f"{begin}\n{block}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def _matcher_modified() -> bool:
    try:
        return bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "tracing/matching"],
                cwd=REPO, capture_output=True, text=True, check=True,
            ).stdout.strip()
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return False


def _matcher_source() -> dict[str, str]:
    """Which matcher code ran: this checkout's, or a copy of another revision put first on PYTHONPATH
    (`ITI_BENCH_MATCHER` names it), to compare revisions without touching the working tree."""
    from tracing.matching import service

    return {
        "module": service.__file__ or "",
        "label": os.environ.get("ITI_BENCH_MATCHER", f"this checkout ({code_version()['commit']})"),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=100_000, help="weapons to load")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--per-kind", type=int, default=100, help="damaged readings per kind (11 kinds)")
    p.add_argument(
        "--skeletons", choices=("copy", "trigger"), default="copy", help="how to fill serial_skeletons"
    )
    p.add_argument(
        "--dbname", default=PG_DBNAME, help="PostgreSQL database (iti_bench_*), dropped and made anew"
    )
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "iti-bench-fuzzy")
    p.add_argument("--reuse", action="store_true", help="skip the load: use the database and targets kept")
    p.add_argument("--load-only", action="store_true", help="load (and keep), measure nothing")
    p.add_argument("--no-baselines", action="store_true", help="PostgreSQL: skip the pg_trgm baselines")
    p.add_argument(
        "--baseline-per-kind",
        type=int,
        default=0,
        help="run the pg_trgm baselines on only the first N readings of each kind (default: all)",
    )
    p.add_argument("--keep", action="store_true", help="keep the database afterwards (for --reuse)")
    p.add_argument("--exact", type=int, default=2000, help="exact look-ups of undamaged serials and marks")
    p.add_argument("--out", type=Path, help="Markdown file whose bench:fuzzy-<db> block to replace")
    p.add_argument("--json", type=Path, help="results file (default: bench/results/DATE-fuzzy-DB-SIZE.json)")
    args = p.parse_args(argv)

    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    state = work / f"load-{args.db}-{args.size}-{args.seed}.json"
    sqlite_path = work / f"fuzzy-{args.size}.db"
    date = datetime.now(UTC).date().isoformat()
    results: dict[str, Any] = {
        "date": date,
        "db": "PostgreSQL" if args.db == "postgresql" else "SQLite",
        "size": args.size,
        "seed": args.seed,
        "per_kind": args.per_kind,
        "machine": machine(),
        "code_at_start": code_version(),
        "matcher_modified": _matcher_modified(),
        "matcher": _matcher_source(),
    }
    wanted = pick_indices(args.size, max(20 * args.per_kind * len(KINDS), 5_000), args.seed)
    if args.reuse:
        load = json.loads(state.read_text(encoding="utf-8"))
        log(f"reusing the {args.db} load of {load.get('finished')}")
    else:
        log(f"loading {args.size:,} weapons into {args.db}")
        if args.db == "postgresql":
            load = pg_load(args.dbname, args.size, args.seed, wanted, skeletons=args.skeletons, work=work)
        else:
            load = sqlite_load(sqlite_path, args.size, args.seed, wanted, skeletons=args.skeletons, work=work)
        load["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
        load["loadavg_after"] = os.getloadavg()
        state.write_text(json.dumps(load, indent=1) + "\n", encoding="utf-8")
        log(f"loaded in {load['total_s']:.0f} s")
    results["load"] = {k: v for k, v in load.items() if k != "targets"}
    if args.load_only:
        return
    targets = [Target(**t) for t in load["targets"]]
    qs, warm = readings(targets, args.per_kind, args.seed)
    results.update(
        queries=len(qs),
        warmup=len(warm),
        baseline_per_kind=min(args.per_kind, args.baseline_per_kind or args.per_kind),
    )
    if args.db == "postgresql":
        matcher = Matcher(pg_url(args.dbname, driver=True))
        trgm = None if args.no_baselines else Trigram(args.dbname)
        with matcher.engine.connect() as c:
            results["server"] = (
                "PostgreSQL "
                + str(c.exec_driver_sql("SHOW server_version").scalar())
                + (", shared_buffers " + str(c.exec_driver_sql("SHOW shared_buffers").scalar()))
            )
    else:
        matcher = Matcher(f"sqlite:///{sqlite_path}")
        trgm = None
        results["server"] = f"SQLite {sqlite3.sqlite_version}"
    qs, warm = described(qs, matcher, args.seed), described(warm, matcher, args.seed)
    log(f"measuring {len(qs):,} readings")
    outcomes, misses = measure(
        matcher, trgm, qs, warm, baseline_per_kind=min(args.per_kind, args.baseline_per_kind or args.per_kind)
    )
    # The exact look-up at the same size: each target's serial as registered, typed in lower case with
    # spaces as officers do, and one in four by the whole text of its manufacture mark.
    exact = _exact(matcher, targets[: args.exact])
    outcomes += exact
    results["summary"] = summarise(outcomes)
    results["misses"] = misses
    # The plans, for a reading of the hardest kind.
    hard = next(q for q in qs if q.kind == "2 unreadable + look-alike + transposition")
    results["explain_reading"], results["explain_kind"] = hard.observed, hard.kind
    explain = [
        {"method": "matcher (serial + description)", **e}
        for e in matcher.explain(hard.observed, lambda: matcher(hard.observed, described=hard.described))
    ]
    if exact:
        typed = exact[0].observed
        explain += [
            {"method": "exact look-up", **e} for e in matcher.explain(typed, lambda: matcher.exact(typed))
        ]
    if trgm:
        explain += [
            {"method": m, **e}
            for m, e in zip(("trgm LIKE", "trgm similarity"), trgm.explain(hard.observed), strict=True)
        ]
    results["explain"] = explain
    results["outcome_fields"] = list(Outcome.__dataclass_fields__)
    results["code_at_end"] = code_version()
    results["loadavg_at_end"] = os.getloadavg()
    out_json = args.json or REPO / "bench" / "results" / f"{date}-fuzzy-{args.db}-{args.size}.json"
    # Every reading's outcome on one line: the file stays readable and a tenth of the size.
    rows = ",\n".join("  " + json.dumps(list(astuple(o))) for o in outcomes)
    text = json.dumps(results, indent=1)
    out_json.write_text(f'{text[:-2]},\n "outcomes": [\n{rows}\n ]\n}}\n', encoding="utf-8")
    block = markdown(results)
    print(block)
    if args.out:
        write_doc(args.out, args.db, block)
    if args.db == "postgresql" and not args.keep:
        pg_drop(args.dbname)
    log(f"wrote {out_json}" + (f" and {args.out}" if args.out else ""))


if __name__ == "__main__":
    main()
