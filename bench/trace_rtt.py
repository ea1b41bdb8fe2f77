"""Trace round trip between two real nodes: how long an officer waits for the other state's node.

    python -m bench.trace_rtt --requests 50 --db sqlite --out docs/performance.md
    python -m bench.trace_rtt --requests 50 --db postgresql --out docs/performance.md

1. **Two nodes**, each set up as an operator does, with the `iti` CLI in child processes: `iti db upgrade`
   (own SQLite file or own PostgreSQL database `iti_bench_rtt_<country>_<hex>`, dropped at the end),
   `iti node init`, then `iti peer add` on each side with the other's URL and public key. A PoC officer on
   each (`registry.users.service`: user and bearer token), then `iti serve` on a loopback port per node,
   with the outbox delivery worker every `--interval` seconds (ITI_FEDERATION_DELIVERY_INTERVAL) and the
   rate limits off (the default federation limit, 120 messages a minute per peer, would throttle the run).
2. **Per request**, one after the other, as the officer does through A's API: create the draft
   (`POST /api/v1/traces`), then `POST /{id}/send`; the clock starts before the send call. This process
   polls A's database (every 5 ms, one primary-key read) for the moments A's trace shows (1) `delivered_at`
   (B's signed receipt recorded) and (2) `acknowledged_at` (B's automatic acknowledgement received). Then
   B's officer answers (`POST /{id}/answer` on B, no weapon chosen) and (3) is timed from before that call
   to A's trace showing `answered_at` (A holds the response).
3. **Baseline** in the same run: `GET /healthz` on B over a kept-alive connection, the bare HTTP round trip
   on this machine, so each figure can be read as a multiple of it (and of the worker interval: with no
   explicit trigger a message waits up to one interval in the outbox).
4. **Report** p50/p90/p99/max per step, machine, load average at start and end; JSON under bench/results/,
   and with `--out` a block of docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from bench.run import REPO, _percentile, child_env, code_version, iti_command, machine
from registry.db import make_engine
from registry.users import service as users
from tracing.federation.models import OutboxMessage
from tracing.requests.models import TraceRequest

PG_SERVER = os.environ.get("ITI_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECTION = "## Trace round trip between two nodes"
BEFORE = "## Query plans at scale (PostgreSQL)"
POLL_S = 0.005
PASSWORD = "correct horse battery staple"  # noqa: S105 - a throw-away officer on a throw-away database
STEPS = ("delivered_ms", "acknowledged_ms", "answered_ms")


@dataclass
class BenchNode:
    country: str
    url: str  # database URL
    var: Path
    port: int
    engine: Engine | None = None
    proc: subprocess.Popen[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    public_key: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, interval: float) -> dict[str, str]:
        env = child_env(self.url, self.var)
        env.update(
            ITI_FEDERATION_KEY_PASSPHRASE=f"bench passphrase of {self.country}",
            ITI_FEDERATION_DELIVERY_INTERVAL=str(interval),
            ITI_FEDERATION_TIMEOUT="10",
            ITI_RATE_LIMIT_ENABLED="false",
            ITI_COOKIE_SECURE="false",
        )
        return env

    def iti(self, interval: float, *args: str) -> Any:
        out = subprocess.run(
            [*iti_command(), "--json", *args],
            env=self.env(interval),
            cwd=REPO,
            capture_output=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"iti {' '.join(args)} on {self.country}: {out.stderr.decode()[-2000:]}")
        return json.loads(out.stdout) if out.stdout.strip() else None


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin() -> Engine:
    return create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")


def database_url(db: str, country: str, work: Path) -> str:
    if db == "sqlite":
        return f"sqlite:///{work / (country + '.db')}"
    name = f"iti_bench_rtt_{country.lower()}_{uuid.uuid4().hex[:8]}"
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    assert name.startswith("iti_bench_rtt_")
    admin = _admin()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def set_up(node: BenchNode, interval: float) -> None:
    """What an operator does on a new node: schema, identity, an officer with a token."""
    node.iti(interval, "db", "upgrade")
    init = node.iti(
        interval, "node", "init", "--country", node.country, "--url", node.base,
        "--poc-name", f"PoC {node.country}", "--contact", f"poc@{node.country.lower()}.example",
    )  # fmt: skip
    node.public_key = init["public_key"]
    node.engine = make_engine(node.url)
    with Session(node.engine) as session, session.begin():
        user = users.add_user(
            session,
            actor="bench",
            username=f"poc-{node.country.lower()}",
            role="poc_officer",
            password=PASSWORD,
        )
        token = users.issue_token(session, user=user, ttl=timedelta(hours=2)).token
    node.headers = {"Authorization": f"Bearer {token}"}


def introduce(a: BenchNode, b: BenchNode, interval: float) -> None:
    for src, dst in ((a, b), (b, a)):
        dst.iti(
            interval, "peer", "add", "--country", src.country, "--url", src.base, "--public-key", src.public_key,
            "--contact", f"poc@{src.country.lower()}.example", "--poc-name", f"PoC {src.country}",
        )  # fmt: skip


def start(node: BenchNode, interval: float, log: Path) -> None:
    with log.open("wb") as fh:
        node.proc = subprocess.Popen(
            [*iti_command(), "serve", "--port", str(node.port)],
            env=node.env(interval),
            cwd=REPO,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(node.base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if node.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"node {node.country} did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def stop(node: BenchNode) -> None:
    if node.proc is not None and node.proc.poll() is None:
        node.proc.terminate()
        try:
            node.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.proc.kill()
            node.proc.wait()
    if node.engine is not None:
        node.engine.dispose()


@contextmanager
def two_nodes(db: str, interval: float, work: Path) -> Iterator[tuple[BenchNode, BenchNode]]:
    made: list[BenchNode] = []
    try:
        for country in ("UG", "KE"):
            node = BenchNode(country, database_url(db, country, work), work / f"var-{country}", free_port())
            made.append(node)
            set_up(node, interval)
        introduce(made[0], made[1], interval)
        for node in made:
            start(node, interval, work / f"serve-{node.country}.log")
        yield made[0], made[1]
    finally:
        for node in made:
            stop(node)
        for node in made:
            drop_database(node.url)


def wait_for(engine: Engine, rid: uuid.UUID, column: str, t0: float, timeout: float = 60) -> float:
    """Milliseconds from `t0` until A's trace has `column` set, read by primary key every POLL_S."""
    col = getattr(TraceRequest, column)
    stmt = select(col).where(TraceRequest.id == rid)
    with engine.connect() as conn:
        while True:
            value = conn.execute(stmt).scalar()
            conn.rollback()  # a fresh snapshot on the next read
            now = time.perf_counter()
            if value is not None:
                return (now - t0) * 1000
            if now - t0 > timeout:
                raise RuntimeError(f"trace {rid}: {column} not set after {timeout} s")
            time.sleep(POLL_S)


