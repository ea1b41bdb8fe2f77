"""The query plans of the registry's hot paths on PostgreSQL at scale, with their latencies.

    python -m bench.explain --weapons 200000 --json bench/results/DATE-explain-200000.json --md /tmp/plans.md
    python -m bench.explain --reuse --keep ...        # measure again on the database of an earlier --keep run
    python -m bench.explain --reuse --keep --stages measure --fuzzy-db iti_bench_fuzzy   # + 10M look-ups

Each hot path is the registry's own service function (not hand-written SQL), called a few hundred times
(fewer for the heavy ones, within a time budget) for p50/p99; the SQL statements one call emits are caught
with a `before_cursor_execute` listener and each is run again under `EXPLAIN (ANALYZE, BUFFERS)`. Writes
are explained in a transaction that is rolled back. Searches by make run for the sampled weapons' makes, and
again for the makes as written by under 0.25 % of the weapons (found only by their spelling, not the
manufacturer code) and for the five most frequent.

The data (database `iti_bench_explain`, recreated unless --reuse, dropped at the end unless --keep):

1. `iti db upgrade`, then `bench.generate` weapons (one `manufactured` event each) imported with
   `iti import` in chunks (each chunk one transaction, as an officer would import them);
2. history: events 2..19 appended to each weapon with one INSERT … SELECT (1–19 events a weapon, most weapons
   few: n = 1 + ⌊19·u³⌋), following the lifecycle rules (transfers to dealers, theft, loss, recovery, export,
   re-import, deactivation, destruction) in an order every prefix of which is valid, and `weapon_states`
   updated to the status each prefix leads to. These rows are not audited (the import's are): the audit log
   covers the import and the trace workflow, which is what the audit paths read;
3. trace requests through `tracing.requests.service`: outgoing ones sent, delivered, acknowledged and answered
   at times spread over three years (some overdue), and incoming ones received from two peers.

`--fuzzy-db NAME` also runs the exact look-up and the fuzzy statements READ ONLY (the connections are set
`default_transaction_read_only`) on a kept `bench.fuzzy` database (10,000,000 weapons, no events, no states).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.fuzzy import _describe, _squash, pg_drop, pg_recreate, pg_url
from bench.run import code_version, iti_command

DB = "iti_bench_explain"
HOME = "KE"
PEERS = ("UG", "TZ")
ACTOR = "bench"
CHUNK = 100_000  # weapons per `iti import` (one transaction each)
REPO = Path(__file__).resolve().parent.parent


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def env(var_dir: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("ITI_")}
    out.update(
        ITI_DATABASE_URL=pg_url(DB, driver=True),
        ITI_VAR_DIR=str(var_dir),
        ITI_AUDIT_KEY_PASSPHRASE="bench",  # noqa: S106 - throw-away keys, throw-away database
        ITI_FEDERATION_KEY_PASSPHRASE="bench",  # noqa: S106
        ITI_ACTOR=ACTOR,
    )
    return out


# --- data ---------------------------------------------------------------------------------------------------


def load_weapons(n: int, work: Path, var_dir: Path) -> dict[str, Any]:
    e = env(var_dir)
    subprocess.run([*iti_command(), "db", "upgrade"], env=e, check=True, cwd=REPO)
    csv_file = work / "weapons.csv"
    subprocess.run(
        [sys.executable, "-m", "bench.generate", "--weapons", str(n), "--seed", "1", "--out", str(csv_file)],
        check=True,
        cwd=REPO,
    )
    lines = csv_file.read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    t0 = time.perf_counter()
    for start in range(0, len(rows), CHUNK):
        part = work / f"part-{start}.csv"
        part.write_text(header + "".join(rows[start : start + CHUNK]), encoding="utf-8")
        t = time.perf_counter()
        subprocess.run(
            [*iti_command(), "import", str(part)], env=e, check=True, cwd=REPO, stdout=subprocess.DEVNULL
        )
        done = min(start + CHUNK, len(rows))
        log(f"imported {done:,} weapons ({(done - start) / (time.perf_counter() - t):,.0f}/s)")
        part.unlink()
    return {"weapons": n, "import_s": round(time.perf_counter() - t0, 1)}


# Events 2..19 of a weapon, in this order: every prefix is a valid history after `manufactured` (status
# ACTIVE), so `record_event` replays them without complaint. (type, to a dealer, to_country, data, status after)
PATTERN: list[tuple[str, bool, str | None, dict[str, Any], str]] = [
    ("transferred", True, None, {}, "active"),
    ("transferred", True, None, {}, "active"),
    ("stolen", False, None, {}, "stolen"),
    ("found", False, None, {}, "recovered"),
    ("transferred", True, None, {}, "active"),
    ("lost", False, None, {}, "lost"),
    ("surrendered", False, None, {}, "recovered"),
    ("transferred", True, None, {}, "active"),
    ("seized", False, None, {"criminal_offence": True}, "recovered"),
    ("transferred", True, None, {}, "active"),
    ("exported", False, "UG", {}, "exported"),
    ("imported", False, HOME, {}, "active"),
    ("transferred", True, None, {}, "active"),
    ("stolen", False, None, {}, "stolen"),
    ("seized", False, None, {"criminal_offence": False}, "recovered"),
    ("deactivated", False, None, {}, "deactivated"),
    ("stolen", False, None, {}, "stolen"),
    ("found", False, None, {}, "recovered"),
    ("destroyed", False, None, {}, "destroyed"),
]
UUID7 = (
    "(lpad(to_hex((extract(epoch from clock_timestamp()) * 1000)::bigint), 12, '0') || '7'"
    " || substr(md5(random()::text), 1, 3) || to_hex(8 + floor(random() * 4)::int)"
    " || substr(md5(random()::text), 1, 15))::uuid"
)


def add_history(con: Any) -> dict[str, Any]:
    """Events 2..n of every weapon and the state they lead to, in SQL (see the module docstring)."""
    t0 = time.perf_counter()
    con.execute("SELECT setseed(0.42)")
    con.execute("DROP TABLE IF EXISTS bench_plan")
    con.execute(
        "CREATE UNLOGGED TABLE bench_plan AS SELECT e.weapon_id, floor(19 * power(random(), 3))::int AS n,"
        " e.occurred_at AS t0 FROM events e WHERE e.seq = 1"
    )
    con.execute(
        "CREATE TEMP TABLE bench_pattern (k int, type text, org bool, country text, data text, status text)"
    )
    with con.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench_pattern VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (k + 1, t, org, country, json.dumps(data), st)
                for k, (t, org, country, data, st) in enumerate(PATTERN)
            ],
        )
    orgs = [r[0] for r in con.execute("SELECT id FROM organisations ORDER BY id").fetchall()]
    con.execute(
        f"""
        INSERT INTO events (id, weapon_id, seq, type, occurred_at, recorded_at, recorded_by, to_org_id,
                            to_country, location, documents, data, notes)
        SELECT {UUID7}, p.weapon_id, pat.k + 1, pat.type, t.at, least(t.at + interval '2 days', now()), %(actor)s,
               CASE WHEN pat.org THEN (%(orgs)s::uuid[])[1 + abs(hashtext(p.weapon_id::text || pat.k)) %% %(norgs)s]
               END,
               pat.country, 'Nairobi', '[]', pat.data::json, ''
        FROM bench_plan p JOIN bench_pattern pat ON pat.k <= p.n,
             LATERAL (SELECT p.t0 + (timestamptz '2026-11-01' - p.t0) * (pat.k::float8 / (p.n + 1)) AS at) t
        ORDER BY p.weapon_id, pat.k
        """,
        {"actor": ACTOR, "orgs": orgs, "norgs": len(orgs)},
    )
    added = con.execute("SELECT count(*) FROM events WHERE seq > 1").fetchone()[0]
    con.execute(
        """
        UPDATE weapon_states s SET status = pat.status, event_count = p.n + 1, last_event_at = last.occurred_at,
               custodian_org_id = coalesce(
                   (SELECT e.to_org_id FROM events e WHERE e.weapon_id = s.weapon_id AND e.to_org_id IS NOT NULL
                    ORDER BY e.seq DESC LIMIT 1), s.custodian_org_id),
               location = 'Nairobi'
        FROM bench_plan p JOIN bench_pattern pat ON pat.k = p.n,
             LATERAL (SELECT occurred_at FROM events e WHERE e.weapon_id = p.weapon_id AND e.seq = p.n + 1) last
        WHERE s.weapon_id = p.weapon_id AND p.n > 0
        """
    )
    dist = dict(con.execute("SELECT n + 1, count(*) FROM bench_plan GROUP BY 1 ORDER BY 1").fetchall())
    con.execute("DROP TABLE bench_plan")
    return {"events_added": added, "events_per_weapon": dist, "history_s": round(time.perf_counter() - t0, 1)}


def add_organisations(sessions: Any, n: int = 200) -> None:
    from registry.organisations.service import create_organisation

    with sessions.begin() as s:
        for i in range(n):
            create_organisation(
                s,
                actor=ACTOR,
                name=f"Dealer {i:03d}",
                kind="dealer",
                country=HOME,
                registration_number=f"D-{i:05d}",
            )


def setup_node(sessions: Any, var_dir: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from registry.config import get_settings
    from tracing.federation import service as federation

    settings = dataclasses.replace(
        get_settings(), var_dir=var_dir, node_country=None, extra={"ITI_FEDERATION_KEY_PASSPHRASE": "bench"}
    )
    from tracing.federation import repository as federation_repo

    with sessions.begin() as s:
        if federation_repo.get_node(s) is not None:
            return
        federation.init_node(
            s, settings, actor=ACTOR, country=HOME, poc_name="PoC Kenya", contact="poc@ke.example",
            url="http://127.0.0.1:9",
        )  # fmt: skip
        for country in PEERS:
            key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            federation.add_peer(
                s,
                actor=ACTOR,
                data=federation.PeerInput(
                    country=country, url="http://127.0.0.1:9", public_key=key.hex(), poc_name=f"PoC {country}",
                    contact=f"poc@{country.lower()}.example",
                ),
            )  # fmt: skip


def add_traces(sessions: Any, outgoing: int, incoming: int, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Trace requests through the workflow's services, at times spread over three years."""
    from registry.db import new_id, utcnow
    from tracing.federation.inbox import InboundMessage
    from tracing.requests import service as traces
    from tracing.requests.inbound import mark_delivered
    from tracing.requests.inputs import ObservedMarking, TraceRequestInput

    rng = random.Random(7)
    now = utcnow()
    t0 = time.perf_counter()

    def msg(kind: str, body: dict[str, Any], sender: str, at: datetime) -> InboundMessage:
        return InboundMessage(
            id=new_id(), kind=kind, from_country=sender, to_country=HOME, sent_at=at, body=body
        )

    for i in range(outgoing):
        w = samples[i % len(samples)]
        peer = PEERS[i % 2]
        sent = now - timedelta(days=rng.uniform(1, 3 * 365))
        with sessions.begin() as s:
            data = TraceRequestInput(
                requested_country=peer, case_reference=f"KE/CID/{sent.year}/{i:05d}",
                illicit_nature="seized from a suspect", legal_justification="Firearms Act s.4",
                intended_use="criminal investigation", intended_use_code="criminal_investigation",
                markings=[ObservedMarking(text=w["serial"], position="frame", serial=w["serial"])],
                category=w["category"], make=w["make"], model=w["model"], calibre=w["calibre"] or "9x19", recovery_kind="seized",
                recovered_on=sent.date(), recovery_place="Nairobi", weapon_id=w["id"] if i % 3 == 0 else None,
            )  # fmt: skip
            req = traces.create_draft(s, actor=ACTOR, data=data).request
            traces.send(s, actor=ACTOR, request_id=req.id)
            req.sent_at, req.ack_due, req.answer_due = (
                sent,
                sent + timedelta(days=5),
                sent + timedelta(days=30),
            )
            r = rng.random()
            if r < 0.85:
                mark_delivered(s, request_id=req.id, at=sent + timedelta(minutes=5))
            if r < 0.75:
                traces.on_acknowledgement(
                    s,
                    msg(
                        "trace.acknowledgement",
                        {"request_id": str(req.id)},
                        peer,
                        sent + timedelta(days=rng.uniform(0.1, 8)),
                    ),
                )
            if r < 0.6:
                body = {
                    "request_id": str(req.id),
                    "outcome": "answered",
                    "completeness": "full" if r < 0.45 else "partial",
                }
                traces.on_response(
                    s, msg("trace.response", body, peer, sent + timedelta(days=rng.uniform(2, 60)))
                )
    for i in range(incoming):
        peer = PEERS[i % 2]
        at = now - timedelta(days=rng.uniform(0, 2 * 365))
        body = {
            "schema": "iti-trace/1", "request_id": str(new_id()), "case_reference": f"{peer}/{i}",
            "urgency": "routine", "confidentiality": "restricted", "requesting_state": peer,
            "requesting_poc": {"name": f"PoC {peer}", "contact": f"poc@{peer.lower()}.example"},
            "requested_state": HOME, "illicit_nature": "found in an arms cache",
            "legal_justification": "Firearms Act 1970",
            "intended_use": {"code": "criminal_investigation", "text": "investigation"},
            "weapon": {"category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm Luger"},
            "markings": [{"text": "AB?2345", "position": "frame", "serial": "AB?2345"}],
            "recovery": {"kind": "found", "date": at.date().isoformat(), "place": "Kampala"}, "attachments": [],
        }  # fmt: skip
        with sessions.begin() as s:
            traces.receive(s, message=msg("trace.request", body, peer, at))
    return {"outgoing": outgoing, "incoming": incoming, "traces_s": round(time.perf_counter() - t0, 1)}


