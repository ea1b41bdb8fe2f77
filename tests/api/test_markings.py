"""`POST /api/v1/weapons/{id}/markings`: a marking operator records the marks they apply, and nothing else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers
from tests.api.test_weapons import PROBLEM, register


@pytest.fixture
def operator(session: Session) -> dict[str, str]:
    return login_headers(session, "marking_operator", "operator-api")


def ownership_mark(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": "KE POLICE 0042",
        "kind": "ownership",
        "component": "frame",
        "method": "dot_peen",
        "country": "KE",
        "station": "ST-NBO-1",
        "operator": "J. Mwangi",
        "verified": True,
        "occurred_at": "2026-03-02T10:15:00+03:00",
    }
    body.update(overrides)
    return body


def test_operator_records_a_marking_as_a_marked_event(
    client: TestClient, officer: dict[str, str], operator: dict[str, str]
) -> None:
    weapon = register(client, officer)
    r = client.post(f"/api/v1/weapons/{weapon['id']}/markings", json=ownership_mark(), headers=operator)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["event"]["type"] == "marked"
    assert out["event"]["seq"] == 2
    assert out["event"]["recorded_by"] == "operator-api"
    assert out["event"]["occurred_at"].startswith("2026-03-02T07:15:00")
    assert out["marking"]["text"] == "KE POLICE 0042"
    assert out["marking"]["kind"] == "ownership"
    assert out["marking"]["verified"] is True
    got = client.get(f"/api/v1/weapons/{weapon['id']}", headers=operator).json()
    assert "KE POLICE 0042" in {m["text"] for m in got["markings"]}
    history = client.get(f"/api/v1/weapons/{weapon['id']}/history", headers=operator).json()
    assert [e["type"] for e in history["events"]] == ["imported", "marked"]


def test_operator_may_not_post_events(
    client: TestClient, officer: dict[str, str], operator: dict[str, str]
) -> None:
    weapon = register(client, officer)
    r = client.post(f"/api/v1/weapons/{weapon['id']}/events", json={"type": "stolen"}, headers=operator)
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM
    assert "event.write" in r.json()["detail"]


@pytest.mark.parametrize("role", ["auditor", "poc_officer", "admin"])
def test_roles_without_marking_write_get_403(
    client: TestClient, session: Session, officer: dict[str, str], role: str
) -> None:
    weapon = register(client, officer)
    r = client.post(
        f"/api/v1/weapons/{weapon['id']}/markings",
        json=ownership_mark(),
        headers=login_headers(session, role),
    )
    assert r.status_code == 403
    assert "marking.write" in r.json()["detail"]


def test_without_credentials_is_401(client: TestClient, officer: dict[str, str]) -> None:
    weapon = register(client, officer)
    assert client.post(f"/api/v1/weapons/{weapon['id']}/markings", json=ownership_mark()).status_code == 401


def test_bad_marking_is_422_naming_the_field(
    client: TestClient, officer: dict[str, str], operator: dict[str, str]
) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/markings"
    body = ownership_mark()
    del body["text"]
    r = client.post(url, json=body, headers=operator)
    assert r.status_code == 422
    assert r.json()["field"] == "text"
    r = client.post(url, json=ownership_mark(type="stolen"), headers=operator)
    assert r.status_code == 422
    assert r.json()["field"] == "type"


def test_unknown_weapon_is_404(client: TestClient, operator: dict[str, str]) -> None:
    r = client.post(
        "/api/v1/weapons/00000000-0000-7000-8000-000000000000/markings",
        json=ownership_mark(),
        headers=operator,
    )
    assert r.status_code == 404
    assert r.json()["field"] == "weapon_id"


def test_retried_marking_is_recorded_once(
    client: TestClient, officer: dict[str, str], operator: dict[str, str]
) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/markings"
    headers = operator | {"Idempotency-Key": "station-ST-NBO-1-job-17"}
    first = client.post(url, json=ownership_mark(), headers=headers)
    again = client.post(url, json=ownership_mark(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    history = client.get(f"/api/v1/weapons/{weapon['id']}/history", headers=operator).json()
    assert [e["seq"] for e in history["events"]] == [1, 2]