def draft_body(i: int) -> dict[str, Any]:
    return {
        "requested_country": "KE", "case_reference": f"UG/BENCH/2026/{i:04d}",
        "illicit_nature": "seized from a robbery suspect", "legal_justification": "Firearms Act (Uganda) s.3",
        "intended_use": "prosecution", "intended_use_code": "prosecution",
        "markings": [{"text": f"GLOCK AUSTRIA GX{i:04d}", "position": "frame, left", "kind": "manufacture",
                      "serial": f"GX{i:04d}"}],
        "category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm Luger",
        "recovery_kind": "seized", "recovered_on": "2026-10-02", "recovery_place": "Kampala",
    }  # fmt: skip


RETRIES: dict[str, int] = {}  # path tail -> 503 answers retried (a busy database: "retry after")


def call(client: httpx.Client, method: str, url: str, headers: dict[str, str], **kw: Any) -> Any:
    """One API call as a client does it: a 503 (database busy, nothing recorded) is retried after the
    Retry-After it gives; the retries are counted and reported, and their time is in the figures."""
    for _ in range(20):
        r = client.request(method, url, headers=headers, timeout=30, **kw)
        if r.status_code != 503:
            break
        tail = url.rsplit("/", 1)[-1]
        RETRIES[tail] = RETRIES.get(tail, 0) + 1
        time.sleep(min(float(r.headers.get("Retry-After") or 0.05), 1.0))
    if r.status_code >= 300:
        raise RuntimeError(f"{method} {url}: {r.status_code} {r.text[:500]}")
    return r.json()


