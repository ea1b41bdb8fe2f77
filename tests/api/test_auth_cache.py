"""The API remembers a checked credential for a few seconds (api.auth.PrincipalCache): what it may and may not
do. The cache makes reads fast under load; it must never let a credential live past what the issue allows."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import PrincipalCache, principal_cache
from registry.db import utcnow
from registry.users import service as users
from registry.users.roles import Role
from registry.users.service import Principal
from tests.api.conftest import PASSWORD, login_headers

WHO = Principal(user_id=None, username="someone", role=Role.AUDITOR, via="token")


def test_an_entry_lasts_its_seconds_and_no_longer() -> None:
    cache = PrincipalCache(seconds=0.2)
    cache.put("k", WHO)
    assert cache.get("k") == WHO
    time.sleep(0.25)
    assert cache.get("k") is None


def test_a_token_is_never_trusted_past_its_own_expiry() -> None:
    cache = PrincipalCache(seconds=60)
    cache.put("soon", WHO, expires_at=utcnow() + timedelta(seconds=0.2))
    cache.put("gone", WHO, expires_at=utcnow() - timedelta(seconds=1))
    assert cache.get("soon") == WHO
    assert cache.get("gone") is None
    time.sleep(0.25)
    assert cache.get("soon") is None


def test_least_recently_used_entries_go_first() -> None:
    cache = PrincipalCache(entries=2)
    cache.put("a", WHO)
    cache.put("b", WHO)
    assert cache.get("a") == WHO  # a is now the most recently used
    cache.put("c", WHO)
    assert cache.get("b") is None
    assert cache.get("a") == WHO
    assert cache.get("c") == WHO


def test_cached_requests_still_check_the_role(app: FastAPI, client: TestClient, session: Session) -> None:
    headers = login_headers(session, "marking_operator")
    assert client.get("/api/v1/weapons", headers=headers).status_code == 200
    # The second request is served from the cache: permissions are still checked on every request.
    assert client.get("/api/v1/users", headers=headers).status_code == 403
    assert len(principal_cache(app)) == 1


def test_disabling_a_user_through_the_api_refuses_their_token_at_once(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    admin = login_headers(session, "admin")
    victim = users.add_user(
        session, actor="test-setup", username="soon-gone", role="auditor", password=PASSWORD
    )
    token = {"Authorization": f"Bearer {users.issue_token(session, user=victim).token}"}
    session.flush()
    assert client.get("/api/v1/weapons", headers=token).status_code == 200  # now cached
    assert client.post("/api/v1/users/soon-gone/disable", headers=admin).status_code == 200
    r = client.get("/api/v1/weapons", headers=token)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


def test_unknown_credentials_are_not_cached(app: FastAPI, client: TestClient) -> None:
    for _ in range(2):
        r = client.get("/api/v1/weapons", headers={"Authorization": "Bearer not-a-token"})
        assert r.status_code == 401
    assert len(principal_cache(app)) == 0
