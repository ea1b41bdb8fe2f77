"""Many requests at once over real HTTP, with fewer worker threads than requests, on the app's own engine:
every one is answered. A request holds its session's connection until its answer is validated (in a worker
thread, for sync routes) and committed; if worker threads could wait for pool connections, the two would
block each other until the pool times out (registry.db sizes SQLite's pool so threads never wait; api.db
ends sessions outside the shared thread limit)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.config import get_settings
from registry.db import make_engine
from registry.users import service as users
from tests.live_server import live_server

REQUESTS = 48
THREADS = 2


@pytest.fixture
def tight_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'tight.db'}"
    migrate.upgrade(url)
    engine = make_engine(url, pool_timeout=5)  # as `iti serve` makes it
    with Session(engine) as s, s.begin():
        user = users.add_user(
            s, actor="test-setup", username="busy-officer", role="auditor", password="x" * 12
        )
        token = users.issue_token(s, user=user).token
    app: FastAPI = create_app(dataclasses.replace(get_settings(), database_url=url), engine=engine)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        async with inner(a):
            yield

    app.router.lifespan_context = lifespan
    with live_server(app) as base:
        yield base, token
    engine.dispose()


def test_more_requests_than_connections_and_threads_all_answered(tight_server: tuple[str, str]) -> None:
    base, token = tight_server

    async def burst() -> list[int]:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            answers = await asyncio.gather(*(http.get("/api/v1/weapons") for _ in range(REQUESTS)))
        return [r.status_code for r in answers]

    started = time.monotonic()
    statuses = asyncio.run(burst())
    assert statuses == [200] * REQUESTS
    assert time.monotonic() - started < 5, (
        "requests waited for the pool timeout: sessions and threads blocked"
    )
