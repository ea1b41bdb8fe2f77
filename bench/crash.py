"""Crash drills: `kill -9` of the CLI in the middle of an import, and of the server under concurrent writes.

    python -m bench.crash import --rows 100000 --kill-at-wal-mb 5 40 120
    python -m bench.crash server --threads 8 --seconds 20
    python -m bench.crash server --database-url postgresql+psycopg://postgres@127.0.0.1/scratch --threads 8

Each drill works in a fresh temporary folder (its own SQLite file, keys and var dir; a PostgreSQL database
is used only when given and must be empty) and returns plain facts — counts, ids acknowledged, ids found,
the exit codes of `iti audit verify` and `iti records check` — which `tests/reliability/` asserts on at a
small size and `docs/reliability.md` reports at full size. Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.generate import write_file
from registry import migrate
from registry.audit import checker
from registry.history import lifecycle
from registry.reference.service import seed_reference_data
from registry.users import service as users
from registry.weapons import repository as weapon_repo
from registry.weapons.models import WeaponState

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Iti:
    """The `iti` command as an officer runs it, against one database and var dir."""

    env: dict[str, str]

    @classmethod
    def fresh(cls, work: Path, database_url: str | None = None) -> Iti:
        env = {
            **os.environ,
            "ITI_VAR_DIR": str(work),
            "ITI_DATABASE_URL": database_url or f"sqlite:///{work / 'iti.db'}",
            "ITI_AUDIT_KEY_PASSPHRASE": "crash-drill",
            "ITI_NODE_COUNTRY": "KE",
            "ITI_PROFILE": "iti",
        }
        env.pop("ITI_DATA_KEY", None)
        return cls(env)

    @property
    def url(self) -> str:
        return self.env["ITI_DATABASE_URL"]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "cli.main", *args]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args),
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            self.argv(*args), cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def scalar(self, sql: str) -> Any:
        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql)).scalar_one()
        finally:
            engine.dispose()

    def checks(self) -> dict[str, int]:
        """What `iti audit verify` and `iti records check` would exit with (run in this process: the same
        code without two interpreter start-ups)."""
        engine = create_engine(self.url)
        try:
            with Session(engine) as session, session.begin():
                audit_ok = checker.verify(session, check_records=True).ok
                states = session.execute(select(WeaponState)).scalars().all()
                records_ok = all(
                    lifecycle.derive_state(
                        weapon_repo.events_of(session, st.weapon_id), home_country="KE"
                    ).status
                    == st.status
                    for st in states
                )
        finally:
            engine.dispose()
        return {"audit_verify": 0 if audit_ok else 1, "records_check": 0 if records_ok else 1}

    def upgrade(self) -> None:
        """`iti db upgrade`, in this process."""
        migrate.upgrade(self.url)
        engine = create_engine(self.url)
        with Session(engine) as session, session.begin():
            seed_reference_data(session, actor="crash-drill")
        engine.dispose()

    def api_key(self, role: str) -> str:
        engine = create_engine(self.url)
        with Session(engine) as session, session.begin():
            _key, secret = users.create_api_key(session, actor="crash-drill", name=f"drill-{role}", role=role)
        engine.dispose()
        return secret


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


# --- import -----------------------------------------------------------------------------------------------


@dataclass
class ImportDrill:
    rows: int
    kill_at_wal_bytes: int
    audit_entries_before: int = -1
    killed_after_s: float = 0.0
    wal_bytes_at_kill: int = 0
    import_finished_before_kill: bool = False
    weapons_after_kill: int = -1
    audit_entries_after_kill: int = -1
    checks_after_kill: dict[str, int] = field(default_factory=dict)
    rerun_exit: int = -1
    rerun_s: float = 0.0
    weapons_after_rerun: int = -1
    third_run_exit: int = -1
    weapons_after_third_run: int = -1
    checks_at_end: dict[str, int] = field(default_factory=dict)


def import_drill(
    work: Path, *, rows: int, kill_at_wal_bytes: int, csv_file: Path | None = None
) -> ImportDrill:
    """Import `rows` weapons, kill -9 the CLI once SQLite's WAL holds `kill_at_wal_bytes` of the import's
    transaction, then check, re-run the import, and run it a third time (which must add nothing)."""
    iti = Iti.fresh(work)
    iti.upgrade()
    source = csv_file or write_file(work / "weapons.csv", rows, seed=3)
    wal = work / "iti.db-wal"
    wal_start = wal.stat().st_size if wal.exists() else 0
    drill = ImportDrill(rows=rows, kill_at_wal_bytes=kill_at_wal_bytes)
    drill.audit_entries_before = iti.scalar("SELECT count(*) FROM audit_entries")
    started = time.monotonic()
    proc = iti.popen("import", str(source))
    while proc.poll() is None:
        size = wal.stat().st_size if wal.exists() else 0
        if size - wal_start >= kill_at_wal_bytes:
            drill.wal_bytes_at_kill = size
            _kill(proc)
            break
        time.sleep(0.005)
    else:
        drill.import_finished_before_kill = True
    drill.killed_after_s = round(time.monotonic() - started, 2)
    drill.weapons_after_kill = iti.scalar("SELECT count(*) FROM weapons")
    drill.audit_entries_after_kill = iti.scalar("SELECT count(*) FROM audit_entries")
    drill.checks_after_kill = iti.checks()
    started = time.monotonic()
    drill.rerun_exit = iti.run("import", str(source)).returncode
    drill.rerun_s = round(time.monotonic() - started, 2)
    drill.weapons_after_rerun = iti.scalar("SELECT count(*) FROM weapons")
    drill.third_run_exit = iti.run("import", str(source)).returncode
    drill.weapons_after_third_run = iti.scalar("SELECT count(*) FROM weapons")
    drill.checks_at_end = iti.checks()
    return drill


# --- server -----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def weapon_body(n: int) -> dict[str, Any]:
    serial = f"CR{os.getpid()}X{n:06d}"
    return {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9mm Luger",
        "year_of_manufacture": 2020,
        "markings": [
            {
                "text": f"GLOCK AUSTRIA {serial}",
                "kind": "manufacture",
                "component": "frame",
                "manufacturer": "GLOCK",
                "country": "AT",
                "serial": serial,
                "year": 2020,
            },
            {"text": "IMP KE 2021", "kind": "import", "component": "frame", "country": "KE", "year": 2021},
        ],
        "event": {"type": "imported", "to_country": "KE"},
    }


EVENT = {"type": "origin_assessed", "data": {"origin_established": "pending"}}


@dataclass
class ServerDrill:
    threads: int
    seconds: float
    acknowledged: int = 0
    other_statuses: dict[str, int] = field(default_factory=dict)
    retry_after_values: list[str | None] = field(default_factory=list)
    in_flight_at_kill: int = 0
    acknowledged_missing: list[str] = field(default_factory=list)
    events_in_database: int = 0
    appends_per_s: float = 0.0
    checks_after_kill: dict[str, int] = field(default_factory=dict)
    restarted_ready: bool = False
    append_after_restart: int = 0


class _Server:
    def __init__(self, iti: Iti, port: int) -> None:
        self.iti, self.port = iti, port
        self.proc = iti.popen("serve", "--host", "127.0.0.1", "--port", str(port))
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("the server did not become ready")
            time.sleep(0.1)


def _writer(
    base: str,
    headers: dict[str, str],
    weapon: str,
    stop: threading.Event,
    out: dict[str, Any],
    *,
    retry_wait_cap: float = 0.0,
) -> None:
    """Append events until stopped; after a 503, wait Retry-After seconds (at most `retry_wait_cap`)."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        while not stop.is_set():
            out["in_flight"] += 1
            started = time.monotonic()
            try:
                r = http.post(f"/api/v1/weapons/{weapon}/events", json=EVENT)
            except httpx.TransportError:
                return  # the server is gone: the outcome of this request is unknown, never acknowledged
            finally:
                out["in_flight"] -= 1
            out["max_latency"] = max(out.get("max_latency", 0.0), time.monotonic() - started)
            if r.status_code == 201:
                out["acked"].append(r.json()["event"]["id"])
            else:
                out["other"][str(r.status_code)] = out["other"].get(str(r.status_code), 0) + 1
                out["retry_after"].add(r.headers.get("Retry-After"))
                if retry_wait_cap and r.headers.get("Retry-After", "").isdigit():
                    stop.wait(min(float(r.headers["Retry-After"]), retry_wait_cap))


