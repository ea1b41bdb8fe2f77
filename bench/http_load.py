"""The HTTP API's speed on a national-size database, next to a bare Starlette endpoint in the same run.

    python -m bench.http_load --weapons 1000000 --db /tmp/iti-http-1000000.db --out docs/performance.md

One run:

a. a SQLite database of N weapons: made with `iti db upgrade` and filled by the same rows `iti import`
   writes (`bench.run.baseline_insert`, checked equal to the import's rows by `bench.run`), or reused with
   `--db` (upgraded to the current schema first); a record officer with a bearer token and an API key;
b. two uvicorn servers in child processes, one worker each, the same settings: the registry
   (`api.app:create_app`, as `iti serve` runs it) and a bare Starlette app (`bench.http_load:bare_app`)
   answering stored copies of real registry responses, so both send JSON of the same size and shape;
c. `wrk` (a separate load process; `make bench` installs it from Debian) against each, in rounds that
   alternate bare and registry so drift in machine load hits both: `GET /api/v1/weapons/{id}` for random
   existing ids, and `GET /api/v1/weapons?serial=…` for random existing serials, each with credentials;
   requests/s and p50/p99 latency, and their ratio to the bare endpoint (target: at least 0.5);
d. machine information; figures to JSON and to a Markdown block in docs/performance.md.

Develop at `--weapons 20000`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.run import REPO, baseline_insert, code_version, fresh_db, iti_command, iti_env, machine

MARKERS = ("<!-- bench:http:begin -->", "<!-- bench:http:end -->")
SAMPLE = 5000  # distinct weapons the load draws from (random ids and serials)
TARGET_RATIO = 0.5
BARE_DOCS_ENV = "ITI_BENCH_BARE_DOCS"
RATE_LIMIT_API = f"{10**9}/1"  # the registry's per-credential limit, out of the load's reach


# --- the bare endpoint ------------------------------------------------------------------------------------


def bare_app() -> Any:
    """A bare Starlette app (uvicorn factory) that answers the registry's own responses, captured in this
    run: JSON of the same size and shape, serialised per request as any Starlette endpoint does."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    docs = json.loads(Path(os.environ[BARE_DOCS_ENV]).read_text(encoding="utf-8"))

    def endpoint(name: str) -> Any:
        async def answer(_request: Request) -> JSONResponse:
            return JSONResponse(docs[name])

        return answer

    return Starlette(routes=[Route(f"/bare/{name}", endpoint(name)) for name in docs])


# --- database and credentials -----------------------------------------------------------------------------


def weapon_count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT COUNT(*) FROM weapons").fetchone()[0]
    finally:
        con.close()


def prepare_db(db: Path, n: int, seed: int) -> dict[str, Any]:
    """A database of `n` weapons at the current schema: reused if it holds them, else made."""
    if db.exists():
        subprocess.run([*iti_command(), "db", "upgrade"], env=iti_env(db), check=True, capture_output=True)
        have = weapon_count(db)
        if have != n:
            raise SystemExit(f"{db} holds {have:,} weapons, not {n:,}: remove it or give another --db")
        return {"made": False}
    t0 = time.perf_counter()
    fresh_db(db)
    baseline_insert(db, n, seed)
    complete_audit_state(db)
    return {"made": True, "seconds": time.perf_counter() - t0}


def complete_audit_state(db: Path) -> None:
    """Store the Merkle frontier of the log the baseline wrote (it sets only `next_seq`), so the registry
    can append to that log (the run's own user and API key are audited writes)."""
    from registry.audit.merkle import MerkleAccumulator

    con = sqlite3.connect(db)
    try:
        acc = MerkleAccumulator()
        acc.extend(bytes(h) for (h,) in con.execute("SELECT leaf_hash FROM audit_entries ORDER BY seq"))
        (next_seq,) = con.execute("SELECT next_seq FROM audit_log_state WHERE id = 1").fetchone()
        if acc.size != next_seq:
            raise RuntimeError(f"the log holds {acc.size} entries but next_seq is {next_seq}")
        con.execute("UPDATE audit_log_state SET frontier = ? WHERE id = 1", (acc.frontier_bytes(),))
        con.commit()
    finally:
        con.close()