# --- measuring ----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class HotPath:
    name: str
    call: Callable[[Any, int], object]  # (session, call number)
    write: bool = False
    calls: int = 300
    budget_s: float = 20.0


class Bench:
    def __init__(self, dbname: str, *, read_only: bool = False) -> None:
        from sqlalchemy import event

        from registry.db import make_engine, make_sessionmaker

        self.engine = make_engine(pg_url(dbname, driver=True))
        self.sessions = make_sessionmaker(self.engine)
        self.statements: list[tuple[str, Any, bool]] | None = None

        @event.listens_for(self.engine, "before_cursor_execute")
        def capture(
            _c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool
        ) -> None:
            if self.statements is not None:
                self.statements.append((statement, parameters, executemany))

        if read_only:

            @event.listens_for(self.engine, "connect")
            def read_only_(dbapi: Any, _rec: Any) -> None:
                with dbapi.cursor() as cur:
                    cur.execute("SET default_transaction_read_only = on")
                dbapi.commit()

    def time(self, p: HotPath) -> dict[str, Any]:
        times: list[float] = []
        start = time.perf_counter()
        for i in range(p.calls):
            with self.sessions() as s:
                t = time.perf_counter()
                p.call(s, i)
                if p.write:
                    s.commit()
                times.append((time.perf_counter() - t) * 1000)
                s.rollback()
            if time.perf_counter() - start > p.budget_s and len(times) >= 5:
                break
        times.sort()
        return {
            "calls": len(times),
            "p50_ms": round(statistics.median(times), 3),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
            "max_ms": round(times[-1], 3),
        }

    def explain(self, p: HotPath, i: int) -> list[dict[str, Any]]:
        """One call's statements, each under EXPLAIN (ANALYZE, BUFFERS); writes in a rolled-back transaction."""
        self.statements = []
        with self.sessions() as s:
            p.call(s, i)
            s.rollback()
        stmts, self.statements = self.statements, None
        out: list[dict[str, Any]] = []
        seen: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as c:
            for sql, params, many in stmts:
                head = sql.lstrip().split(None, 1)[0].upper()
                if head not in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
                    continue
                if many:
                    params = params[0]
                key = _squash(sql)
                if (
                    key in seen
                ):  # the same statement again (one per chunk or per row): counted, explained once
                    seen[key]["times"] += 1
                    if head == "SELECT":
                        continue
                c.exec_driver_sql("SAVEPOINT x")
                try:
                    rows = c.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()
                    plan = [_clip(r[0]) for r in rows]
                    c.exec_driver_sql("RELEASE SAVEPOINT x")
                except Exception as exc:  # a write that depends on one the call made and this run did not
                    c.exec_driver_sql("ROLLBACK TO SAVEPOINT x")
                    plan = [f"(not explained: {type(exc).__name__}: {str(exc).splitlines()[0]})"]
                if key in seen:
                    continue
                seen[key] = entry = {
                    "statement": key,
                    "parameters": _params(params),
                    "times": 1,
                    "plan": plan,
                    "summary": summarise(plan),
                }
                out.append(entry)
            c.rollback()
        return out


