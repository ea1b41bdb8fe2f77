"""Rate limits (api/ratelimit.py): a burst gets 429 with Retry-After, normal use does not; logins per address
across user names, federation messages per sending address, the rest of /api/v1 per credential.

These run the app in-process with memory buckets: the test's outer transaction holds SQLite's write lock, so
the database store (its own connection) would wait for it. The shared stores, across real server processes,
are tested in test_rate_limits_shared.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.ratelimit import Rate, RateLimits
from registry.config import get_settings
from registry.ratelimit.store import DatabaseStore, MemoryStore, RedisStore
from tests.api.conftest import PASSWORD, login_headers

LIMITS = {
    "ITI_RATE_LIMIT_ENABLED": "true",
    "ITI_RATE_LIMIT_LOGIN": "5/60",
    "ITI_RATE_LIMIT_FEDERATION": "4/60",
    "ITI_RATE_LIMIT_API": "30/60",
    "ITI_RATE_LIMIT_STORE": "memory",
}


@pytest.fixture
def limited(engine: Engine, session: Session) -> Iterator[TestClient]:
    conn = session.bind
    assert isinstance(conn, Connection)
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    settings = dataclasses.replace(get_settings(), extra={**get_settings().extra, **LIMITS})
    with TestClient(create_app(settings, engine=engine, session_factory=factory)) as c:
        yield c


def _problem_429(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "rate_limited"


def test_token_bucket_refills_with_time() -> None:
    now = [0.0]
    bucket = MemoryStore(clock=lambda: now[0])
    rate = Rate(3, 30)
    assert [bucket.take("a", rate) for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a", rate) == pytest.approx(10.0)  # one token per 10 s
    assert bucket.take("b", rate) == 0  # another key has its own bucket
    now[0] = 10.0
    assert bucket.take("a", rate) == 0
    assert bucket.take("a", rate) > 0


def test_configuration_parses_and_refuses_nonsense() -> None:
    engine = create_engine("sqlite://")
    settings = dataclasses.replace(
        get_settings(), extra={"ITI_RATE_LIMIT_ENABLED": "true", "ITI_RATE_LIMIT_API": "off"}
    )
    limits = RateLimits.from_settings(settings, engine=engine)
    assert limits.api is None
    assert limits.login is not None
    assert limits.federation is not None
    assert limits.login.rate == Rate(20, 60)  # the documented default
    # The documented stores: login and federation shared in the database (one store), the API in memory.
    assert isinstance(limits.login.store, DatabaseStore)
    assert limits.federation.store is limits.login.store
    assert not limits.login.fail_open
    api = RateLimits.from_settings(
        dataclasses.replace(settings, extra={"ITI_RATE_LIMIT_ENABLED": "true"}), engine=engine
    ).api
    assert api is not None
    assert isinstance(api.store, MemoryStore)
    assert api.fail_open
    redis = RateLimits.from_settings(
        dataclasses.replace(
            settings,
            extra={
                "ITI_RATE_LIMIT_ENABLED": "true",
                "ITI_RATE_LIMIT_STORE": "redis://127.0.0.1:6379/0?prefix=cfg:",
                "ITI_RATE_LIMIT_API_STORE": "redis://127.0.0.1:6379/0?prefix=cfg:",
            },
        ),
        engine=engine,
    )
    assert isinstance(redis.login and redis.login.store, RedisStore)
    assert redis.api is not None
    assert redis.api.store is redis.federation.store  # type: ignore[union-attr]  # one client for one URL
    assert redis.api.store.prefix == "cfg:"  # type: ignore[attr-defined]
    redis.close()
    bad = dataclasses.replace(
        settings, extra={"ITI_RATE_LIMIT_ENABLED": "true", "ITI_RATE_LIMIT_LOGIN": "many"}
    )
    with pytest.raises(ValueError, match="ITI_RATE_LIMIT_LOGIN"):
        RateLimits.from_settings(bad, engine=engine)
    bad_store = dataclasses.replace(
        settings, extra={"ITI_RATE_LIMIT_ENABLED": "true", "ITI_RATE_LIMIT_API_STORE": "postgres"}
    )
    with pytest.raises(ValueError, match="ITI_RATE_LIMIT_API_STORE"):
        RateLimits.from_settings(bad_store, engine=engine)
    off = dataclasses.replace(settings, extra={"ITI_RATE_LIMIT_ENABLED": "false"})
    assert RateLimits.from_settings(off, engine=engine) == RateLimits(None, None, None)


def test_login_burst_across_user_names_gets_429(limited: TestClient, session: Session) -> None:
    login_headers(session, "record_officer", "rl-officer")
    answers = [
        limited.post("/api/v1/auth/token", data={"username": f"guess{i}", "password": "x"}).status_code
        for i in range(5)
    ]
    assert answers == [401] * 5  # normal failures until the bucket is empty
    _problem_429(limited.post("/api/v1/auth/token", data={"username": "rl-officer", "password": PASSWORD}))
    # The limit is per address, not per account: even the right password waits.


def test_normal_login_use_is_not_limited(limited: TestClient, session: Session) -> None:
    login_headers(session, "record_officer", "rl-normal")
    for _ in range(4):
        r = limited.post("/api/v1/auth/token", data={"username": "rl-normal", "password": PASSWORD})
        assert r.status_code == 200, r.text


def test_ui_login_burst_gets_an_html_page_with_retry_after(limited: TestClient) -> None:
    page = limited.get("/ui/login")
    assert page.status_code == 200
    for i in range(5):
        r = limited.post("/ui/login", data={"username": f"guess{i}", "password": "x", "next": "/ui/"})
        assert r.status_code == 401
    r = limited.post("/ui/login", data={"username": "guess", "password": "x", "next": "/ui/"})
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("text/html")
    assert int(r.headers["retry-after"]) >= 1
    assert "Too many sign-in attempts" in r.text


def test_federation_flood_from_one_address_gets_429(limited: TestClient) -> None:
    for path in ("/api/v1/federation/messages", "/federation/v1/messages"):
        assert limited.post(path, content=b"{}").status_code != 429
    assert limited.post("/api/v1/federation/messages", content=b"{}").status_code == 400
    assert limited.post("/federation/v1/messages", content=b"{}").status_code == 400
    # Both paths share one bucket per sender: the fifth message waits, before its body is even parsed.
    _problem_429(limited.post("/federation/v1/messages", content=b"garbage"))


def test_api_limit_is_per_credential(limited: TestClient, session: Session) -> None:
    a = login_headers(session, "record_officer")
    b = login_headers(session, "record_officer")
    for _ in range(30):
        assert limited.get("/api/v1/organisations", headers=a).status_code == 200
    _problem_429(limited.get("/api/v1/organisations", headers=a))
    assert limited.get("/api/v1/organisations", headers=b).status_code == 200  # another officer unaffected
    assert limited.get("/healthz").status_code == 200  # only /api/v1 is limited


def test_limits_are_off_in_the_rest_of_the_suite(client: TestClient) -> None:
    app: FastAPI = client.app  # type: ignore[assignment]
    assert app.state.rate_limits == RateLimits(None, None, None)
    for i in range(30):
        assert (
            client.post("/api/v1/auth/token", data={"username": f"x{i}", "password": "y"}).status_code == 401
        )
