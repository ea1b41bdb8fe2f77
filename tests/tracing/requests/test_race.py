"""Two PoC officers acting on one incoming request at once, on real PostgreSQL connections: the row lock
serialises them, the second sees the first's answer and is refused naming the state; one answer leaves."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry import migrate
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from tests.registry.test_concurrency import backend_pid, wait_until_blocked
from tests.tracing.requests.conftest import inbound_message, queued, request_body, setup_node
from tracing.requests import service as traces
from tracing.requests.errors import InvalidTraceTransition

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    migrate.upgrade(postgres_url)
    engine = make_engine(postgres_url, pool_size=4)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
    yield engine
    engine.dispose()


def test_concurrent_answers_one_wins_the_other_is_told_the_state(pg: Engine, tmp_path: Path) -> None:
    with Session(pg) as s, s.begin():
        setup_node(s, tmp_path)
        rid = traces.receive(s, message=inbound_message("trace.request", request_body())).id
    first = Session(pg)
    first.begin()
    traces.answer(first, actor="officer-1", request_id=rid, completeness="full", text="no record")

    def second() -> str:
        with Session(pg) as s2, s2.begin():
            pid_holder.append(backend_pid(s2))
            try:
                traces.refuse(
                    s2, actor="officer-2", request_id=rid, grounds=["national_security"], reason="x"
                )
            except InvalidTraceTransition as exc:
                return exc.message
            return "refused"

    pid_holder: list[int] = []
    with ThreadPoolExecutor(1) as pool:
        fut = pool.submit(second)
        while not pid_holder:
            time.sleep(0.01)
        wait_until_blocked(pg, pid_holder)
        first.commit()
        first.close()
        outcome = fut.result(timeout=10)
    assert "cannot refuse a request that is answered" in outcome
    with Session(pg) as s:
        req = traces.get(s, rid)
        assert req.state == "answered"
        assert [t.actor for t in traces.transitions(s, rid)][-1] == "officer-1"
        assert [m.body["outcome"] for m in queued(s, "trace.response")] == ["answered"]
