"""`Idempotency-Key` on the writes that append history (issue 3): a retry is answered, never redone."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers, weapon_body
from tests.api.test_weapons import EXPORT, PROBLEM, register

STOLEN = {"type": "stolen", "location": "Nairobi", "notes": "reported by the holder"}


def key_header(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or f"k-{uuid.uuid4()}"}


def history_seqs(client: TestClient, headers: dict[str, str], weapon_id: str) -> list[int]:
    r = client.get(f"/api/v1/weapons/{weapon_id}/history", headers=headers)
    assert r.status_code == 200, r.text
    return [e["seq"] for e in r.json()["events"]]


def test_retried_event_is_recorded_once_and_replayed(client: TestClient, officer: dict[str, str]) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/events"
    headers = officer | key_header()
    first = client.post(url, json=EXPORT, headers=headers)
    again = client.post(url, json=EXPORT, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["event"]["seq"] == 2
    assert history_seqs(client, officer, weapon["id"]) == [1, 2]


def test_retried_registration_creates_one_weapon(client: TestClient, officer: dict[str, str]) -> None:
    body = weapon_body()
    headers = officer | key_header()
    first = client.post("/api/v1/weapons", json=body, headers=headers)
    again = client.post("/api/v1/weapons", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"] == f"/api/v1/weapons/{first.json()['id']}"
    found = client.get("/api/v1/weapons", params={"serial": body["markings"][0]["serial"]}, headers=officer)
    assert [w["id"] for w in found.json()["items"]] == [first.json()["id"]]


def test_same_key_with_another_body_is_409_naming_the_header(
    client: TestClient, officer: dict[str, str]
) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/events"
    headers = officer | key_header()
    assert client.post(url, json=STOLEN, headers=headers).status_code == 201
    r = client.post(url, json=STOLEN | {"location": "Mombasa"}, headers=headers)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["code"] == "idempotency_key_reused"
    assert r.json()["field"] == "Idempotency-Key"
    assert "idempotent-replayed" not in r.headers
    assert history_seqs(client, officer, weapon["id"]) == [1, 2]


def test_same_key_on_another_path_is_409(client: TestClient, officer: dict[str, str]) -> None:
    one, other = register(client, officer), register(client, officer)
    headers = officer | key_header()
    assert client.post(f"/api/v1/weapons/{one['id']}/events", json=STOLEN, headers=headers).status_code == 201
    r = client.post(f"/api/v1/weapons/{other['id']}/events", json=STOLEN, headers=headers)
    assert r.status_code == 409
    assert r.json()["field"] == "Idempotency-Key"
    assert f"/api/v1/weapons/{one['id']}/events" in r.json()["detail"]
    assert history_seqs(client, officer, other["id"]) == [1]


def test_keys_are_per_principal(client: TestClient, session: Session, officer: dict[str, str]) -> None:
    colleague = login_headers(session, "record_officer")
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/events"
    key = key_header("shared-key-1")
    first = client.post(url, json=STOLEN, headers=officer | key)
    assert first.status_code == 201, first.text
    theirs = client.post(
        url, json={"type": "found", "data": {"mark_condition": "intact"}}, headers=colleague | key
    )
    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["event"]["recorded_by"] != first.json()["event"]["recorded_by"]
    assert history_seqs(client, officer, weapon["id"]) == [1, 2, 3]


def test_a_refused_write_does_not_use_up_the_key(client: TestClient, officer: dict[str, str]) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/events"
    headers = officer | key_header()
    refused = client.post(url, json={"type": "exported", "to_country": "UG"}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["field"] == "documents"
    fixed = client.post(url, json=EXPORT, headers=headers)
    assert fixed.status_code == 201, fixed.text
    assert "idempotent-replayed" not in fixed.headers


def test_key_is_bounded(client: TestClient, officer: dict[str, str]) -> None:
    weapon = register(client, officer)
    url = f"/api/v1/weapons/{weapon['id']}/events"
    for bad in ("x" * 201, ""):
        r = client.post(url, json=STOLEN, headers=officer | {"Idempotency-Key": bad})
        assert r.status_code == 422, bad
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["field"] == "Idempotency-Key"
    assert history_seqs(client, officer, weapon["id"]) == [1]
