"""Throw-away PostgreSQL servers for the replica and failover tests: a primary made by `initdb` and a hot
standby made from it by `pg_basebackup -R`, each on its own free loopback port and in its own temporary
folder, run with `pg_ctl` (as the `postgres` OS user when the tests run as root, since PostgreSQL refuses
to run as root). The shared server on 5432 is never touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg


def pg_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian keeps them under /usr/lib/postgresql/N/bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)"
        )
    return found[-1].parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def run(cmd: list[str], *, timeout: float = 60) -> str:
    done = subprocess.run(_as_postgres(cmd), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Server:
    """One PostgreSQL server: its data folder and port."""

    name: str
    datadir: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=3"

    def url(self, database: str = "iti") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        log = self.datadir.parent / f"{self.name}.log"
        run([str(pg_bin() / "pg_ctl"), "-D", str(self.datadir), "-l", str(log), "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        run([str(pg_bin() / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        done = subprocess.run(
            _as_postgres([str(pg_bin() / "pg_ctl"), "-D", str(self.datadir), "status"]),
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def sql(self, query: str, database: str = "postgres") -> list[tuple[object, ...]]:
        with psycopg.connect(self.dsn.replace("dbname=postgres", f"dbname={database}"), autocommit=True) as c:
            cur = c.execute(query)  # type: ignore[arg-type]  # our own literal SQL in tests
            return cur.fetchall() if cur.description else []

    def configure(self, **settings: str) -> None:
        with (self.datadir / "postgresql.conf").open("a") as f:
            for key, value in settings.items():
                f.write(f"{key} = '{value}'\n")


@dataclass
class Pair:
    """A primary and one streaming hot standby of it."""

    root: Path
    primary: Server
    standby: Server

    def wait_streaming(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                rows = self.standby.sql("SELECT status FROM pg_stat_wal_receiver")
                if rows and rows[0][0] == "streaming":
                    return
            time.sleep(0.1)
        raise TimeoutError("the standby is not streaming from the primary")

    def wait_replayed(self, timeout: float = 30) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        (target,) = self.primary.sql("SELECT pg_current_wal_lsn()")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            (ok,) = self.standby.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0]
            if ok:
                return
            time.sleep(0.05)
        raise TimeoutError(f"the standby has not replayed up to {target}")

    def destroy(self) -> None:
        for server in (self.standby, self.primary):
            if server.datadir.exists() and server.running():
                with contextlib.suppress(RuntimeError):
                    server.stop("immediate")
        remove_later(self.root)


def remove_later(root: Path) -> None:
    """Delete a stopped server's folder in the background: removing a data directory's thousands of files
    takes seconds on a busy disk, and nothing waits for it."""
    # The shell starts rm in the background and returns at once; rm finishes on its own.
    subprocess.run(["sh", "-c", 'rm -rf -- "$0" >/dev/null 2>&1 &', str(root)], check=True)


def make_primary(root: Path, *, durable: bool = False) -> Server:
    """`durable`: fsync and full-page writes on, as in production (for measurements, not for tests)."""
    server = Server("primary", root / "primary", free_port())
    run([str(pg_bin() / "initdb"), "-D", str(server.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"])
    server.configure(
        port=str(server.port),
        listen_addresses="127.0.0.1",
        unix_socket_directories=str(root),
        wal_level="replica",
        max_wal_senders="5",
        wal_keep_size="256MB",
        hot_standby="on",
        shared_buffers="32MB",
        max_connections="40",
        # Test speed only: a stopped server here is a killed process, not a power cut, so the OS still
        # holds every write; the durability tested is that of replication, which fsync does not change.
        fsync="on" if durable else "off",
        full_page_writes="on" if durable else "off",
    )
    server.start()
    return server


def make_standby(root: Path, primary: Server, name: str = "standby") -> Server:
    server = Server(name, root / name, free_port())
    run(
        [
            str(pg_bin() / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(server.datadir), "-R", "-X", "stream", "-c", "fast"),
        ]
    )
    # Later lines win: the copied postgresql.conf still names the primary's port. cluster_name is the
    # application_name the standby reports, which synchronous_standby_names refers to.
    server.configure(port=str(server.port), cluster_name=f"iti_{name}")
    server.start()
    return server


def make_pair(*, durable: bool = False) -> Pair:
    root = Path(tempfile.mkdtemp(prefix="iti-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    pair = Pair(root, Server("primary", root / "primary", 0), Server("standby", root / "standby", 0))
    try:
        pair.primary = make_primary(root, durable=durable)
        pair.primary.sql("CREATE DATABASE iti")
        return pair
    except BaseException:
        pair.destroy()
        raise


def add_standby(pair: Pair) -> None:
    pair.standby = make_standby(pair.root, pair.primary)
    pair.wait_streaming()
