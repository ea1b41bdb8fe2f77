"""Credentials at the edge: 401 without them, the token flow, API keys, lockout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry.users import service as users
from tests.api.conftest import PASSWORD

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/weapons"),
        ("POST", "/api/v1/weapons"),
        ("GET", "/api/v1/weapons/0190a3c4-0000-7000-8000-000000000000"),
        ("POST", "/api/v1/weapons/0190a3c4-0000-7000-8000-000000000000/events"),
        ("GET", "/api/v1/weapons/0190a3c4-0000-7000-8000-000000000000/history"),
    ],
)
def test_no_credentials_is_401_with_challenge(client: TestClient, method: str, path: str) -> None:
    r = client.request(method, path, json={})
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_unknown_token_or_key_is_401(client: TestClient) -> None:
    assert client.get("/api/v1/weapons", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/v1/weapons", headers={"X-API-Key": "nope"}).status_code == 401


def test_token_flow(client: TestClient, session: Session) -> None:
    users.add_user(session, actor="test-setup", username="poc-api", role="poc_officer", password=PASSWORD)
    session.flush()
    r = client.post("/api/v1/auth/token", data={"username": "poc-api", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert 0 < body["expires_in"] <= 24 * 3600
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert client.get("/api/v1/weapons", params={"serial": "X1"}, headers=headers).status_code == 200


def test_wrong_password_is_401_problem(client: TestClient, session: Session) -> None:
    users.add_user(session, actor="test-setup", username="rec-api", role="record_officer", password=PASSWORD)
    session.flush()
    r = client.post("/api/v1/auth/token", data={"username": "rec-api", "password": "wrong" * 4})
    assert r.status_code == 401
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "authentication_failed"
    r = client.post("/api/v1/auth/token", data={"username": "nobody-here", "password": "wrong" * 4})
    assert r.status_code == 401


def test_repeated_failures_lock_the_account_423(client: TestClient, session: Session) -> None:
    users.add_user(session, actor="test-setup", username="lock-api", role="record_officer", password=PASSWORD)
    session.flush()
    codes = [
        client.post("/api/v1/auth/token", data={"username": "lock-api", "password": "wrong" * 4}).status_code
        for _ in range(12)
    ]
    assert codes[0] == 401
    assert codes[-1] == 423
    r = client.post("/api/v1/auth/token", data={"username": "lock-api", "password": PASSWORD})
    assert r.status_code == 423
    assert r.json()["code"] == "account_locked"
    assert int(r.headers["retry-after"]) > 0


def test_missing_form_fields_are_422(client: TestClient) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "x"})
    assert r.status_code == 422
    assert r.json()["field"] == "password"


def test_api_key_authenticates_as_its_role(client: TestClient, session: Session) -> None:
    _key, secret = users.create_api_key(
        session, actor="test-setup", name="station-1", role="marking_operator"
    )
    session.flush()
    headers = {"X-API-Key": secret}
    assert client.get("/api/v1/weapons", params={"serial": "X1"}, headers=headers).status_code == 200
    assert client.post("/api/v1/weapons", json={}, headers=headers).status_code == 403
