"""Account administration over HTTP: admins add, list and disable users; no hash ever leaves."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import PASSWORD, login_headers

BASE = "/api/v1/users"


def test_add_list_disable(client: TestClient, session: Session) -> None:
    admin = login_headers(session, "admin")
    r = client.post(
        BASE, json={"username": "new-officer", "role": "poc_officer", "password": PASSWORD}, headers=admin
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/new-officer"
    assert "password" not in r.text
    assert "argon2" not in r.text
    listed = client.get(BASE, headers=admin)
    assert "new-officer" in [u["username"] for u in listed.json()["items"]]
    assert "argon2" not in listed.text
    assert "password_hash" not in listed.text
    r = client.post(f"{BASE}/new-officer/disable", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["disabled_at"] is not None
    assert client.post(f"{BASE}/new-officer/disable", headers=admin).status_code == 409


def test_duplicate_user_409_and_bad_role_422(client: TestClient, session: Session) -> None:
    admin = login_headers(session, "admin")
    body = {"username": "twice", "role": "auditor", "password": PASSWORD}
    assert client.post(BASE, json=body, headers=admin).status_code == 201
    assert client.post(BASE, json=body, headers=admin).status_code == 409
    r = client.post(BASE, json={**body, "username": "other", "role": "king"}, headers=admin)
    assert r.status_code == 422
    assert r.json()["field"] == "role"


def test_unknown_user_is_404(client: TestClient, session: Session) -> None:
    admin = login_headers(session, "admin")
    assert client.post(f"{BASE}/nobody-at-all/disable", headers=admin).status_code == 404