def _present(url: str, ids: list[str]) -> list[str]:
    """The ids of `ids` that are not in the events table."""
    engine = create_engine(url)
    with engine.connect() as conn:
        # SQLite stores UUIDs as 32 hex digits, PostgreSQL as uuid: compare in one form.
        present = {str(r[0]).replace("-", "") for r in conn.execute(text("SELECT id FROM events"))}
    engine.dispose()
    return [a for a in ids if a.replace("-", "") not in present]


@dataclass
class OutageDrill:
    threads: int
    outage_s: float
    statuses_before: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    retry_after_values: list[str | None] = field(default_factory=list)
    max_latency_s: float = 0.0
    readyz_during_outage: list[int] = field(default_factory=list)
    readyz_after: int = 0
    recovered_after_s: float = -1.0
    acknowledged: int = 0
    acknowledged_missing: list[str] = field(default_factory=list)
    checks_at_end: dict[str, int] = field(default_factory=dict)


def _set_connections(admin_url: str, name: str, *, allowed: bool) -> None:
    """Open or close one database to new connections; closing also ends its sessions. The PostgreSQL server
    and its other databases are not touched."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
            if not allowed:
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
    finally:
        admin.dispose()


def outage_drill(
    work: Path, *, database_url: str, admin_url: str, threads: int, outage_s: float
) -> OutageDrill:
    """PostgreSQL goes away under a write load and comes back, without stopping the server process or the
    PostgreSQL server: the drill's own database refuses connections and its sessions are terminated.
    Facts: the answers (only 201 and 503 with Retry-After expected), the slowest request (no hang), /readyz
    during and after, how soon writes resume by themselves, every 201 in the database, the audit log."""
    iti = Iti.fresh(work, database_url)
    iti.upgrade()
    headers = {"X-API-Key": iti.api_key("record_officer")}
    server = _Server(iti, free_port())
    name = str(make_url(database_url).database)
    drill = OutageDrill(threads=threads, outage_s=outage_s)
    state: dict[str, Any] = {"acked": [], "other": {}, "in_flight": 0, "retry_after": set()}
    try:
        weapons = []
        for n in range(threads):
            r = httpx.post(server.base + "/api/v1/weapons", json=weapon_body(n), headers=headers, timeout=30)
            r.raise_for_status()
            weapons.append(r.json()["id"])
        stop = threading.Event()
        workers = [
            threading.Thread(
                target=_writer, args=(server.base, headers, w, stop, state), kwargs={"retry_wait_cap": 1.0}
            )
            for w in weapons
        ]
        for t in workers:
            t.start()
        time.sleep(2)
        drill.statuses_before = {"201": len(state["acked"]), **state["other"]}
        _set_connections(admin_url, name, allowed=False)
        down_until = time.monotonic() + outage_s
        while time.monotonic() < down_until:
            drill.readyz_during_outage.append(httpx.get(server.base + "/readyz", timeout=30).status_code)
            time.sleep(0.5)
        acked_at_return = len(state["acked"])
        _set_connections(admin_url, name, allowed=True)
        back = time.monotonic()
        while len(state["acked"]) == acked_at_return and time.monotonic() - back < 30:
            time.sleep(0.05)
        if len(state["acked"]) > acked_at_return:
            drill.recovered_after_s = round(time.monotonic() - back, 2)
        time.sleep(2)
        stop.set()
        for t in workers:
            t.join(60)
        drill.readyz_after = httpx.get(server.base + "/readyz", timeout=30).status_code
    finally:
        _set_connections(admin_url, name, allowed=True)
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(30)
    drill.statuses = {"201": len(state["acked"]), **state["other"]}
    drill.retry_after_values = sorted(state["retry_after"], key=str)
    drill.max_latency_s = round(state.get("max_latency", 0.0), 2)
    drill.acknowledged = len(state["acked"])
    drill.acknowledged_missing = _present(iti.url, list(state["acked"]))
    drill.checks_at_end = iti.checks()
    return drill


def server_drill(work: Path, *, threads: int, seconds: float, database_url: str | None = None) -> ServerDrill:
    """Serve, append events from `threads` clients for `seconds`, kill -9 the server mid-load, then check that
    every 201 is in the database and the audit log verifies; restart and append once more."""
    iti = Iti.fresh(work, database_url)
    iti.upgrade()
    headers = {"X-API-Key": iti.api_key("record_officer")}
    server = _Server(iti, free_port())
    weapons = []
    for n in range(threads):
        r = httpx.post(server.base + "/api/v1/weapons", json=weapon_body(n), headers=headers, timeout=30)
        r.raise_for_status()
        weapons.append(r.json()["id"])
    stop = threading.Event()
    state: dict[str, Any] = {"acked": [], "other": {}, "in_flight": 0, "retry_after": set()}
    workers = [
        threading.Thread(target=_writer, args=(server.base, headers, w, stop, state), daemon=True)
        for w in weapons
    ]
    started = time.monotonic()
    for t in workers:
        t.start()
    time.sleep(seconds)
    drill = ServerDrill(threads=threads, seconds=seconds, in_flight_at_kill=state["in_flight"])
    _kill(server.proc)  # while the writers are mid-request
    stop.set()
    for t in workers:
        t.join(60)
    elapsed = time.monotonic() - started
    acked = list(state["acked"])
    drill.acknowledged, drill.other_statuses = len(acked), dict(state["other"])
    drill.retry_after_values = sorted(state["retry_after"], key=str)
    drill.appends_per_s = round(len(acked) / elapsed, 1)
    drill.acknowledged_missing = _present(iti.url, acked)
    drill.events_in_database = int(iti.scalar("SELECT count(*) FROM events"))
    drill.checks_after_kill = iti.checks()
    again = _Server(iti, free_port())
    drill.restarted_ready = True
    r = httpx.post(
        f"{again.base}/api/v1/weapons/{weapons[0]}/events", json=EVENT, headers=headers, timeout=30
    )
    drill.append_after_restart = r.status_code
    again.proc.send_signal(signal.SIGTERM)
    again.proc.wait(30)
    return drill


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="drill", required=True)
    imp = sub.add_parser("import")
    imp.add_argument("--rows", type=int, default=100_000)
    imp.add_argument("--kill-at-wal-mb", type=float, nargs="+", default=[5.0, 40.0, 120.0])
    srv = sub.add_parser("server")
    srv.add_argument("--threads", type=int, default=8)
    srv.add_argument("--seconds", type=float, default=20.0)
    srv.add_argument("--database-url", help="an empty PostgreSQL database (default: a SQLite file)")
    out = sub.add_parser("outage", help="PostgreSQL unavailable under load (a scratch database of the drill)")
    out.add_argument("--database-url", required=True, help="an empty PostgreSQL database, used and left")
    out.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    out.add_argument("--threads", type=int, default=8)
    out.add_argument("--outage-seconds", type=float, default=10.0)
    args = p.parse_args(argv)
    results: list[dict[str, Any]] = []
    if args.drill == "import":
        with tempfile.TemporaryDirectory(prefix="iti-crash-") as shared:
            csv_file = write_file(Path(shared) / "weapons.csv", args.rows, seed=3)
            for mb in args.kill_at_wal_mb:
                with tempfile.TemporaryDirectory(prefix="iti-crash-") as tmp:
                    d = import_drill(
                        Path(tmp), rows=args.rows, kill_at_wal_bytes=int(mb * 1e6), csv_file=csv_file
                    )
                results.append(asdict(d))
                print(json.dumps(results[-1]), flush=True)
    elif args.drill == "outage":
        with tempfile.TemporaryDirectory(prefix="iti-crash-") as tmp:
            o = outage_drill(
                Path(tmp),
                database_url=args.database_url,
                admin_url=args.admin_url,
                threads=args.threads,
                outage_s=args.outage_seconds,
            )
        summary = asdict(o)
        summary["acknowledged_missing"] = len(o.acknowledged_missing)
        summary["readyz_during_outage"] = sorted(set(o.readyz_during_outage))
        print(json.dumps(summary), flush=True)
    else:
        with tempfile.TemporaryDirectory(prefix="iti-crash-") as tmp:
            d = server_drill(
                Path(tmp), threads=args.threads, seconds=args.seconds, database_url=args.database_url
            )
        summary = asdict(d)
        summary["acknowledged_missing"] = len(d.acknowledged_missing)
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
