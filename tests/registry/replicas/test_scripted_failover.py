"""Failover under a write load: the primary is killed while officers register weapons through the API, the
standby is promoted by scripts/failover.py, and afterwards every write the API acknowledged (201) is on the
new primary, the audit log still verifies, and the same running app writes again without being touched —
its multi-host URL (`target_session_attrs=read-write`) finds the new primary by itself.

Synchronous replication with `synchronous_commit = remote_apply` is what makes "acknowledged => on the
standby" hold: the primary answers a commit only after the standby has applied it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from registry.audit import checker
from registry.db import make_engine
from tests.registry.replicas.cluster import Pair
from tests.registry.replicas.conftest import bearer, settings_for
from tests.registry.replicas.writeload import Load, present

pytestmark = pytest.mark.postgres

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "failover.py"


def _synchronous(pair: Pair) -> None:
    pair.primary.sql("ALTER SYSTEM SET synchronous_standby_names = 'iti_standby'")
    pair.primary.sql("ALTER SYSTEM SET synchronous_commit = 'remote_apply'")
    pair.primary.sql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 10
    while pair.primary.sql("SELECT sync_state FROM pg_stat_replication") != [("sync",)]:
        assert time.monotonic() < deadline, "the standby did not become synchronous"
        time.sleep(0.1)


def test_the_script_refuses_while_the_old_primary_is_alive(pair: Pair) -> None:
    """Split-brain guard: the old primary still answers as a primary, so the standby is not promoted."""
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--old-primary", pair.primary.dsn, "--standby", pair.standby.dsn, "--checks", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "refusing to promote" in done.stdout
    assert pair.standby.sql("SELECT pg_is_in_recovery()") == [(True,)]


def test_failover_keeps_every_acknowledged_write_and_the_app_reconnects(pair: Pair) -> None:
    _synchronous(pair)
    headers = bearer(pair.primary.url(), "officer-failover")
    multi_host = (
        "postgresql+psycopg://postgres@/iti"
        f"?host=127.0.0.1:{pair.primary.port}&host=127.0.0.1:{pair.standby.port}"
        "&target_session_attrs=read-write&connect_timeout=2"
    )
    app = create_app(settings_for(multi_host))
    with TestClient(app, raise_server_exceptions=False) as client:
        load = Load(client, headers)
        worker = threading.Thread(target=load.run, daemon=True)
        worker.start()
        try:
            load.wait_for(10)
            pair.primary.stop("immediate")  # the primary dies mid-load: no shutdown checkpoint, no goodbye
            killed_at = time.monotonic()
            done = subprocess.run(
                [
                    sys.executable,
                    str(SCRIPT),
                    "--old-primary",
                    pair.primary.dsn,
                    "--standby",
                    pair.standby.dsn,
                    *("--checks", "2", "--interval", "0.2", "--async-until-new-standby"),
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert "old primary unreachable" in done.stdout
            promoted_at = time.monotonic()
            # The same app, untouched, writes again on the new primary.
            load.wait_for(10, after=promoted_at)
        finally:
            load.stop.set()
            worker.join(timeout=30)

    assert pair.standby.sql("SELECT pg_is_in_recovery()") == [(False,)]
    serials = [s for s, _ in load.acknowledged]
    before_kill = [s for s, t in load.acknowledged if t < killed_at]
    new_primary = make_engine(pair.standby.url())
    try:
        assert present(new_primary, serials) == set(serials)  # every acknowledged write survived
        assert len(before_kill) >= 10
        with Session(new_primary) as s:
            report = checker.verify(s)
        assert report.problems == []
    finally:
        new_primary.dispose()
