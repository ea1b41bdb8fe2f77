"""REQ-32 over the app: the export and the formal answer declare their purpose, a purpose other than the
stated one is a 409 problem naming `purpose` and the stated purpose until a notice to the providing state is
delivered; the notice is sent by a PoC officer (API route and trace page) and listed on the trace document."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from registry.db import utcnow
from tests.api.conftest import login_headers
from tests.api.ui.conftest import SignIn, csrf_of
from tests.api.ui.conftest import sign_in as sign_in
from tests.reports.conftest import pdf_text
from tests.tracing.requests.conftest import complete_input, inbound_message, queued, setup_node
from tracing.requests import service as traces

PROBLEM = "application/problem+json"
COURT = "High Court of Kenya"
NOTICE = {"purpose": "prosecution", "recipient": COURT, "reason": "The pistol is an exhibit at trial."}


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine  # the rules run on both backends in tests/tracing/requests/test_disclosure.py


@pytest.fixture
def answered(session: Session, tmp_path: Path) -> uuid.UUID:
    """Our request to UG, stated for a criminal investigation, answered by UG."""
    setup_node(session, tmp_path)
    req = traces.create_draft(session, actor="poc-ke", data=complete_input()).request
    traces.send(session, actor="poc-ke", request_id=req.id)
    body = {"request_id": str(req.id), "outcome": "answered", "completeness": "full", "weapon_found": False,
            "text": "No record of this pistol."}  # fmt: skip
    traces.on_response(session, inbound_message("trace.response", body))
    session.flush()
    return req.id


def _deliver_notices(session: Session) -> None:
    """What the delivery worker records on UG's signed receipt (real HTTP: tests/tracing/test_disclosure_nodes)."""
    for m in queued(session, "trace.disclosure_notice"):
        m.delivered_at = utcnow()
    session.flush()


def test_export_refused_outside_the_stated_purpose_until_a_notice_is_delivered(
    client: TestClient, session: Session, answered: uuid.UUID
) -> None:
    poc = login_headers(session, "poc_officer", "poc-api")
    export = f"/api/v1/traces/{answered}/export"
    ok = client.get(export, params={"purpose": "criminal_investigation"}, headers=poc)
    assert ok.status_code == 200, ok.text
    assert ok.json()["format"] == "iti-trace-export/1"
    assert ok.json()["response"]["outcome"] == "answered"

    r = client.get(export, params={"purpose": "prosecution", "recipient": COURT}, headers=poc)
    assert (r.status_code, r.headers["content-type"]) == (409, PROBLEM)
    problem = r.json()
    assert (problem["code"], problem["field"]) == ("use_outside_stated_purpose", "purpose")
    assert (problem["stated_purpose"], problem["providing_state"]) == ("criminal_investigation", "UG")
    missing = client.get(export, headers=poc)
    assert missing.status_code == 422
    assert "purpose" in str(missing.json()["field"])

    auditor = login_headers(session, "auditor")
    notice = f"/api/v1/traces/{answered}/disclosure-notice"
    assert client.post(notice, json=NOTICE, headers=auditor).status_code == 403
    bad = client.post(notice, json={**NOTICE, "recipient": ""}, headers=poc)
    assert (bad.status_code, bad.json()["field"]) == (422, "recipient")
    sent = client.post(notice, json=NOTICE, headers=poc)
    assert sent.status_code == 200, sent.text
    limits = sent.json()["use_limits"]
    assert (limits["stated_purpose"], limits["providing_state"]) == ("criminal_investigation", "UG")
    (listed,) = limits["disclosure_notices"]
    assert (listed["direction"], listed["country"], listed["recipient"]) == ("sent", "UG", COURT)
    assert listed["delivered_at"] is None
    assert (
        client.get(export, params={"purpose": "prosecution", "recipient": COURT}, headers=poc).status_code
        == 409
    )

    _deliver_notices(session)
    r = client.get(export, params={"purpose": "prosecution", "recipient": COURT}, headers=poc)
    assert r.status_code == 200, r.text
    assert r.json()["declared_use"]["notice_message_id"] == listed["message_id"]
    pdf = client.get(
        f"/api/v1/traces/{answered}/answer.pdf",
        params={"purpose": "prosecution", "recipient": COURT},
        headers=poc,
    )
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert (
        "for criminal investigation only" in pdf_text(pdf.content).casefold()
    )  # the stated limit stays printed


def test_the_trace_page_declares_the_documents_purpose_and_sends_a_notice(
    sign_in: SignIn, answered: uuid.UUID
) -> None:
    poc = sign_in("poc_officer")
    page = poc.get(f"/ui/traces/{answered}").text
    assert 'data-testid="use-limits"' in page
    assert '<option value="criminal_investigation" selected>' in page  # the document form defaults to it
    assert "No disclosure notice." in page
    pdf = f"/ui/reports/traces/{answered}/answer.pdf"
    refused = poc.get(pdf, params={"lang": "en", "purpose": "prosecution", "recipient": COURT})
    assert refused.status_code == 409
    assert "criminal_investigation" in refused.text

    form = {"csrf_token": csrf_of(page), "notice_purpose": "prosecution", "notice_recipient": COURT,
            "notice_reason": ""}  # fmt: skip
    r = poc.post(f"/ui/traces/{answered}/disclosure-notice", data=form)
    assert r.status_code == 422
    assert 'data-field="disclosure-notice.reason"' in r.text
    r = poc.post(
        f"/ui/traces/{answered}/disclosure-notice", data={**form, "notice_reason": "Exhibit at trial."}
    )
    assert r.status_code == 303, r.text
    page = poc.get(r.headers["location"]).text
    assert "The notice was sent." in page
    assert f"Notice to UG: disclosure to {COURT} for prosecution" in page
    assert "not delivered yet" in page
    assert sign_in("auditor").post(f"/ui/traces/{answered}/disclosure-notice", data=form).status_code == 403
