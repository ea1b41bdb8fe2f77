"""Rate limits shared by every process serving one registry (api/ratelimit.py, registry/ratelimit/store.py).

The proof is two uvicorn servers in two processes on one database (a SQLite file, a PostgreSQL database):
a uvicorn started as a child process and one running in this test process, each with its own engine and
its own memory. Requests alternate between them; the login and federation limits stop at the configured
total, not twice it, and refill; the API limit is per process with the default memory store (as documented)
and shared with `ITI_RATE_LIMIT_API_STORE=database`. The stores themselves are checked directly (refill,
pruning, clock skew, concurrent checks on one key), and each limit's policy when its store fails.

Client addresses come from `X-Forwarded-For` (uvicorn trusts it from 127.0.0.1, as behind a local proxy), so
each test has buckets of its own on the same servers.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.app import create_app
from api.ratelimit import RateLimits
from registry.config import get_settings
from registry.db import make_engine
from registry.ratelimit.store import DatabaseStore, Rate, RedisStore, digest
from tests.conftest import IN_CI

REPO = Path(__file__).resolve().parents[2]
LOGIN, FEDERATION, API = Rate(4, 60), Rate(6, 6), Rate(10, 60)
REDIS_URL = os.environ.get("ITI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _limits(api_store: str) -> dict[str, str]:
    return {
        "ITI_RATE_LIMIT_ENABLED": "true",
        "ITI_RATE_LIMIT_LOGIN": f"{LOGIN.burst}/{LOGIN.per_seconds:g}",
        "ITI_RATE_LIMIT_FEDERATION": f"{FEDERATION.burst}/{FEDERATION.per_seconds:g}",
        "ITI_RATE_LIMIT_API": f"{API.burst}/{API.per_seconds:g}",
        "ITI_RATE_LIMIT_STORE": "database",
        "ITI_RATE_LIMIT_API_STORE": api_store,
    }


# --- the stores, directly ----------------------------------------------------------------------------------


def test_database_store_refills_prunes_and_never_refills_on_a_clock_behind(engine: Engine) -> None:
    now = [1_000_000.0]
    store = DatabaseStore(engine, clock=lambda: now[0])
    rate, key = Rate(3, 30), f"test:{uuid.uuid4()}"
    assert [store.take(key, rate) for _ in range(3)] == [0, 0, 0]
    assert store.take(key, rate) == pytest.approx(10.0)  # one token per 10 s, computed from the stored row
    now[0] -= 5  # another server whose clock is 5 s behind: no refill until it catches up, never a bonus
    assert store.take(key, rate) == pytest.approx(15.0)
    now[0] += 15
    assert store.take(key, rate) == 0
    assert store.take(key, rate) > 0

    def row_count() -> int:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM rate_limit_buckets WHERE key = :k"), {"k": digest(key)}
            ).scalar_one()

    assert row_count() == 1
    store.prune(now=now[0] + 29)  # not yet full again (3 tokens short at 10 s each): kept
    assert row_count() == 1
    assert store.prune(now=now[0] + 31) >= 1  # full again: the row means nothing and goes
    assert row_count() == 0
    assert store.take(key, rate) == 0  # and a pruned bucket starts full, as it would have been
    # Checks prune by themselves, at most once per period (here 60 s) per store.
    pruning = DatabaseStore(engine, clock=lambda: now[0], prune_every=60)
    now[0] += 59
    pruning.take(f"test:{uuid.uuid4()}", rate)
    assert row_count() == 1  # full again since 49 s, but the period has not passed
    now[0] += 2
    pruning.take(f"test:{uuid.uuid4()}", rate)
    assert row_count() == 0


def test_database_store_grants_each_token_once_under_concurrent_checks(engine: Engine) -> None:
    """Two engines (as two processes have), eight threads, one key: exactly the burst is granted."""
    url = engine.url.render_as_string(hide_password=False)
    engines = [make_engine(url), make_engine(url)]
    try:
        stores = [DatabaseStore(e) for e in engines]
        rate, key = Rate(40, 10**6), f"test:{uuid.uuid4()}"  # no refill within the test
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: stores[i % 2].take(key, rate), range(120)))
        assert sum(1 for a in answers if a == 0) == rate.burst
    finally:
        for e in engines:
            e.dispose()


@pytest.fixture
def redis_url() -> str:
    """The local Redis server with a key prefix of this test's own; required in CI, like PostgreSQL."""
    url = f"{REDIS_URL}?prefix=iti-test-{uuid.uuid4().hex[:8]}:"
    try:
        RedisStore(url).client.ping()
    except Exception as exc:
        if IN_CI:
            raise RuntimeError(f"Redis at {REDIS_URL} is required in CI: {exc}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL} ({type(exc).__name__}); set ITI_TEST_REDIS_URL")
    return url


