"""Two clients appending to one weapon at the same moment, over real HTTP on PostgreSQL (issue 3): both
succeed in a defined order or one gets 409, a retried request is recorded once, and history never forks.

The app runs under uvicorn on a committed database (no test transaction to hide behind). Each race is
forced: the test holds the weapon's state row locked, fires both requests, waits until PostgreSQL shows
both requests' transactions blocked on a lock, and only then lets go.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.audit.checker import verify
from registry.config import get_settings
from registry.db import make_engine
from registry.history.models import Event
from registry.reference.service import seed_reference_data
from registry.weapons.models import WeaponState
from tests.api.conftest import login_headers, weapon_body
from tests.live_server import live_server

pytestmark = pytest.mark.postgres

LOCK_WAIT_TIMEOUT = 10.0
Post = tuple[str, dict[str, Any], dict[str, str]]


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url, pool_size=8)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
    yield engine
    engine.dispose()


@pytest.fixture
def server_url(pg: Engine) -> Iterator[str]:
    with live_server(create_app(get_settings(), engine=pg)) as base:
        yield base


@pytest.fixture
def officer(pg: Engine) -> dict[str, str]:
    with Session(pg) as s, s.begin():
        return login_headers(s, "record_officer", "officer-race")


@pytest.fixture
def weapon_id(server_url: str, officer: dict[str, str]) -> str:
    r = httpx.post(f"{server_url}/api/v1/weapons", json=weapon_body(), headers=officer, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def wait_until_blocked(engine: Engine, n: int) -> None:
    """Return once `n` sessions of this database wait on a lock (our holder's or each other's)."""
    deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
            ).scalar_one()
            conn.rollback()
            if waiting >= n:
                return
            time.sleep(0.01)
    raise AssertionError("the requests never blocked on each other: the race was not exercised")


def race(engine: Engine, base_url: str, weapon_id: str, posts: list[Post]) -> list[httpx.Response]:
    """Send `posts` at once while the weapon is locked; release the lock once all of them wait."""

    def send(post: Post) -> httpx.Response:
        path, body, headers = post
        with httpx.Client(base_url=base_url, timeout=LOCK_WAIT_TIMEOUT * 2) as http:
            return http.post(path, json=body, headers=headers)

    with engine.connect() as holder, ThreadPoolExecutor(max_workers=len(posts)) as pool:
        stmt = select(WeaponState).where(WeaponState.weapon_id == uuid.UUID(weapon_id)).with_for_update()
        assert holder.execute(stmt).one()
        futures = [pool.submit(send, p) for p in posts]
        try:
            wait_until_blocked(engine, len(posts))
        finally:
            holder.rollback()
        return [f.result() for f in futures]


def stored_history(engine: Engine, weapon_id: str) -> list[Event]:
    with Session(engine) as s:
        stmt = select(Event).where(Event.weapon_id == uuid.UUID(weapon_id)).order_by(Event.seq)
        return list(s.execute(stmt).scalars())


def assert_audit_ok(engine: Engine) -> None:
    with Session(engine) as s:
        report = verify(s)
        assert report.ok, report.problems


def marking_event(text_: str) -> dict[str, Any]:
    return {
        "type": "marked",
        "marking": {"text": text_, "kind": "ownership", "country": "KE", "method": "dot_peen"},
    }


def test_two_clients_both_append_in_a_defined_order(
    pg: Engine, server_url: str, officer: dict[str, str], weapon_id: str
) -> None:
    path = f"/api/v1/weapons/{weapon_id}/events"
    a, b = race(
        pg,
        server_url,
        weapon_id,
        [(path, marking_event("KE POLICE A1"), officer), (path, marking_event("KE POLICE B2"), officer)],
    )
    assert (a.status_code, b.status_code) == (201, 201), (a.text, b.text)
    assert sorted([a.json()["event"]["seq"], b.json()["event"]["seq"]]) == [2, 3]
    events = stored_history(pg, weapon_id)
    assert [e.seq for e in events] == [1, 2, 3]
    by_seq = {r.json()["event"]["seq"]: r.json()["event"]["id"] for r in (a, b)}
    assert [str(e.id) for e in events[1:]] == [by_seq[2], by_seq[3]]
    assert_audit_ok(pg)


def test_clashing_events_one_wins_the_other_gets_409(
    pg: Engine, server_url: str, officer: dict[str, str], weapon_id: str
) -> None:
    path = f"/api/v1/weapons/{weapon_id}/events"
    stolen = {"type": "stolen", "location": "Nairobi"}
    responses = race(pg, server_url, weapon_id, [(path, stolen, officer), (path, stolen, officer)])
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.headers["content-type"] == "application/problem+json"
    assert [e.seq for e in stored_history(pg, weapon_id)] == [1, 2]
    assert_audit_ok(pg)


def test_concurrent_retries_with_one_key_record_one_event(
    pg: Engine, server_url: str, officer: dict[str, str], weapon_id: str
) -> None:
    path = f"/api/v1/weapons/{weapon_id}/events"
    retry = officer | {"Idempotency-Key": "retry-after-timeout"}
    body = marking_event("KE POLICE C3")
    responses = race(pg, server_url, weapon_id, [(path, body, retry), (path, body, retry)])
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert sorted(r.headers.get("idempotent-replayed", "") for r in responses) == ["", "true"]
    assert responses[0].json() == responses[1].json()
    assert [e.seq for e in stored_history(pg, weapon_id)] == [1, 2]
    assert_audit_ok(pg)