@dataclass(frozen=True)
class Credentials:
    bearer: str
    api_key: str


def credentials(db: Path) -> Credentials:
    """A record officer with a bearer token (long enough for the run) and a record-officer API key."""
    from sqlalchemy.orm import Session

    from registry.db import make_engine
    from registry.users import service as users

    engine = make_engine(f"sqlite:///{db}")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        with Session(engine) as s, s.begin():
            user = users.add_user(
                s, actor="bench", username=name, role="record_officer", password=uuid.uuid4().hex
            )
            token = users.issue_token(s, user=user, ttl=timedelta(hours=2)).token
            _, key = users.create_api_key(s, actor="bench", name=name, role="record_officer")
    finally:
        engine.dispose()
    return Credentials(bearer=token, api_key=key)


def sample(db: Path, k: int, seed: int) -> list[tuple[str, str]]:
    """`k` random existing weapons as (id as the API writes it, serial)."""
    con = sqlite3.connect(db)
    try:
        top = con.execute("SELECT MAX(rowid) FROM weapons").fetchone()[0]
        rng = random.Random(seed)
        rowids = rng.sample(range(1, top + 1), min(k, top))
        rows: list[tuple[str, str]] = []
        for i in range(0, len(rowids), 500):
            chunk = rowids[i : i + 500]
            rows += con.execute(
                f"SELECT id, serial FROM weapons WHERE rowid IN ({', '.join('?' * len(chunk))}) "
                "AND serial IS NOT NULL",
                chunk,
            ).fetchall()
    finally:
        con.close()
    rng.shuffle(rows)
    return [(str(uuid.UUID(hex=wid)), serial) for wid, serial in rows]


def warm_pages(db: Path, picked: list[tuple[str, str]]) -> float:
    """Read every weapon the load will ask for, by id and by serial, with the registry's own read model, so
    the file's pages the load touches are in the OS page cache, as on a server that has been answering for
    a while. Without it the first registry scenario of the first round reads a 2 GB file from disk (the
    bare endpoint reads nothing), and that round measures the disk."""
    from sqlalchemy.dialects import sqlite as sqlite_dialect

    from registry.reference.service import text_key
    from registry.weapons.read_model import SqliteReads

    t0 = time.perf_counter()
    reads = SqliteReads(sqlite_dialect.dialect())
    con = sqlite3.connect(db, isolation_level=None)
    try:
        for wid, serial in picked:
            if reads.weapon_document(con, uuid.UUID(wid)) is None:
                raise RuntimeError(f"sampled weapon {wid} not found")
            reads.weapons_by_mark(con, text_key(serial))
    finally:
        con.close()
    return time.perf_counter() - t0


# --- servers and load -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uvicorn_args(target: str, port: int) -> list[str]:
    """The same settings for both servers: one worker, uvicorn's default loop and HTTP parser, no access
    log (a log line per request would measure the terminal, not the app)."""
    return [
        *(sys.executable, "-m", "uvicorn", "--factory", target),
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--log-level", "warning", "--no-access-log"),
    ]


