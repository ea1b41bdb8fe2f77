"""A throw-away pg_auto_failover formation for the automatic-failover test: a monitor and two PostgreSQL
nodes, each run by its own `pg_autoctl run` keeper (Debian packages postgresql-NN-auto-failover and
pg-auto-failover-cli, installed by `make test`). Everything lives in one temporary folder, on free loopback
ports; the shared server on 5432 is never touched.

The monitor's health checks are shortened (1 s instead of 5–20 s) so the test fails over in seconds; the
timeouts chosen for production are discussed in docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.registry.replicas.cluster import free_port, pg_bin, remove_later

# Monitor settings (milliseconds): how often nodes are checked, when a silent node counts as failed, how long
# the monitor waits for a failed primary to demote itself before promoting the standby anyway.
FAST_MONITOR = {
    "pgautofailover.health_check_period": "1000",
    "pgautofailover.health_check_timeout": "1000",
    "pgautofailover.health_check_max_retries": "1",
    "pgautofailover.health_check_retry_delay": "500",
    "pgautofailover.node_considered_unhealthy_timeout": "2000",
    "pgautofailover.primary_demote_timeout": "3000",
    "pgautofailover.startup_grace_period": "2000",
}


def pg_autoctl() -> str:
    path = shutil.which("pg_autoctl")
    if path is None:
        raise RuntimeError(
            "pg_autoctl not found: apt-get install pg-auto-failover-cli postgresql-15-auto-failover"
        )
    return path


@dataclass
class Keeper:
    name: str
    pgdata: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres connect_timeout=3"

    def release_shared_memory(self) -> None:
        """Remove the small System V segment a killed postmaster leaves behind (postmaster.pid names it;
        a server stopped normally removes its own). Only once nothing is attached to it any more."""
        pid_file = self.pgdata / "postmaster.pid"
        if not pid_file.exists():
            return
        lines = pid_file.read_text().splitlines()
        if len(lines) >= 7 and len(lines[6].split()) == 2:
            shmid = lines[6].split()[1]
            subprocess.run(["ipcrm", "-m", shmid], capture_output=True, check=False)

    def kill(self) -> None:
        """The node's machine dies: its keeper and its PostgreSQL, all at once (one process group)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # PostgreSQL's backends leave once their postmaster is gone; wait until the port is free.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.dsn, connect_timeout=1).close()
            except psycopg.OperationalError:
                return
            time.sleep(0.1)


@dataclass
class Formation:
    root: Path
    monitor: Keeper
    nodes: list[Keeper] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "XDG_CONFIG_HOME": str(self.root / "config"),
            "XDG_DATA_HOME": str(self.root / "data"),
            "XDG_RUNTIME_DIR": str(self.root / "run"),
            "PG_CONFIG": str(pg_bin() / "pg_config"),
            "PATH": f"{pg_bin()}:{os.environ.get('PATH', '')}",
            "PGUSER": "postgres",
        }

    @property
    def monitor_uri(self) -> str:
        return f"postgres://autoctl_node@127.0.0.1:{self.monitor.port}/pg_auto_failover?sslmode=disable"

    def _cmd(self, args: list[str]) -> list[str]:
        cmd = [pg_autoctl(), *args]
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def _spawn(self, keeper: Keeper, args: list[str]) -> None:
        # Own process group per keeper, so one node can be killed whole, as a machine dies.
        with (self.root / f"{keeper.name}.log").open("ab") as log:
            keeper.process = subprocess.Popen(
                self._cmd(args), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def start_monitor(self) -> None:
        m = self.monitor
        subprocess.run(
            self._cmd(
                [
                    *("create", "monitor", "--pgdata", str(m.pgdata), "--pgport", str(m.port)),
                    *("--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"),
                ]
            ),
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (m.pgdata / "postgresql.conf").open("a") as f:
            f.writelines(f"{k} = {v}\n" for k, v in FAST_MONITOR.items())
        self._spawn(m, ["run", "--pgdata", str(m.pgdata)])
        _wait(lambda: _answers(m.dsn), "the monitor to accept connections")

    def add_node(self, dbname: str) -> Keeper:
        n = len(self.nodes) + 1
        node = Keeper(f"node_{n}", self.root / f"node{n}", free_port())
        self.nodes.append(node)
        self._spawn(
            node,
            [
                *("create", "postgres", "--pgdata", str(node.pgdata), "--pgport", str(node.port)),
                *("--hostname", "127.0.0.1", "--name", node.name, "--dbname", dbname, "--auth", "trust"),
                *("--no-ssl", "--monitor", self.monitor_uri, "--run"),
            ],
        )
        return node

    def states(self) -> dict[str, tuple[str, str]]:
        """Node name -> (reported state, goal state), as the monitor sees them."""
        try:
            with psycopg.connect(self.monitor.dsn.replace("dbname=postgres", "dbname=pg_auto_failover")) as c:
                rows = c.execute(
                    "SELECT nodename, reportedstate::text, goalstate::text FROM pgautofailover.node"
                )
                return {name: (reported, goal) for name, reported, goal in rows.fetchall()}
        except psycopg.OperationalError:
            return {}

    def wait_states(self, wanted: dict[str, str], timeout: float = 60) -> None:
        def reached() -> bool:
            now = self.states()
            if all(now.get(k, ("", ""))[0] == v and now[k][1] == v for k, v in wanted.items()):
                return True
            # A new standby's pg_basebackup waits for the primary's next checkpoint (pg_auto_failover does
            # not ask for a fast one): make it now rather than in checkpoint_timeout (5 min).
            for node in self.nodes:
                with (
                    contextlib.suppress(psycopg.Error),
                    psycopg.connect(node.dsn, autocommit=True, connect_timeout=1) as c,
                ):
                    if c.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,):
                        c.execute("CHECKPOINT")
            return False

        _wait(reached, f"states {wanted}", timeout=timeout, detail=self.states)

    def destroy(self) -> None:
        # Every keeper's whole process group at once, as in Keeper.kill: the folder is deleted next, so
        # there is nothing to shut down cleanly (a graceful pg_autoctl stop takes seconds per node).
        for keeper in [*self.nodes, self.monitor]:
            keeper.kill()
            keeper.release_shared_memory()
        remove_later(self.root)


def make_formation() -> Formation:
    pg_autoctl()
    root = Path(tempfile.mkdtemp(prefix="iti-paf-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    formation = Formation(root, Keeper("monitor", root / "monitor", free_port()))
    try:
        formation.start_monitor()
        return formation
    except BaseException:
        formation.destroy()
        raise


def _answers(dsn: str) -> bool:
    try:
        psycopg.connect(dsn, connect_timeout=1).close()
    except psycopg.OperationalError:
        return False
    return True


def _wait(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float = 60,
    detail: Callable[[], object] | None = None,
    every: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            extra = f": {detail()}" if detail is not None else ""
            raise TimeoutError(f"timed out waiting for {what}{extra}")
        time.sleep(every)