def _params(params: Any) -> Any:
    """The parameters as `bench.fuzzy` describes them; an expanded IN list (one parameter a value) shortened."""
    out = _describe(params)
    if len(out) <= 20:
        return out
    first = dict(list(out.items())[:5])
    return first | {"…": f"{len(out):,} parameters in all"}


def _clip(line: str, width: int = 400) -> str:
    """A plan line, without the thousands of ids an `= ANY(…)` condition lists."""
    return line if len(line) <= width else f"{line[:width]}… ({len(line):,} characters)"


_SCAN = re.compile(
    r"(Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan|Parallel Seq Scan)(?: Backward)?(?: using (\S+))? on (\S+)"
)


def summarise(plan: list[str]) -> dict[str, Any]:
    """The scans (kind, index, table), sorts, the buffers of the top node and the execution time."""
    scans, sorts = [], []
    for line in plan:
        if m := _SCAN.search(line):
            kind, index, table = m.groups()
            rows = re.search(r"actual time=\S+ rows=(\d+) loops=(\d+)", line)
            scans.append(
                f"{kind} {table}"
                + (f" ({index})" if index else "")
                + (f" → {int(rows[1]) * int(rows[2]):,} rows" if rows else "")
            )
        if "Sort Method" in line:
            sorts.append(line.strip())
    buffers = next((ln.strip() for ln in plan if ln.strip().startswith("Buffers:")), "")
    exec_ms = next((float(m[1]) for ln in plan if (m := re.search(r"Execution Time: ([\d.]+) ms", ln))), None)
    return {"scans": scans, "sorts": sorts, "buffers": buffers, "execution_ms": exec_ms}