def one_trace(client: httpx.Client, a: BenchNode, b: BenchNode, i: int, trigger: str) -> dict[str, float]:
    assert a.engine is not None
    traces_a, traces_b = a.base + "/api/v1/traces", b.base + "/api/v1/traces"
    rid = uuid.UUID(call(client, "POST", traces_a, a.headers, json=draft_body(i))["id"])
    t0 = time.perf_counter()
    call(client, "POST", f"{traces_a}/{rid}/send", a.headers)
    send_ms = (time.perf_counter() - t0) * 1000
    if trigger == "api":
        call(client, "POST", a.base + "/api/v1/federation/outbox/deliver", a.headers)
    delivered = wait_for(a.engine, rid, "delivered_at", t0)
    acknowledged = wait_for(a.engine, rid, "acknowledged_at", t0)
    t1 = time.perf_counter()
    answer = {"completeness": "partial", "text": "no weapon with these markings in the national records"}
    call(client, "POST", f"{traces_b}/{rid}/answer", b.headers, json=answer)
    answer_api_ms = (time.perf_counter() - t1) * 1000
    if trigger == "api":
        call(client, "POST", b.base + "/api/v1/federation/outbox/deliver", b.headers)
    answered = wait_for(a.engine, rid, "answered_at", t1)
    return {
        "send_api_ms": send_ms,
        "delivered_ms": delivered,
        "acknowledged_ms": acknowledged,
        "answer_api_ms": answer_api_ms,
        "answered_ms": answered,
    }


def stats(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": _percentile(values, 0.5),
        "p90": _percentile(values, 0.9),
        "p99": _percentile(values, 0.99),
        "max": max(values),
        "mean": sum(values) / len(values),
    }


def outbox_breakdown(node: BenchNode) -> dict[str, Any]:
    """Where a message's time goes, from the sending node's own outbox timestamps, per kind: the wait for the
    worker (created_at to the claim's last_attempt_at) and the attempt (sign, POST, the peer's inbox
    transaction, receipt check: last_attempt_at to delivered_at)."""
    assert node.engine is not None
    by_kind: dict[str, dict[str, list[float]]] = {}
    retried: dict[str, int] = {}
    with Session(node.engine) as session:
        for row in session.scalars(select(OutboxMessage).where(OutboxMessage.delivered_at.is_not(None))):
            assert row.last_attempt_at is not None
            assert row.delivered_at is not None
            d = by_kind.setdefault(row.kind, {"wait_ms": [], "attempt_ms": []})
            if row.attempts > 1:  # its last attempt came after a backoff: not the path measured here
                retried[row.kind] = retried.get(row.kind, 0) + 1
                continue
            d["wait_ms"].append((row.last_attempt_at - row.created_at).total_seconds() * 1000)
            d["attempt_ms"].append((row.delivered_at - row.last_attempt_at).total_seconds() * 1000)
    out: dict[str, Any] = {k: {name: stats(v) for name, v in d.items() if v} for k, d in by_kind.items()}
    out["retried"] = retried
    return out


