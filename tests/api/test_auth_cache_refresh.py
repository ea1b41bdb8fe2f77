"""A cached credential is refreshed ahead of its expiry by one request while the others keep using it
(api.auth.PrincipalCache, REFRESH_AT): no burst of database checks when a busy credential's entry expires,
and no trust past the entry's deadline."""

from __future__ import annotations

import time

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from api.auth import PrincipalCache, _digest, principal_cache
from registry.users import service as users
from registry.users.roles import Role
from registry.users.service import Principal
from tests.api.conftest import PASSWORD, login_headers

WHO = Principal(user_id=None, username="someone", role=Role.AUDITOR, via="token")


def test_one_caller_claims_the_refresh_and_the_others_keep_the_entry() -> None:
    cache = PrincipalCache(seconds=0.5)
    cache.put("k", WHO)
    assert not cache.claim_refresh("k")  # not due yet
    assert cache.get("k", unless_due=True) == WHO
    time.sleep(0.42)  # past 80 % of its life
    assert cache.get("k", unless_due=True) is None  # due: a caller that cannot refresh goes to the route
    assert cache.get("k") == WHO
    assert cache.claim_refresh("k")
    assert not cache.claim_refresh("k")  # only one
    assert cache.get("k", unless_due=True) == WHO  # the others use it while it is refreshed
    cache.release("k")  # the refresh failed: another caller may claim it
    assert cache.claim_refresh("k")
    time.sleep(0.1)
    assert cache.get("k") is None  # never past its deadline, refreshed or not
    assert not cache.claim_refresh("k")


def test_a_refresh_starts_a_new_life_and_a_drop_ends_it() -> None:
    cache = PrincipalCache(seconds=0.5)
    cache.put("k", WHO)
    time.sleep(0.42)
    assert cache.claim_refresh("k")
    cache.put("k", WHO)
    assert not cache.claim_refresh("k")
    assert cache.get("k", unless_due=True) == WHO
    cache.drop("k")
    assert cache.get("k") is None


def test_the_route_refreshes_a_due_entry_and_refuses_a_revoked_token(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    """The request that claims the refresh checks the credential against the database: a token revoked in
    the meantime is refused then, before the entry's deadline."""
    cache = principal_cache(app)
    cache.seconds = 0.5
    user = users.add_user(
        session, actor="test-setup", username="refreshing", role="auditor", password=PASSWORD
    )
    issued = users.issue_token(session, user=user)
    session.flush()
    headers = {"Authorization": f"Bearer {issued.token}"}
    key = _digest("bearer", issued.token)
    assert client.get("/api/v1/weapons", headers=headers).status_code == 200
    assert cache.get(key) is not None
    assert users.revoke_token(session, issued.token)
    session.flush()
    time.sleep(0.42)  # due for a refresh, not expired
    r = client.get("/api/v1/weapons", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert cache.get(key) is None


def test_the_route_renews_a_due_entry_of_a_valid_token(
    app: FastAPI, client: TestClient, session: Session
) -> None:
    cache = principal_cache(app)
    cache.seconds = 0.5
    headers = login_headers(session, "auditor")
    key = _digest("bearer", headers["Authorization"].removeprefix("Bearer "))
    assert client.get("/api/v1/weapons", headers=headers).status_code == 200
    time.sleep(0.42)
    assert cache.get(key, unless_due=True) is None
    assert client.get("/api/v1/weapons", headers=headers).status_code == 200
    assert cache.get(key, unless_due=True) is not None  # renewed: a new life
    assert not cache.claim_refresh(key)