@dataclass(frozen=True)
class Served:
    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(target: str, env: dict[str, str], log: Path) -> Iterator[Served]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(uvicorn_args(target, port), env=env, cwd=REPO, stdout=out, stderr=out)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"{target} did not start: {log.read_text(errors='replace')}"
                        ) from None
                    time.sleep(0.1)
            yield Served(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


WRK_SCRIPT = """
local paths = {%(paths)s}
%(headers)s
function init(args)
  math.randomseed(%(seed)d)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def wrk_script(path: Path, paths: list[str], headers: dict[str, str], seed: int) -> Path:
    lua_paths = ", ".join(json.dumps(p) for p in paths)  # JSON string literals are valid Lua for ASCII
    lua_headers = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path.write_text(WRK_SCRIPT % {"paths": lua_paths, "headers": lua_headers, "seed": seed}, encoding="utf-8")
    return path


def wrk(url: str, script: Path, *, threads: int, connections: int, seconds: float) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `make bench` installs it (Debian package wrk)")
    out = subprocess.run(
        [
            *("wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"),
            *("-s", str(script), url),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^WRK_JSON (\{.*\})$", out, re.M)
    if match is None:
        raise RuntimeError(f"no summary from wrk: {out}")
    r = json.loads(match.group(1))
    errors = sum(r[k] for k in ("connect", "read", "write", "status", "timeout"))
    if errors:
        raise RuntimeError(f"wrk saw {errors} errors or non-2xx answers against {url}: {r}")
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["bytes_per_response"] = r["bytes"] / max(1, r["requests"])
    return r


# --- the run ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    label: str
    bare: str  # the bare route answering the same document
    paths: list[str]
    headers: dict[str, str]


def scenarios(picked: list[tuple[str, str]], creds: Credentials) -> list[Scenario]:
    bearer = {"Authorization": f"Bearer {creds.bearer}"}
    by_id = [f"/api/v1/weapons/{wid}" for wid, _ in picked]
    by_serial = [f"/api/v1/weapons?serial={quote(serial)}" for _, serial in picked]
    return [
        Scenario("get_by_id", "`GET /api/v1/weapons/{id}`, bearer token", "weapon", by_id, bearer),
        Scenario(
            "serial_search", "`GET /api/v1/weapons?serial=…`, bearer token", "search", by_serial, bearer
        ),
        Scenario(
            "get_by_id_api_key",
            "`GET /api/v1/weapons/{id}`, API key",
            "weapon",
            by_id,
            {"X-API-Key": creds.api_key},
        ),
    ]


def check_answers(base: str, sc: Scenario, picked: list[tuple[str, str]]) -> bytes:
    """Every scenario answers the expected weapon (so the load measures real work); one body, for the bare
    endpoint to copy."""
    import httpx

    body = b""
    with httpx.Client(base_url=base, headers=sc.headers, timeout=30) as http:
        for (wid, _), path in zip(picked[:20], sc.paths[:20], strict=True):
            r = http.get(path)
            r.raise_for_status()
            doc = r.json()
            ids = [w["id"] for w in doc["items"]] if "items" in doc else [doc["id"]]
            if wid not in ids:
                raise RuntimeError(f"{path} did not answer weapon {wid}: {r.text[:300]}")
            body = r.content
    return body


def _step(name: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {name}", flush=True)


def run(args: argparse.Namespace, results: dict[str, Any]) -> None:
    n, seed = args.weapons, args.seed
    work = Path(tempfile.mkdtemp(prefix="iti-http-", dir=args.workdir))
    db = args.db or work / f"weapons-{n}.db"
    results |= {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "weapons": n,
        "seed": seed,
        "machine": machine(),
        "command": "python -m bench.http_load " + " ".join(sys.argv[1:]),
        "code_at_start": code_version(),
        "settings": {
            "wrk_threads": args.threads,
            "connections": args.connections,
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "rounds": args.rounds,
            "uvicorn": " ".join(uvicorn_args("TARGET", 0)[3:]).replace(" --port 0", ""),
        },
    }
    try:
        _step(f"a. database of {n:,} weapons at {db}")
        results["database"] = prepare_db(db, n, seed)
        creds = credentials(db)
        picked = sample(db, SAMPLE, seed)
        results["sampled_weapons"] = len(picked)
        _step(f"   read the {len(picked):,} sampled weapons once, so the load finds their pages in memory")
        results["warm_seconds"] = warm_pages(db, picked)
        plan = scenarios(picked, creds)
        env = iti_env(db)
        # One credential sends thousands of requests a second here, and the per-credential limit
        # (api/ratelimit.py, 100/s by default) would answer most with 429. It stays on with a limit the
        # load cannot reach, so its cost per request is still measured.
        env["ITI_RATE_LIMIT_API"] = RATE_LIMIT_API
        results["settings"]["rate_limit_api"] = RATE_LIMIT_API
        bodies: dict[str, bytes] = {}
        _step("b. registry server: check every scenario answers the expected weapon")
        with server("api.app:create_app", env, work / "registry-check.log") as served:
            for sc in plan:
                bodies.setdefault(sc.bare, check_answers(served.url, sc, picked))
        docs_file = work / "bare-docs.json"
        docs_file.write_text(json.dumps({k: json.loads(v) for k, v in bodies.items()}), encoding="utf-8")
        results["response_bytes"] = {k: len(v) for k, v in bodies.items()}
        bare_env = {**env, BARE_DOCS_ENV: str(docs_file)}
        scripts = {sc.name: wrk_script(work / f"{sc.name}.lua", sc.paths, sc.headers, seed) for sc in plan}
        for name in {sc.bare for sc in plan}:
            scripts[f"bare_{name}"] = wrk_script(work / f"bare_{name}.lua", [f"/bare/{name}"], {}, seed)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in scripts}

        def load(served: Served, key: str) -> None:
            opts = {"threads": args.threads, "connections": args.connections}
            wrk(served.url, scripts[key], seconds=args.warmup, **opts)
            cpu = cpu_seconds(served.pid)
            r = wrk(served.url, scripts[key], seconds=args.seconds, **opts)
            cpu = cpu_seconds(served.pid) - cpu
            # CPU the server spent per answer, and the share of one core it got (the machine is shared).
            r["server_cpu_ms_per_request"] = 1000 * cpu / max(1, r["requests"])
            r["server_cpu_share"] = cpu / (r["duration_us"] / 1e6)
            runs[key].append(r)
            print(
                f"   {key}: {r['rps']:,.0f} req/s, p50 {r['p50_us'] / 1000:.2f} ms, p99 {r['p99_us'] / 1000:.2f} ms"
            )

        for i in range(args.rounds):
            _step(f"c. round {i + 1} of {args.rounds}: bare, then registry")
            with server("bench.http_load:bare_app", bare_env, work / "bare.log") as served:
                for name in sorted({sc.bare for sc in plan}):
                    load(served, f"bare_{name}")
            with server("api.app:create_app", env, work / "registry.log") as served:
                for sc in plan:
                    load(served, sc.name)
        results["runs"] = runs
        results["summary"] = summarise(plan, runs)
        results["machine"]["loadavg_at_end"] = os.getloadavg()
        results["code_at_end"] = code_version()
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def summarise(plan: list[Scenario], runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over rounds; each scenario's ratio to the bare endpoint answering the same document."""
    out: dict[str, Any] = {}
    for key, rs in runs.items():
        out[key] = {
            "rps": _median(rs, "rps"),
            "p50_ms": _median(rs, "p50_us") / 1000,
            "p99_ms": _median(rs, "p99_us") / 1000,
            "bytes_per_response": _median(rs, "bytes_per_response"),
            "cpu_ms_per_request": _median(rs, "server_cpu_ms_per_request"),
            "cpu_share": _median(rs, "server_cpu_share"),
        }
    for sc in plan:
        out[sc.name]["label"] = sc.label
        out[sc.name]["bare"] = f"bare_{sc.bare}"
        out[sc.name]["ratio"] = out[sc.name]["rps"] / out[f"bare_{sc.bare}"]["rps"]
    return out


# --- report -----------------------------------------------------------------------------------------------


def markdown(r: dict[str, Any]) -> str:
    m, s, st = r["machine"], r["summary"], r["settings"]
    end = r.get("code_at_end", {})
    lines = [
        f"Run of {r['date']}: {r['weapons']:,} weapons, `{r['command']}`.",
        "",
        f"Code: commit {r['code_at_start']['commit']}"
        + (
            " with uncommitted changes to registry/ or cli/"
            if r["code_at_start"]["registry_or_cli_modified"]
            else ""
        )
        + (
            f"; at the end {end['commit']}"
            if end and end.get("commit") != r["code_at_start"]["commit"]
            else ""
        )
        + ".",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}. Load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}"
        + (
            f", at end {', '.join(f'{x:.2f}' for x in m['loadavg_at_end'])}."
            if "loadavg_at_end" in m
            else "."
        ),
        "",
        f"Load: `wrk -t{st['wrk_threads']} -c{st['connections']} -d{st['seconds']:g}s` after a "
        f"{st['warmup_seconds']:g} s warm-up, {st['rounds']} round(s), medians shown; servers: "
        f"`uvicorn {st['uvicorn']}`; {r['sampled_weapons']:,} random existing weapons.",
        "",
        "| Request | req/s | p50 | p99 | bytes | server CPU per request | bare req/s | ÷ bare | target ≥ 0.5 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for x in s.values():
        if "ratio" not in x:
            continue
        b = s[x["bare"]]
        lines.append(
            f"| {x['label']} | {x['rps']:,.0f} | {x['p50_ms']:.2f} ms | {x['p99_ms']:.2f} ms "
            f"| {x['bytes_per_response']:.0f} | {x['cpu_ms_per_request']:.2f} ms ({100 * x['cpu_share']:.0f} % of a core) | {b['rps']:,.0f} | {x['ratio']:.2f} "
            f"| {'met' if x['ratio'] >= TARGET_RATIO else '**missed**'} |"
        )
    lines += ["", "Bare Starlette endpoints answering the same documents:", ""]
    for key, x in s.items():
        if key.startswith("bare_"):
            lines.append(
                f"- `{key}`: {x['rps']:,.0f} req/s, p50 {x['p50_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms, "
                f"{x['bytes_per_response']:.0f} bytes per response, server CPU {x['cpu_ms_per_request']:.3f} ms "
                f"per request ({100 * x['cpu_share']:.0f} % of a core)"
            )
    return "\n".join(lines) + "\n"