def healthz_baseline(client: httpx.Client, b: BenchNode, n: int) -> dict[str, float]:
    for _ in range(10):
        client.get(b.base + "/healthz")
    out = []
    for _ in range(n):
        t = time.perf_counter()
        client.get(b.base + "/healthz").raise_for_status()
        out.append((time.perf_counter() - t) * 1000)
    return stats(out)


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "db": args.db,
        "requests": args.requests,
        "delivery_interval_s": args.interval,
        "trigger": args.trigger,
        "poll_interval_ms": POLL_S * 1000,
        "machine": machine(),
        "command": "python -m bench.trace_rtt " + " ".join(sys.argv[1:]),
        "code_at_start": code_version(),
    }
    work = Path(tempfile.mkdtemp(prefix="iti-bench-rtt-"))
    try:
        t_setup = time.perf_counter()
        with two_nodes(args.db, args.interval, work) as (a, b), httpx.Client() as client:
            results["setup_s"] = round(time.perf_counter() - t_setup, 2)
            results["baseline_healthz_ms"] = healthz_baseline(client, b, max(args.requests, 50))
            for i in range(args.warmup):  # first requests load code paths and keys: not counted
                one_trace(client, a, b, 10_000 + i, args.trigger)
            rows = []
            for i in range(args.requests):
                rows.append(one_trace(client, a, b, i, args.trigger))
                if (i + 1) % 10 == 0:
                    print(f"  {i + 1}/{args.requests} traces", flush=True)
            results["steps"] = {k: stats([r[k] for r in rows]) for k in rows[0]}
            results["raw"] = rows
            results["retried_503"] = dict(RETRIES)
            results["outbox"] = {a.country: outbox_breakdown(a), b.country: outbox_breakdown(b)}
    finally:
        if args.logs:  # the two servers' logs (warnings: busy databases, delivery failures)
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in work.glob("serve-*.log"):
                shutil.copy(log, args.logs / log.name)
        shutil.rmtree(work, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    return results


def _row(name: str, s: dict[str, float], base: float) -> str:
    return (
        f"| {name} | {s['p50']:.1f} | {s['p90']:.1f} | {s['p99']:.1f} | {s['max']:.1f} | "
        f"{s['p50'] / base:,.0f}× |"
    )


def markdown(r: dict[str, Any]) -> str:
    m, st, base = r["machine"], r["steps"], r["baseline_healthz_ms"]
    b50 = base["p50"]
    trig = (
        "delivery by the worker only (no explicit trigger)"
        if r["trigger"] == "worker"
        else "the worker plus `POST /api/v1/federation/outbox/deliver` right after each send and answer"
    )
    load = ", ".join(f"{x:.2f}" for x in m["loadavg_at_start"])
    load_end = ", ".join(f"{x:.2f}" for x in m["loadavg_at_end"])
    lines = [
        f"**{r['db']}**, run of {r['date']} (commit {r['code_at_start']['commit']}): {r['requests']} traces "
        f"UG → KE one after the other, delivery worker every {r['delivery_interval_s']} s, {trig}; "
        f"A's database polled every {r['poll_interval_ms']:.0f} ms.",
        "",
        "| step (ms, from the officer's call) | p50 | p90 | p99 | max | p50 / healthz |",
        "|---|---|---|---|---|---|",
        _row("send call on A (`POST …/send`)", st["send_api_ms"], b50),
        _row("(1) delivered at A (B's signed receipt)", st["delivered_ms"], b50),
        _row("(2) acknowledged at A (B's automatic ack)", st["acknowledged_ms"], b50),
        _row("answer call on B (`POST …/answer`)", st["answer_api_ms"], b50),
        _row("(3) B answers → A holds the response", st["answered_ms"], b50),
        _row("baseline: `GET /healthz` on B", base, b50),
        "",
        "Where a message's time goes, from the sending node's outbox timestamps (p50 / p99 ms, first-attempt "
        "deliveries, warm-up included): "
        + "; ".join(
            f"{k} ({country}): wait for the worker {x['wait_ms']['p50']:.0f} / {x['wait_ms']['p99']:.0f}, "
            f"attempt (sign, POST, peer's inbox, receipt) {x['attempt_ms']['p50']:.0f} / "
            f"{x['attempt_ms']['p99']:.0f}"
            for country, kinds in r["outbox"].items()
            for k, x in kinds.items()
            if k != "retried" and "wait_ms" in x
        )
        + "; messages delivered at a second attempt or later (after a backoff, left out above): "
        + (
            ", ".join(f"{k} {v}" for kinds in r["outbox"].values() for k, v in kinds["retried"].items())
            or "none"
        )
        + ".",
        "",
        "API calls answered 503 (database busy, retried after Retry-After, the wait counted in the figures): "
        + (", ".join(f"`{k}` {v}" for k, v in r["retried_503"].items()) or "none")
        + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}. Load average "
        f"at start {load}, at end {load_end} (a CI run of the whole suite shared the machine: latencies "
        "are noisy, the tails most).",
        "",
    ]
    return "\n".join(lines)


