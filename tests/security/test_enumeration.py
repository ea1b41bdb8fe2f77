"""Enumeration of trace requests by id: what a caller may not know exists is answered exactly like what does not
exist. Over the API and the UI, by every role, and over federation by a peer that is not party to a request
(another state's trace between this node and a third state)."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry.errors import RegistryError
from registry.users import service as users
from tests.api.conftest import PASSWORD, login_headers
from tests.api.ui.conftest import BASE
from tests.tracing.requests.conftest import inbound_message, request_body, setup_node
from tracing.requests import inbound
from tracing.requests import service as traces

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
DRAFT = {
    "requested_country": "UG",
    "case_reference": "KE/2026/77",
    "illicit_nature": "seized",
    "legal_justification": "Firearms Act s.4",
    "intended_use": "prosecution",
    "markings": [{"text": "AK 123", "position": "receiver", "serial": "123"}],
    "category": "SA-ASR",
    "recovery_kind": "seized",
}


def same_answer(a: Any, b: Any) -> None:
    """Two answers a caller cannot tell apart: status, content type and body, once the ids the caller sent
    (echoed back in `instance` and in the message) are blanked."""
    assert a.status_code == b.status_code, (a.status_code, b.status_code)
    assert a.headers["content-type"] == b.headers["content-type"]
    assert _blank(a) == _blank(b)


def _blank(r: Any) -> str:
    text = r.text
    for part in r.request.url.path.split("/"):
        if len(part) == 36:  # a UUID from the path
            text = text.replace(part, "<id>")
    return text


@pytest.fixture
def two_requests(client: TestClient, session: Session, tmp_path: Path) -> tuple[str, str, str]:
    """Two outgoing requests of this node (KE), one with a photo: (request A, request B, B's photo id)."""
    setup_node(session, tmp_path)
    poc = login_headers(session, "poc_officer", "poc-enum")
    a = client.post("/api/v1/traces", json=DRAFT, headers=poc).json()["id"]
    b = client.post("/api/v1/traces", json={**DRAFT, "case_reference": "KE/2026/78"}, headers=poc).json()[
        "id"
    ]
    photo = {"filename": "mark.png", "media_type": "image/png", "data": base64.b64encode(PNG).decode()}
    r = client.post(f"/api/v1/traces/{b}/attachments", json=photo, headers=poc)
    assert r.status_code == 201, r.text
    return a, b, r.json()["id"]


@pytest.mark.parametrize("role", ["record_officer", "marking_operator", "auditor", "poc_officer", "admin"])
def test_api_answers_an_existing_request_like_a_missing_one(
    client: TestClient, session: Session, two_requests: tuple[str, str, str], role: str
) -> None:
    a, _b, photo_of_b = two_requests
    headers = login_headers(session, role)
    existing = client.get(f"/api/v1/traces/{a}", headers=headers)
    missing = client.get(f"/api/v1/traces/{uuid.uuid4()}", headers=headers)
    if (
        existing.status_code == 200
    ):  # a role that reads traces sees this node's requests; a missing one is 404
        assert missing.status_code == 404
        assert missing.json()["code"] == "trace_not_found"
    else:  # a role that does not: refused by its role alone, whether the request exists or not
        same_answer(existing, missing)
    # Another request's photo through this request's id: exactly like a photo that does not exist.
    crossed = client.get(f"/api/v1/traces/{a}/attachments/{photo_of_b}", headers=headers)
    invented = client.get(f"/api/v1/traces/{a}/attachments/{uuid.uuid4()}", headers=headers)
    same_answer(crossed, invented)
    assert crossed.status_code in (403, 404)


@pytest.mark.parametrize("role", ["record_officer", "poc_officer", "auditor"])
def test_ui_answers_an_existing_request_like_a_missing_one(
    app: FastAPI, session: Session, two_requests: tuple[str, str, str], role: str
) -> None:
    a, _b, photo_of_b = two_requests
    name = f"enum-{role.replace('_', '-')}"
    users.add_user(session, actor="test-setup", username=name, role=role, password=PASSWORD)
    session.flush()
    with TestClient(app, base_url=BASE, follow_redirects=False) as browser:
        assert browser.post("/ui/login", data={"username": name, "password": PASSWORD}).status_code == 303
        existing = browser.get(f"/ui/traces/{a}")
        missing = browser.get(f"/ui/traces/{uuid.uuid4()}")
        if existing.status_code == 200:
            assert missing.status_code == 404
        else:
            assert existing.status_code == missing.status_code
        crossed = browser.get(f"/ui/traces/{a}/attachments/{photo_of_b}")
        invented = browser.get(f"/ui/traces/{a}/attachments/{uuid.uuid4()}")
        assert crossed.status_code == invented.status_code
        assert crossed.status_code in (403, 404)
        assert _blank(crossed) == _blank(invented)


def refusal(fn: Any) -> tuple[str, str, str | None]:
    with pytest.raises(RegistryError) as caught:
        fn()
    return caught.value.code, caught.value.message, caught.value.field


def test_a_peer_not_party_to_a_request_cannot_tell_it_exists(session: Session, tmp_path: Path) -> None:
    """TZ probes this node (KE) for its traces with UG: every message about them is refused exactly like one
    about an id that was never used."""
    setup_node(session, tmp_path)
    incoming = traces.receive(session, message=inbound_message("trace.request", request_body()))
    session.flush()
    unknown = str(uuid.uuid4())

    def response(rid: str, sender: str) -> Any:
        body = {
            "schema": "iti-trace/1",
            "request_id": rid,
            "outcome": "refused",
            "grounds": "x",
            "reason": "x",
        }
        return lambda: inbound.on_response(session, inbound_message("trace.response", body, sender=sender))

    def close(rid: str, sender: str) -> Any:
        body = {"schema": "iti-trace/1", "request_id": rid, "note": "done"}
        return lambda: inbound.on_close(session, inbound_message("trace.close", body, sender=sender))

    def reuse(rid: str, sender: str) -> Any:
        body = request_body(uuid.UUID(rid), requesting_state=sender)
        return lambda: traces.receive(session, message=inbound_message("trace.request", body, sender=sender))

    assert refusal(close(str(incoming.id), "TZ")) == refusal(close(unknown, "TZ"))
    # A new request reusing the id of UG's is refused with the words of a missing request. (A fresh id is
    # simply a new request: ids are UUIDv7 with 74 random bits, so guessing one that exists is hopeless.)
    assert refusal(reuse(str(incoming.id), "TZ")) == refusal(close(unknown, "TZ"))
    # An answer names an outgoing request of ours: UG's incoming request is not one, whoever asks.
    assert refusal(response(str(incoming.id), "TZ")) == refusal(response(unknown, "TZ"))
    assert refusal(close(unknown, "TZ"))[0] == "trace_not_found"
