"""Persons over HTTP: registration returns an id only; reads and searches need a purpose and are audited."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from tests.factories import unique_serial

PROBLEM = "application/problem+json"
BASE = "/api/v1/persons"


def register(client: TestClient, headers: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {"name": "Amina Njeri", "identity_number": f"ID{unique_serial()}", "identity_country": "KE"}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert "name" not in r.json()
    return body, r.json()


def reads_of(session: Session, person_id: str) -> list[AuditEntry]:
    stmt = select(AuditEntry).where(
        AuditEntry.action == "person.read", AuditEntry.subject == f"person:{person_id}"
    )
    return list(session.execute(stmt).scalars())


def test_read_with_purpose_is_audited(client: TestClient, session: Session, officer: dict[str, str]) -> None:
    body, ref = register(client, officer)
    r = client.get(f"{BASE}/{ref['id']}", params={"purpose": "trace T-1"}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == body["name"]
    entries = reads_of(session, ref["id"])
    assert len(entries) == 1
    assert entries[0].actor == "officer-api"
    assert b"trace T-1" in bytes(entries[0].body)
    assert body["name"].encode() not in bytes(entries[0].body)


def test_read_without_purpose_is_422_naming_it(
    client: TestClient, session: Session, officer: dict[str, str]
) -> None:
    _, ref = register(client, officer)
    r = client.get(f"{BASE}/{ref['id']}", headers=officer)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "purpose"
    assert reads_of(session, ref["id"]) == []


def test_find_by_identity(client: TestClient, officer: dict[str, str]) -> None:
    body, ref = register(client, officer)
    params = {
        "identity_number": body["identity_number"],
        "identity_country": "KEN",
        "purpose": "licence check",
    }
    r = client.get(BASE, params=params, headers=officer)
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["items"]] == [ref["id"]]
    del params["purpose"]
    assert client.get(BASE, params=params, headers=officer).json()["field"] == "purpose"