def test_redis_store_is_shared_by_clients_refills_and_expires(redis_url: str) -> None:
    a, b = RedisStore(redis_url), RedisStore(redis_url)  # two clients, as two processes have
    try:
        rate, key = Rate(4, 0.4), "test:shared"  # a token every 0.1 s
        answers = [(a if i % 2 else b).take(key, rate) for i in range(8)]
        assert answers[:4] == [0, 0, 0, 0]
        assert all(w > 0 for w in answers[4:6])  # the fifth and sixth are refused whichever client asks
        wait = max(answers[4:])
        assert wait <= 0.1 + 1e-6
        time.sleep(wait)
        assert a.take(key, rate) == 0  # refilled
        ttl_ms = a.client.pttl(a.prefix + digest(key))
        assert 0 < ttl_ms <= 400 + 1  # Redis forgets the bucket once it is full again: no pruning needed
    finally:
        a.client.delete(a.prefix + digest("test:shared"))
        a.close()
        b.close()


# --- each limit's policy when its store fails ---------------------------------------------------------------


@pytest.fixture
def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound then closed: connecting is refused at once
    return port


def test_a_failing_store_closes_login_and_federation_with_503_and_leaves_the_api_open(
    sqlite_engine: Engine, dead_port: int
) -> None:
    redis_down = f"redis://127.0.0.1:{dead_port}/0"
    settings = dataclasses.replace(
        get_settings(),
        extra={**_limits(api_store=redis_down), "ITI_RATE_LIMIT_STORE": redis_down},
    )
    with TestClient(create_app(settings, engine=sqlite_engine)) as client:
        for r in (
            client.post("/api/v1/auth/token", data={"username": "a", "password": "b"}),
            client.post("/federation/v1/messages", content=b"{}"),
        ):
            assert r.status_code == 503, r.text  # fail closed: the store is down, not the limit lifted
            assert r.headers["retry-after"] == "5"
            assert r.headers["content-type"].startswith("application/problem+json")
        page = client.post("/ui/login", data={"username": "a", "password": "b", "next": "/ui/"})
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        # Fail open: the request goes on to authentication, which refuses it for its own reason.
        assert client.get("/api/v1/organisations").status_code == 401

        # The database store on a database that refuses connections: the app's own 503, never a 500.
        db_down = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{dead_port}/iti")
        app = client.app
        app.state.rate_limits = RateLimits.from_settings(  # type: ignore[attr-defined]
            dataclasses.replace(settings, extra=_limits(api_store="database")), engine=db_down
        )
        r = client.post("/api/v1/auth/token", data={"username": "a", "password": "b"})
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "database_unavailable"
        assert int(r.headers["retry-after"]) >= 1
        page = client.post("/ui/login", data={"username": "a", "password": "b", "next": "/ui/"})
        assert page.status_code == 503
        assert "Try again" in page.text
        assert client.post("/api/v1/federation/messages", content=b"{}").status_code == 503
        assert client.get("/api/v1/organisations").status_code == 401
        db_down.dispose()


# --- two server processes on one database ------------------------------------------------------------------


@dataclass
class Pair:
    urls: tuple[str, str]  # (uvicorn in this process, uvicorn in a child process)
    api_shared: bool


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, proc: subprocess.Popen[bytes] | None, log: Path, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text(errors='replace')}") from None
            time.sleep(0.05)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two servers on the run's migrated test database of the backend. They store nothing but rate-limit
    buckets under this module's keys: every request here is refused, or fails before anything is written."""
    engine: Engine = request.getfixturevalue(
        {"sqlite": "sqlite_engine", "postgresql": "postgres_engine"}[request.param]
    )
    url = engine.url.render_as_string(hide_password=False)
    # The documented default on SQLite (API buckets in memory); shared in the database on PostgreSQL.
    api_store = "memory" if request.param == "sqlite" else "database"
    limits = _limits(api_store)
    log = tmp_path_factory.mktemp("ratelimit") / "child.log"
    child: subprocess.Popen[bytes] | None = None
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        # The child first: its start-up (imports, a few seconds) overlaps this process's own server starting.
        child_port = _free_port()
        with log.open("wb") as out:
            child = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app"),
                    *("--host", "127.0.0.1", "--port", str(child_port), "--log-level", "warning"),
                ],
                env={**os.environ, **limits, "ITI_DATABASE_URL": url},
                cwd=REPO,
                stdout=out,
                stderr=out,
            )
        settings = dataclasses.replace(
            get_settings(), database_url=url, extra={**get_settings().extra, **limits}
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), log_level="warning", ws="none", lifespan="on")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        _wait_listening(sock.getsockname()[1], None, log, deadline)
        _wait_listening(child_port, child, log, deadline)
        yield Pair(
            (f"http://127.0.0.1:{sock.getsockname()[1]}", f"http://127.0.0.1:{child_port}"),
            api_shared=api_store != "memory",
        )
    finally:
        if child is not None:
            child.terminate()
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        if child is not None:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


