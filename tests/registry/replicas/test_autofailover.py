"""Automatic failover with pg_auto_failover: officers register weapons through the API while the primary's
whole machine dies (its keeper and PostgreSQL killed at once). Nobody runs anything: the monitor sees the
node fail, promotes the standby, and the same running app finds the new primary through its multi-host URL.
Afterwards every write the API acknowledged (201) is on the new primary and the audit log verifies.

pg_auto_failover runs the pair with synchronous replication (`synchronous_standby_names = 'ANY 1 (...)'`,
`synchronous_commit = on`): a commit is acknowledged only once the standby has flushed it, and a standby
replays all it flushed before it is promoted, so "acknowledged => on the new primary" holds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.audit import checker
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from tests.conftest import IN_CI
from tests.registry.replicas.autofailover import Formation, make_formation, pg_autoctl
from tests.registry.replicas.conftest import bearer, settings_for
from tests.registry.replicas.writeload import Load, present

pytestmark = pytest.mark.postgres


def _url(port: int) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/iti"


@pytest.fixture(scope="module")
def formation() -> Iterator[Formation]:
    try:
        pg_autoctl()
    except RuntimeError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))
    f = make_formation()
    try:
        first = f.add_node("iti")
        f.wait_states({"node_1": "single"})
        migrate.upgrade(_url(first.port))
        engine = make_engine(_url(first.port))
        with Session(engine) as s, s.begin():
            seed_reference_data(s, actor="test-setup")
        engine.dispose()
        f.add_node("iti")
        f.wait_states({"node_1": "primary", "node_2": "secondary"})
        yield f
    finally:
        f.destroy()


def test_the_monitor_fails_over_by_itself_and_no_acknowledged_write_is_lost(formation: Formation) -> None:
    first, second = formation.nodes
    sync = first_row(first.dsn, "SELECT current_setting('synchronous_standby_names')")
    assert sync.startswith("ANY 1"), sync  # the guarantee rests on this
    headers = bearer(_url(first.port), "officer-auto")
    multi_host = (
        "postgresql+psycopg://postgres@/iti"
        f"?host=127.0.0.1:{first.port}&host=127.0.0.1:{second.port}"
        "&target_session_attrs=read-write&connect_timeout=2"
    )
    with TestClient(create_app(settings_for(multi_host)), raise_server_exceptions=False) as client:
        load = Load(client, headers)
        worker = threading.Thread(target=load.run, daemon=True)
        worker.start()
        try:
            load.wait_for(10)
            first.kill()
            killed_at = time.monotonic()
            load.wait_for(10, after=killed_at, timeout=60)  # no one did anything: the app writes again
        finally:
            load.stop.set()
            worker.join(timeout=30)

    assert formation.states()["node_2"][0] in ("wait_primary", "primary")
    assert first_row(second.dsn, "SELECT pg_is_in_recovery()") is False
    serials = [s for s, _ in load.acknowledged]
    assert sum(1 for _, t in load.acknowledged if t < killed_at) >= 10
    new_primary = make_engine(_url(second.port))
    try:
        assert present(new_primary, serials) == set(serials)
        with Session(new_primary) as s:
            assert checker.verify(s).problems == []
    finally:
        new_primary.dispose()


def first_row(dsn: str, query: str) -> object:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]  # our own literal SQL
        assert row is not None
        return row[0]