def write_doc(path: Path, block: str) -> None:
    begin, end = MARKERS
    body = f"{begin}\n{block}{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: body, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--weapons", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db", type=Path, help="Database to reuse (or to make and keep) for this many weapons")
    p.add_argument("--threads", type=int, default=1, help="wrk threads")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per load run")
    p.add_argument("--warmup", type=float, default=3.0, help="Unmeasured seconds before each load run")
    p.add_argument("--rounds", type=int, default=2, help="Rounds of bare-then-registry runs (medians kept)")
    p.add_argument("--out", type=Path, help="Markdown file whose bench:http block to replace")
    p.add_argument("--json", type=Path, help="JSON file (default: bench/results/DATE-http-WEAPONS.json)")
    p.add_argument("--workdir", type=Path, help="Where to make the temporary folder (default: system temp)")
    p.add_argument("--keep", action="store_true", help="Keep the temporary folder (logs, wrk scripts)")
    p.add_argument(
        "--render", type=Path, metavar="JSON", help="Only re-render --out from a saved results file"
    )
    args = p.parse_args(argv)
    if args.render:
        block = markdown(json.loads(args.render.read_text(encoding="utf-8")))
        if args.out:
            write_doc(args.out, block)
        print(block)
        return
    results: dict[str, Any] = {}
    try:
        run(args, results)
    except BaseException as exc:
        results["error"] = repr(exc)
        partial = Path(tempfile.gettempdir()) / f"iti-http-partial-{args.weapons}.json"
        partial.write_text(json.dumps(results, indent=2, default=list) + "\n", encoding="utf-8")
        print(f"failed; partial results in {partial}", file=sys.stderr)
        raise
    out_json = args.json or REPO / "bench" / "results" / f"{results['date']}-http-{args.weapons}.json"
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2, default=list) + "\n", encoding="utf-8")
    block = markdown(results)
    print(block)
    if args.out:
        write_doc(args.out, block)
    print(f"wrote {out_json}" + (f" and {args.out}" if args.out else ""))


if __name__ == "__main__":
    main()