Send = Callable[[httpx.Client, str], httpx.Response]


def _alternate(pair: Pair, n: int, send: Send) -> tuple[list[httpx.Response], float]:
    """n requests, even ones to the server in this process, odd ones to the child; and the seconds taken."""
    started = time.monotonic()
    with httpx.Client(timeout=30) as http:
        answers = [send(http, pair.urls[i % 2]) for i in range(n)]
    return answers, time.monotonic() - started


def _granted(answers: list[httpx.Response]) -> int:
    assert all(r.status_code < 500 for r in answers), [r.text for r in answers if r.status_code >= 500]
    return sum(1 for r in answers if r.status_code != 429)


def _refused_by_both(answers: list[httpx.Response]) -> bool:
    return {i % 2 for i, r in enumerate(answers) if r.status_code == 429} == {0, 1}


def test_login_attempts_over_two_processes_stop_at_the_total(pair: Pair) -> None:
    address = {"X-Forwarded-For": "198.51.100.1"}
    answers, elapsed = _alternate(
        pair,
        2 * LOGIN.burst,
        lambda http, base: http.post(
            f"{base}/api/v1/auth/token", data={"username": "guess", "password": "x"}, headers=address
        ),
    )
    granted = _granted(answers)
    # Per-process buckets would let all 8 through (4 each); shared ones the total, plus what refilled.
    assert LOGIN.burst <= granted <= LOGIN.burst + int(elapsed * LOGIN.refill), (granted, elapsed)
    assert all(r.status_code == 401 for r in answers[:granted])
    assert _refused_by_both(answers)
    # The wait is the shared bucket's: about a token's refill time (15 s), whichever process answers.
    retry_after = int(next(r for r in reversed(answers) if r.status_code == 429).headers["retry-after"])
    assert 1 <= retry_after <= LOGIN.per_seconds / LOGIN.burst


def test_federation_flood_over_two_processes_stops_at_the_total_and_refills(pair: Pair) -> None:
    address = {"X-Forwarded-For": "198.51.100.3"}

    def send(http: httpx.Client, base: str) -> httpx.Response:
        return http.post(f"{base}/federation/v1/messages", content=b"garbage", headers=address)

    answers, elapsed = _alternate(pair, 2 * FEDERATION.burst, send)
    granted = _granted(answers)
    assert FEDERATION.burst <= granted <= FEDERATION.burst + int(elapsed * FEDERATION.refill), (
        granted,
        elapsed,
    )
    assert _refused_by_both(answers)
    wait = int(next(r for r in reversed(answers) if r.status_code == 429).headers["retry-after"])
    assert wait == 1  # a token a second
    time.sleep(wait)
    # Refilled by about one token, for both processes: at most two pass before the next refusal.
    after, elapsed = _alternate(pair, 4, send)
    refilled = next(i for i, r in enumerate(after) if r.status_code == 429)
    assert 1 <= refilled <= 1 + int((wait + elapsed) * FEDERATION.refill), [r.status_code for r in after]


def test_api_limit_is_per_process_by_default_and_shared_when_configured(pair: Pair) -> None:
    # The limit comes before authentication: an unknown key is counted under its digest, then refused (401).
    key = {"X-API-Key": f"iti_{uuid.uuid4().hex}"}

    def send(http: httpx.Client, base: str) -> httpx.Response:
        return http.get(f"{base}/api/v1/organisations", headers=key)

    answers, elapsed = _alternate(pair, 2 * API.burst, send)
    granted = _granted(answers)
    assert {r.status_code for r in answers} <= {401, 429}
    if pair.api_shared:  # ITI_RATE_LIMIT_API_STORE=database: the total across processes
        assert API.burst <= granted <= API.burst + int(elapsed * API.refill), (granted, elapsed)
        assert _refused_by_both(answers)
    else:  # the default: each process has its own bucket, so two processes allow twice the figure
        assert granted == 2 * API.burst
        more, _ = _alternate(pair, 2, send)
        assert [r.status_code for r in more] == [429, 429]