def samples_of(sessions: Any, n: int = 2000) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with sessions() as s:
        rows = s.execute(
            text(
                "SELECT w.id, w.serial, w.make, w.model, w.category, w.calibre, w.manufacturer_code,"
                " s.status, s.event_count FROM weapons w JOIN weapon_states s ON s.weapon_id = w.id"
                " WHERE w.serial IS NOT NULL ORDER BY md5(w.id::text) LIMIT :n"
            ),
            {"n": n},
        ).mappings()
        return [dict(r) for r in rows]


def make_spellings(sessions: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Makes as written, each with its most frequent category: the rare ones (under 0.25 % of the weapons,
    and not the manufacturer code, so only the spelling finds them) and the five most frequent."""
    from sqlalchemy import text

    with sessions() as s:
        rows = s.execute(
            text(
                "SELECT spelling AS make, category, n, code FROM ("
                " SELECT upper(make) AS spelling, category, coalesce(manufacturer_code, '') AS code,"
                "  sum(count(*)) OVER (PARTITION BY upper(make)) AS n,"
                "  row_number() OVER (PARTITION BY upper(make) ORDER BY count(*) DESC, category) AS k"
                " FROM weapons GROUP BY upper(make), category, manufacturer_code) t"
                " WHERE k = 1 ORDER BY n DESC, spelling"
            )
        ).mappings()
        spellings = [dict(x) for x in rows]
        total = s.execute(text("SELECT count(*) FROM weapons")).scalar_one()
    rare = [x for x in spellings if x["n"] < total * 0.0025 and x["make"] != x["code"]]
    return rare, spellings[:5]


def garble(serial: str, i: int) -> str:
    """A reading of `serial` with one character illegible ('?'), as a trace request would give it."""
    alnum = [k for k, ch in enumerate(serial) if ch.isalnum()]
    k = alnum[i % len(alnum)]
    return serial[:k] + "?" + serial[k + 1 :]


def paths(b: Bench, ws: list[dict[str, Any]], *, full: bool = True) -> list[HotPath]:
    from registry.audit import repository as audit_repo
    from registry.history import service as history
    from registry.history.inputs import EventInput
    from registry.profiles import ITI
    from registry.reference.service import text_key
    from registry.weapons import read_model
    from registry.weapons import repository as weapons
    from registry.weapons import service as weapon_service
    from reports import repository as reports_repo
    from reports.national import national_figures
    from tracing.matching.description import Description
    from tracing.matching.service import find_candidates
    from tracing.requests import service as traces
    from tracing.requests import stats

    def w(i: int) -> dict[str, Any]:
        return ws[i % len(ws)]

    def described(i: int) -> Description:
        x = w(i)
        return Description(make=x["make"], model=x["model"], category=x["category"], calibre=x["calibre"])

    common = [
        HotPath(
            "exact look-up by serial (find_by_mark)",
            lambda s, i: weapon_service.find_by_mark(s, w(i)["serial"]),
        ),
        HotPath(
            "fuzzy candidates, one '?' (find_candidates)",
            lambda s, i: find_candidates(s, observed=garble(w(i)["serial"], i), limit=5),
            calls=200,
        ),
        HotPath(
            "fuzzy candidates + Description",
            lambda s, i: find_candidates(
                s, observed=garble(w(i)["serial"], i), limit=5, description=described(i)
            ),
            calls=200,
        ),
    ]
    if not full:
        return [
            HotPath(
                "exact look-up ids + weapon rows (find_ids_by_mark, get_weapon)",
                lambda s, i: [
                    weapons.get_weapon(s, x) for x in weapons.find_ids_by_mark(s, text_key(w(i)["serial"]))
                ],
            ),
            *common[1:],
        ]
    active = [x for x in ws if x["status"] == "active"]
    with b.sessions() as s:
        first_page = weapons.search(s, status="stolen", category="SA-PIS", limit=50)
    after = first_page[-1][0].id if first_page else None
    rare, frequent = make_spellings(b.sessions)
    with b.sessions() as s:  # the keyset cursor after each common make's first page
        after_make = [weapons.search(s, make=m["make"], limit=50)[-1][0].id for m in frequent]

    def r(i: int) -> dict[str, Any]:
        return rare[i % len(rare)]

    def c(i: int) -> dict[str, Any]:
        return frequent[i % len(frequent)]

    year = datetime.now(UTC).year - 1

    return [
        *common[:1],
        HotPath(
            "GET /api/v1/weapons/{id} (read_model.get_document)",
            lambda s, i: read_model.get_document(s.connection(), w(i)["id"]),
        ),
        HotPath("weapon history (history.history)", lambda s, i: history.history(s, w(i)["id"])),
        HotPath(
            "search make + model, page 1",
            lambda s, i: weapons.search(s, make=w(i)["make"], model=w(i)["model"], limit=50),
        ),
        HotPath("search make, page 1", lambda s, i: weapons.search(s, make=w(i)["make"], limit=50)),
        HotPath(
            "search status=stolen + category, page 1",
            lambda s, i: weapons.search(s, status="stolen", category="SA-PIS", limit=50),
        ),
        HotPath(
            "search status=stolen + category, page 2 (after=)",
            lambda s, i: weapons.search(s, status="stolen", category="SA-PIS", after=after, limit=50),
        ),
        HotPath(
            "search make + status + category",
            lambda s, i: weapons.search(
                s, make=w(i)["make"], status="active", category=w(i)["category"], limit=50
            ),
        ),
        HotPath(
            "search make, rare spelling, page 1", lambda s, i: weapons.search(s, make=r(i)["make"], limit=50)
        ),
        HotPath(
            "search make + status + category, rare spelling",
            lambda s, i: weapons.search(
                s, make=r(i)["make"], status="active", category=r(i)["category"], limit=50
            ),
        ),
        HotPath(
            "search make, common spelling, page 1",
            lambda s, i: weapons.search(s, make=c(i)["make"], limit=50),
        ),
        HotPath(
            "search make, common spelling, page 2 (after=)",
            lambda s, i: weapons.search(s, make=c(i)["make"], after=after_make[i % len(frequent)], limit=50),
        ),
        HotPath(
            "search make + status + category, common spelling",
            lambda s, i: weapons.search(
                s, make=c(i)["make"], status="active", category=c(i)["category"], limit=50
            ),
        ),
        HotPath(
            "search make + status=lost + category, common spelling",
            lambda s, i: weapons.search(
                s, make=c(i)["make"], status="lost", category=c(i)["category"], limit=50
            ),
        ),
        *common[1:],
        HotPath(
            "record an event (record_event, commit)",
            lambda s, i: history.record_event(
                s,
                actor=ACTOR,
                weapon_id=active[i % len(active)]["id"],
                profile=ITI,
                home_country=HOME,
                event=EventInput(type="stolen", location="Nairobi", notes="bench"),
            ),
            write=True,
            calls=min(300, len(active)),
        ),
        HotPath("audit: latest tree head", lambda s, i: audit_repo.latest_tree_head(s)),
        HotPath("audit: entry count (dashboard)", lambda s, i: audit_repo.entry_count(s), calls=50),
        HotPath(
            "trace inbox (search incoming, 200)",
            lambda s, i: traces.search(s, direction="incoming", limit=200),
        ),
        HotPath(
            "trace outbox (search outgoing sent, 50)",
            lambda s, i: traces.search(s, direction="outgoing", state="sent", limit=50),
        ),
        HotPath("trace overdue", lambda s, i: traces.overdue(s), calls=100),
        HotPath("trace statistics (all years)", lambda s, i: stats.trace_statistics(s), calls=20),
        HotPath(f"SDG 16.4.2 ({year})", lambda s, i: stats.sdg_16_4_2(s, year=year), calls=10, budget_s=30),
        HotPath("dashboard: count by status", lambda s, i: weapons.count_by_status(s), calls=30),
        HotPath("dashboard: recent events", lambda s, i: weapons.recent_events(s, limit=10)),
        HotPath("dashboard: pending marking", lambda s, i: weapons.pending_marking(s, limit=25)),
        HotPath("report: count by category", lambda s, i: reports_repo.count_by_category(s), calls=30),
        HotPath(
            f"national report figures ({year})",
            lambda s, i: national_figures(s, since=date(year, 1, 1), until=date(year + 1, 1, 1)),
            calls=5,
            budget_s=60,
        ),
    ]


def measure(b: Bench, ws: list[dict[str, Any]], *, full: bool, only: str | None) -> list[dict[str, Any]]:
    out = []
    for p in paths(b, ws, full=full):
        if only and only not in p.name:
            continue
        log(f"{p.name}: explain")
        plans = b.explain(p, 10_000)  # a call number the timing loop does not use
        log(f"{p.name}: timing")
        timing = b.time(p)
        log(f"{p.name}: p50 {timing['p50_ms']} ms, p99 {timing['p99_ms']} ms ({timing['calls']} calls)")
        out.append({"path": p.name, **timing, "statements": plans})
    return out


# --- output -------------------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for run in results["runs"]:
        lines += [
            f"#### {run['title']}",
            "",
            "| Path | p50 ms | p99 ms | calls | Statements: scans (rows) |",
            "|---|---:|---:|---:|---|",
        ]
        for p in run["paths"]:
            scans = "; ".join(
                ", ".join(st["summary"]["scans"])
                + (f" [sort: {st['summary']['sorts'][0]}]" if st["summary"]["sorts"] else "")
                for st in p["statements"]
                if st["summary"]["scans"]
            )
            lines.append(f"| {p['path']} | {p['p50_ms']} | {p['p99_ms']} | {p['calls']} | {scans} |")
        lines += [""]
        for p in run["paths"]:
            lines += [f"<details><summary>{p['path']}: {len(p['statements'])} statements</summary>", ""]
            for st in p["statements"]:
                times = f" (×{st['times']})" if st["times"] > 1 else ""
                lines += [f"`{st['statement'][:600]}`{times}", "", "```text", *st["plan"], "```", ""]
            lines += ["</details>", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    global DB  # one database a run; the helpers above name it
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=DB, help="the database to (re)create, named iti_bench_*")
    ap.add_argument("--weapons", type=int, default=200_000)
    ap.add_argument("--outgoing", type=int, default=3000, help="outgoing trace requests")
    ap.add_argument("--incoming", type=int, default=500, help="incoming trace requests")
    ap.add_argument("--stages", default="load,history,traces,measure")
    ap.add_argument("--reuse", action="store_true", help=f"keep the existing {DB} (do not recreate it)")
    ap.add_argument("--keep", action="store_true", help=f"do not drop {DB} at the end")
    ap.add_argument("--only", help="measure only the paths whose name contains this")
    ap.add_argument(
        "--fuzzy-db", help="also explain the look-ups READ ONLY on this kept bench.fuzzy database"
    )
    ap.add_argument("--label", default="", help="a note for the JSON (e.g. before/after a fix)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--md", type=Path, help="write the Markdown tables and plans here")
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args(argv)
    DB = a.db
    stages = set(a.stages.split(","))
    work = Path(a.workdir or tempfile.mkdtemp(prefix="iti-explain-"))
    var_dir = work / "var"
    var_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(env(var_dir))
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": code_version(),
        "label": a.label,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
        },
        "data": {},
        "runs": [],
    }
    if not a.reuse:
        pg_recreate(DB)
    try:
        import psycopg

        b = Bench(DB)
        if "load" in stages:
            results["data"] |= load_weapons(a.weapons, work, var_dir)
        if "history" in stages:
            add_organisations(b.sessions)
            with psycopg.connect(pg_url(DB), autocommit=True) as con:
                results["data"] |= add_history(con)
                con.execute("VACUUM ANALYZE")
        if "traces" in stages:
            setup_node(b.sessions, var_dir)
            results["data"] |= add_traces(b.sessions, a.outgoing, a.incoming, samples_of(b.sessions, 500))
            with psycopg.connect(pg_url(DB), autocommit=True) as con:
                con.execute("VACUUM ANALYZE")
        if "measure" in stages:
            with psycopg.connect(pg_url(DB), autocommit=True) as con:
                counts = {
                    t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                    for t in (
                        "weapons",
                        "markings",
                        "events",
                        "weapon_states",
                        "audit_entries",
                        "trace_requests",
                    )
                }
                settings = {
                    k: con.execute(f"SHOW {k}").fetchone()[0]
                    for k in (
                        "server_version",
                        "shared_buffers",
                        "work_mem",
                        "random_page_cost",
                        "effective_cache_size",
                    )
                }
            results["postgres"] = settings
            ws = samples_of(b.sessions)
            results["runs"].append(
                {
                    "title": f"{DB}: {counts['weapons']:,} weapons, {counts['events']:,} events",
                    "rows": counts,
                    "paths": measure(b, ws, full=True, only=a.only),
                }
            )
        if a.fuzzy_db:
            fz = Bench(a.fuzzy_db, read_only=True)
            ws = samples_of_fuzzy(fz)
            with fz.engine.connect() as c:
                n = c.exec_driver_sql("SELECT count(*) FROM weapons").scalar_one()
            results["runs"].append(
                {
                    "title": f"{a.fuzzy_db} (read only): {n:,} weapons, no events or states",
                    "rows": {"weapons": n},
                    "paths": measure(fz, ws, full=False, only=a.only),
                }
            )
    finally:
        if not a.keep:
            pg_drop(DB)
    results["loadavg_at_end"] = os.getloadavg()
    text = json.dumps(results, indent=1, default=str, ensure_ascii=False)
    if a.json:
        a.json.write_text(text + "\n", encoding="utf-8")
    if a.md:
        a.md.write_text(render(results) + "\n", encoding="utf-8")
    log("done")


def samples_of_fuzzy(b: Bench, n: int = 2000) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with b.sessions() as s:
        rows = s.execute(
            text(
                "SELECT id, serial, make, model, category, calibre FROM weapons TABLESAMPLE SYSTEM (0.05)"
                " WHERE serial IS NOT NULL LIMIT :n"
            ),
            {"n": n},
        ).mappings()
        out = [dict(r) for r in rows]
        s.rollback()
    random.Random(3).shuffle(out)
    return out


if __name__ == "__main__":
    main()
