"""A database that is down, refusing, killed under the app or silent: the API answers 503 with Retry-After
within seconds (never a hang, never a 500), `/readyz` says not ready, `/healthz` stays up, and the app
recovers by itself when the database is back.

The shared PostgreSQL server is never stopped: the outage is made on a scratch database of this test
(`ALTER DATABASE … ALLOW_CONNECTIONS false` and `pg_terminate_backend` of its sessions), or with addresses
where nothing answers on loopback.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from bench.crash import outage_drill
from registry import migrate
from registry.config import Settings, get_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.api.conftest import weapon_body
from tests.conftest import PG_URL
from tests.live_server import live_server

ANSWER_WITHIN_S = 15.0


@contextmanager
def serve(database_url: str) -> Iterator[str]:
    """The real app on a real uvicorn on a loopback port, with its own engine for `database_url`."""
    settings = Settings(**{**get_settings().__dict__, "database_url": database_url})
    with live_server(create_app(settings), log_level="critical", stop_timeout=20) as base:
        yield base


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["content-type"].startswith("application/problem+json")


def timed(call: object) -> httpx.Response:
    started = time.monotonic()
    r = call()  # type: ignore[operator]
    assert time.monotonic() - started < ANSWER_WITHIN_S, "the API hung on an unavailable database"
    return r


@pytest.fixture
def nothing_listens() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound then closed: connecting is refused at once
    return port


@pytest.mark.postgres
def test_no_server_at_the_address_is_503_with_retry_after_and_not_ready(nothing_listens: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{nothing_listens}/iti"
    with serve(url) as base, httpx.Client(base_url=base, timeout=ANSWER_WITHIN_S + 5) as http:
        assert timed(lambda: http.get("/healthz")).status_code == 200
        ready = timed(lambda: http.get("/readyz"))
        assert ready.status_code == 503
        assert ready.json()["code"] == "database_unreachable"
        assert_unavailable(
            timed(lambda: http.post("/api/v1/auth/token", data={"username": "a", "password": "b"}))
        )
        r = timed(
            lambda: http.get("/api/v1/weapons/search", params={"serial": "X"}, headers={"X-API-Key": "iti_x"})
        )
        assert_unavailable(r)
        assert r.json()["code"] == "database_unavailable"


def test_a_silent_server_is_503_within_the_connect_timeout() -> None:
    """A host that accepts TCP but never speaks (a hung PostgreSQL, a black-holing proxy)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{listener.getsockname()[1]}/iti"
    try:
        with serve(url) as base, httpx.Client(base_url=base, timeout=ANSWER_WITHIN_S + 5) as http:
            assert timed(lambda: http.get("/readyz")).status_code == 503
            assert_unavailable(
                timed(lambda: http.post("/api/v1/auth/token", data={"username": "a", "password": "b"}))
            )
    finally:
        stop.set()
        thread.join(5)
        for s in held:
            s.close()
        listener.close()


@pytest.mark.postgres
def test_postgres_outage_under_the_app_is_503_then_recovers_by_itself(
    postgres_url: str, tmp_path: Path
) -> None:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
        _key, secret = users.create_api_key(s, actor="test", name="outage", role="record_officer")
    engine.dispose()
    name = make_url(postgres_url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    headers = {"X-API-Key": secret}
    statuses: list[int] = []
    try:
        with serve(postgres_url) as base, httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            made = http.post("/api/v1/weapons", json=weapon_body())
            assert made.status_code == 201, made.text
            weapon = made.json()["id"]
            event = {"type": "origin_assessed", "data": {"origin_established": "pending"}}
            assert http.post(f"/api/v1/weapons/{weapon}/events", json=event).status_code == 201

            with admin.connect() as conn:  # the outage: this database only, the shared server keeps running
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                    {"n": name},
                )
            for _ in range(3):
                r = timed(lambda: http.post(f"/api/v1/weapons/{weapon}/events", json=event))
                statuses.append(r.status_code)
                assert_unavailable(r)
            assert timed(lambda: http.get("/readyz")).status_code == 503
            assert http.get("/healthz").status_code == 200

            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            deadline = time.monotonic() + 20
            while True:
                r = http.post(f"/api/v1/weapons/{weapon}/events", json=event)
                statuses.append(r.status_code)
                if r.status_code == 201 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert r.status_code == 201, "the app did not recover by itself"
            assert http.get("/readyz").status_code == 200
            history = http.get(f"/api/v1/weapons/{weapon}/history").json()["events"]
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    assert 500 not in statuses
    assert set(statuses) <= {201, 503}
    # The three refused appends left nothing; the acknowledged ones are all there.
    assert [e["type"] for e in history] == ["imported", "origin_assessed", "origin_assessed"]
    assert json.dumps(statuses)


@pytest.mark.postgres
def test_postgres_outage_under_a_write_load_loses_no_acknowledged_write(
    postgres_url: str, tmp_path: Path
) -> None:
    """`iti serve` under 4 writers; the database goes away for 3 s and comes back (bench.crash.outage_drill)."""
    d = outage_drill(tmp_path, database_url=postgres_url, admin_url=PG_URL, threads=4, outage_s=3)
    assert d.statuses_before.get("201", 0) > 0
    assert set(d.statuses) <= {"201", "503"}  # never a 500
    assert d.statuses.get("503", 0) > 0  # the outage was felt
    assert d.retry_after_values == ["5"]
    assert d.max_latency_s < ANSWER_WITHIN_S  # no request hung
    assert set(d.readyz_during_outage) == {503}
    assert d.readyz_after == 200
    assert 0 <= d.recovered_after_s < 10  # writes resumed by themselves
    assert d.acknowledged_missing == []
    assert d.checks_at_end == {"audit_verify": 0, "records_check": 0}