SECTION_TEXT = f"""{SECTION}

How long a PoC officer waits for the other state's node: two real nodes on loopback (each its own database,
key and `iti serve` process), a trace request sent from A (Uganda) to B (Kenya) through A's API, and B's
answer back. Issue 6, "Scale".

Reproduce: `python -m bench.trace_rtt --requests 50 --db sqlite --out docs/performance.md` (and
`--db postgresql`, scratch databases `iti_bench_rtt_*`, dropped at the end).

Method: each node is set up with the CLI (`iti db upgrade`, `iti node init`, `iti peer add` both ways) and
served by `iti serve` in a child process, with the outbox delivery worker every 0.1 s
(ITI_FEDERATION_DELIVERY_INTERVAL; production default 10 s) and rate limits off. Per request, one at a time
after two unmeasured warm-up traces: the officer's `POST /api/v1/traces` (draft), then the clock starts and
`POST …/send`; the benchmark polls A's database every 5 ms for the trace's `delivered_at` (1) and
`acknowledged_at` (2); then B's officer calls `POST …/answer` and (3) runs until A's trace has `answered_at`.
No explicit delivery trigger: a message waits in the outbox for the worker's next run (the worker sleeps
one interval after each run, in a thread of the server process, so the wait is up to an interval plus the
run before it), and (2) also includes B's worker run for the acknowledgement; the split below shows that
wait. An API call answered 503 (database busy, nothing recorded) is retried after its
Retry-After, as a client does; the retries are counted and their wait is in the figures. The sending
nodes' outbox timestamps split each message's time into the wait for the worker and the attempt (sign,
POST, the peer's inbox transaction, receipt). The baseline is `GET /healthz` on B over a kept-alive
connection in the same run. Figures are wall times on a shared 2-core machine: read the load average.
"""


def write_doc(path: Path, db: str, block: str) -> None:
    """Replace this backend's block, or add it to the section; insert the section before BEFORE once."""
    begin, end = f"<!-- bench:trace-rtt-{db}:begin -->", f"<!-- bench:trace-rtt-{db}:end -->"
    body = f"{begin}\n{block}{end}"
    text_ = path.read_text(encoding="utf-8")
    if begin in text_ and end in text_:
        text_ = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: body, text_, flags=re.S)
    elif SECTION in text_:
        start_ = text_.index(SECTION)
        nxt = text_.find("\n## ", start_ + len(SECTION))
        nxt = len(text_) if nxt < 0 else nxt + 1
        text_ = text_[:nxt].rstrip("\n") + "\n\n" + body + "\n\n" + text_[nxt:]
    else:
        at = text_.index(BEFORE)
        text_ = text_[:at] + SECTION_TEXT + "\n" + body + "\n\n" + text_[at:]
    path.write_text(text_, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--interval", type=float, default=0.1, help="delivery worker interval, seconds")
    p.add_argument("--trigger", choices=("worker", "api"), default="worker")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--logs", type=Path, help="copy the two servers' logs to this folder")
    args = p.parse_args(argv)
    r = run(args)
    block = markdown(r)
    print(block)
    out = args.json or REPO / "bench" / "results" / f"{r['date']}-trace-rtt-{args.db}.json"
    out.write_text(json.dumps(r, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    if args.out:
        write_doc(args.out, args.db, block)
        print(f"updated {args.out}")


if __name__ == "__main__":
    main()
