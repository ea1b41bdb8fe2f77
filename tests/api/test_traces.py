"""`/api/v1/traces` over the app, on SQLite and PostgreSQL: compose, send, answer, errors by field and state,
404 for what this node does not hold, statistics."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers
from tests.factories import register_weapon
from tests.tracing.requests.conftest import inbound_message as inbound
from tests.tracing.requests.conftest import queued, request_body, setup_node
from tracing.requests import service as traces

PROBLEM = "application/problem+json"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
def poc(session: Session, tmp_path: Path) -> dict[str, str]:
    setup_node(session, tmp_path)
    return login_headers(session, "poc_officer", "poc-api")


def draft_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "requested_country": "UGA",
        "case_reference": "KE/2026/9",
        "illicit_nature": "seized at a roadblock",
        "legal_justification": "Firearms Act s.4",
        "intended_use": "prosecution",
        "markings": [{"text": "AK ?3-1 2B4", "position": "receiver, left", "serial": "?31 2B4"}],
        "category": "SA-ASR",
        "calibre": "7.62x39",
        "recovery_kind": "seized",
        "recovered_on": "2026-11-01",
        "recovery_place": "Eldoret",
    }
    body.update(overrides)
    return body


def test_compose_send_and_read(client: TestClient, poc: dict[str, str], session: Session) -> None:
    r = client.post("/api/v1/traces", json=draft_body(), headers=poc)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert r.headers["location"] == f"/api/v1/traces/{doc['id']}"
    assert (doc["state"], doc["requested_country"], doc["allowed_actions"]) == (
        "draft",
        "UG",
        ["send", "close"],
    )
    assert {w["field"] for w in doc["warnings"]} == {"make", "model"}
    photo = {"filename": "mark.png", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}
    r = client.post(f"/api/v1/traces/{doc['id']}/attachments", json=photo, headers=poc)
    assert r.status_code == 201, r.text
    aid = r.json()["id"]
    r = client.post(f"/api/v1/traces/{doc['id']}/send", headers=poc)
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["state"] == "sent"
    assert sent["lost_stolen_check"]["searched"] == ["?31 2B4", "AK ?3-1 2B4"]
    assert [t["action"] for t in sent["transitions"]] == ["send"]
    assert sent["transitions"][0]["actor"] == "poc-api"
    assert [m.kind for m in queued(session)] == ["trace.request"]
    got = client.get(f"/api/v1/traces/{doc['id']}/attachments/{aid}", headers=poc)
    assert got.content == PNG
    assert got.headers["content-type"] == "image/png"
    page = client.get("/api/v1/traces", params={"direction": "outgoing"}, headers=poc).json()
    assert [i["id"] for i in page["items"]] == [doc["id"]]


def test_errors_name_the_field_and_the_state(client: TestClient, poc: dict[str, str]) -> None:
    rid = client.post("/api/v1/traces", json=draft_body(intended_use=""), headers=poc).json()["id"]
    r = client.post(f"/api/v1/traces/{rid}/send", headers=poc)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert (r.json()["field"], r.json()["code"]) == ("intended_use", "trace_incomplete")
    r = client.post(f"/api/v1/traces/{rid}/answer", json={"completeness": "full", "text": "x"}, headers=poc)
    assert r.status_code == 409
    assert r.json()["code"] == "invalid_trace_transition"
    assert r.json()["current_state"] == "draft"
    r = client.post("/api/v1/traces", json=draft_body(requested_country="KE"), headers=poc)
    assert (r.status_code, r.json()["field"]) == (422, "requested_country")
    r = client.post(
        "/api/v1/traces",
        json=draft_body(markings=[{"text": "x", "position": "p", "colour": "red"}]),
        headers=poc,
    )
    assert r.status_code == 422


def test_what_this_node_does_not_hold_is_404(
    client: TestClient, poc: dict[str, str], session: Session
) -> None:
    auditor = login_headers(session, "auditor")
    for headers in (poc, auditor):
        r = client.get(f"/api/v1/traces/{uuid.uuid4()}", headers=headers)
        assert r.status_code == 404
        assert r.json()["code"] == "trace_not_found"
    r = client.post(f"/api/v1/traces/{uuid.uuid4()}/close", json={}, headers=poc)
    assert r.status_code == 404


def test_auditors_read_but_do_not_write(client: TestClient, poc: dict[str, str], session: Session) -> None:
    rid = client.post("/api/v1/traces", json=draft_body(), headers=poc).json()["id"]
    auditor = login_headers(session, "auditor")
    assert client.get(f"/api/v1/traces/{rid}", headers=auditor).status_code == 200
    assert client.post(f"/api/v1/traces/{rid}/send", headers=auditor).status_code == 403


def test_incoming_candidates_answer_overdue_and_stats(
    client: TestClient, poc: dict[str, str], session: Session
) -> None:
    target = register_weapon(session, serial="AB12345")
    req = traces.receive(session, message=inbound("trace.request", request_body()))
    session.flush()
    doc = client.get(f"/api/v1/traces/{req.id}", headers=poc).json()
    assert doc["state"] == "acknowledged"
    assert doc["allowed_actions"] == ["answer", "delay", "restrict", "refuse"]
    assert doc["candidates"][0]["weapon_id"] == str(target.weapon.id)
    r = client.post(f"/api/v1/traces/{req.id}/candidates", headers=poc)
    assert r.json()["candidates"][0]["weapon_id"] == str(target.weapon.id)
    r = client.post(
        f"/api/v1/traces/{req.id}/answer",
        json={"completeness": "full", "weapon_id": str(target.weapon.id), "text": "imported 2021"},
        headers=poc,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "answered"
    assert r.json()["response"]["supply_chain"]["weapon"]["serial"] == "AB12345"
    assert client.get("/api/v1/traces/overdue", headers=poc).json() == []
    st = client.get("/api/v1/traces/stats", headers=poc).json()
    assert st["traces"]["total"]["received"] == 1
    assert st["traces"]["total"]["answered"] == 1
    assert "indicator" in st["sdg_16_4_2"]


def test_delay_restrict_refuse_and_close_over_http(
    client: TestClient, poc: dict[str, str], session: Session
) -> None:
    a = traces.receive(session, message=inbound("trace.request", request_body()))
    b = traces.receive(session, message=inbound("trace.request", request_body()))
    session.flush()
    r = client.post(
        f"/api/v1/traces/{a.id}/delay",
        json={"reason_code": "other", "reason": "archive", "expected_by": "2099-01-01"},
        headers=poc,
    )
    assert r.json()["state"] == "delayed"
    r = client.post(
        f"/api/v1/traces/{a.id}/restrict",
        json={"grounds": ["ongoing_investigation"], "reason": "open case"},
        headers=poc,
    )
    assert r.json()["state"] == "restricted"
    r = client.post(f"/api/v1/traces/{b.id}/refuse", json={"grounds": [], "reason": "no"}, headers=poc)
    assert (r.status_code, r.json()["field"]) == (422, "grounds")
    r = client.post(
        f"/api/v1/traces/{b.id}/refuse",
        json={"grounds": ["national_security"], "reason": "stock"},
        headers=poc,
    )
    assert r.json()["state"] == "refused"
    r = client.post(f"/api/v1/traces/{b.id}/close", json={}, headers=poc)
    assert r.status_code == 409  # the requesting state closes, not us
