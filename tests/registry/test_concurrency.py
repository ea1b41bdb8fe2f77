"""Officers racing each other on real PostgreSQL connections: the database and the locks are the referee.

Each race is made deterministic: the first session writes and holds its transaction open, the second is
started in a thread and seen blocked on a lock in `pg_stat_activity`, then the first commits.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from registry import migrate
from registry.audit.checker import verify
from registry.audit.models import AuditEntry
from registry.db import make_engine
from registry.errors import Conflict, DuplicateMarking
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.markings import components
from registry.reference.service import load_catalogue, seed_reference_data
from tests.factories import record, register_weapon

pytestmark = pytest.mark.postgres

LOCK_WAIT_TIMEOUT = 5.0


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url, pool_size=4)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
    yield engine
    engine.dispose()


def backend_pid(session: Session) -> int:
    return session.execute(text("SELECT pg_backend_pid()")).scalar_one()


def wait_until_blocked(engine: Engine, pids: list[int]) -> None:
    """Return once one of `pids` waits on a lock held by another transaction."""
    deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid = ANY(:pids)"),
                {"pids": pids},
            ).scalars()
            if list(waiting):
                return
            conn.rollback()
            time.sleep(0.01)
    raise AssertionError("the second session never blocked: the race was not exercised")


def in_thread(engine: Engine, work: Callable[[Session], Any], pid_box: list[int]) -> Future[Any]:
    """Run `work` in its own session and transaction on another thread; commit if it returns."""

    def run() -> Any:
        with Session(engine, expire_on_commit=False) as s, s.begin():
            pid_box.append(backend_pid(s))
            return work(s)

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future


def started(pid_box: list[int]) -> list[int]:
    deadline = time.monotonic() + LOCK_WAIT_TIMEOUT
    while not pid_box and time.monotonic() < deadline:
        time.sleep(0.005)
    return pid_box


def gapless(engine: Engine) -> None:
    with Session(engine) as s:
        seqs = list(s.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
        assert seqs == list(range(len(seqs)))
        report = verify(s)
        assert report.ok, report.problems


def test_same_mark_registered_at_once_yields_one_weapon_and_one_duplicate(pg: Engine) -> None:
    serial = f"RACE{uuid.uuid4().int % 10**8:08d}"
    with Session(pg, expire_on_commit=False) as first:
        first.begin()
        winner = register_weapon(first, serial=serial)  # inserted, not committed: holds the unique key
        pids: list[int] = []
        loser = in_thread(pg, lambda s: register_weapon(s, serial=f"race-{serial[4:]}"), pids)
        wait_until_blocked(pg, started(pids))
        first.commit()
    with pytest.raises(DuplicateMarking) as exc:
        loser.result(timeout=LOCK_WAIT_TIMEOUT)
    assert exc.value.details["existing_weapon_id"] == str(winner.weapon.id)
    gapless(pg)


def test_free_race_on_the_same_mark_lets_exactly_one_through(pg: Engine) -> None:
    serial = f"FREE{uuid.uuid4().int % 10**8:08d}"
    barrier = threading.Barrier(2)

    def attempt(s: Session) -> uuid.UUID:
        barrier.wait(timeout=LOCK_WAIT_TIMEOUT)
        return register_weapon(s, serial=serial).weapon.id

    futures = [in_thread(pg, attempt, []) for _ in range(2)]
    outcomes = [f.exception(timeout=LOCK_WAIT_TIMEOUT) or f.result() for f in futures]
    assert sum(isinstance(o, uuid.UUID) for o in outcomes) == 1
    assert sum(isinstance(o, DuplicateMarking) for o in outcomes) == 1
    gapless(pg)


def test_events_appended_at_once_queue_on_the_weapon_lock(pg: Engine) -> None:
    with Session(pg, expire_on_commit=False) as s, s.begin():
        wid = register_weapon(s).weapon.id
    with Session(pg, expire_on_commit=False) as first:
        first.begin()
        a = record(first, wid, EventInput(type="stolen", location="A"))
        pids: list[int] = []
        second = in_thread(pg, lambda s: record(s, wid, EventInput(type="found", location="B")), pids)
        wait_until_blocked(pg, started(pids))
        first.commit()
    b = second.result(timeout=LOCK_WAIT_TIMEOUT)
    assert (a.event.seq, b.event.seq) == (2, 3)
    assert b.state.status == "recovered"  # the second saw the first's event before checking its own
    with Session(pg) as s:
        seqs = list(s.execute(select(Event.seq).where(Event.weapon_id == wid).order_by(Event.seq)).scalars())
    assert seqs == [1, 2, 3]
    gapless(pg)


def test_free_race_of_events_never_shares_a_seq(pg: Engine) -> None:
    with Session(pg, expire_on_commit=False) as s, s.begin():
        wid = register_weapon(s).weapon.id
        catalogue = load_catalogue(s)
        parts = [
            components.register_component(
                s, actor="t", catalogue=catalogue, kind="other", serial=f"GRIP-{i}"
            ).id
            for i in range(4)
        ]
    barrier = threading.Barrier(4)
    spare = iter(parts)
    lock = threading.Lock()

    def attempt(s: Session) -> int:
        with lock:
            part = next(spare)
        barrier.wait(timeout=LOCK_WAIT_TIMEOUT)
        data = {"installed_component_id": str(part)}
        return record(s, wid, EventInput(type="component_replaced", notes="new grip", data=data)).event.seq

    futures = [in_thread(pg, attempt, []) for _ in range(4)]
    outcomes = [f.exception(timeout=LOCK_WAIT_TIMEOUT) or f.result() for f in futures]
    # Each either got its own place in the history or failed cleanly with Conflict.
    assert all(isinstance(o, int | Conflict) for o in outcomes), outcomes
    won = sorted(o for o in outcomes if isinstance(o, int))
    assert won == list(range(2, 2 + len(won)))
    with Session(pg) as s:
        seqs = list(s.execute(select(Event.seq).where(Event.weapon_id == wid).order_by(Event.seq)).scalars())
    assert seqs == list(range(1, 2 + len(won)))
    gapless(pg)
