"""Trace pages in-process: who may see and do what, the ITI 17 content checked at send with the error shown,
CSRF on every action, and what another state may not know exists answers 404."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.api.ui.conftest import SignIn, csrf_of
from tracing.requests.models import TraceRequest


def draft_form(csrf: str, **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "requested_country": "AT",
        "case_reference": f"KE/CID/{uuid.uuid4().hex[:6]}",
        "markings.0.text": "GLOCK AUSTRIA GX4?7?",
        "markings.0.position": "frame",
        "make": "Glock",
    }
    form.update(extra)
    return form


def compose(client: TestClient, **extra: str) -> Any:
    csrf = csrf_of(client.get("/ui/traces/new").text)
    return client.post("/ui/traces/new", data=draft_form(csrf, **extra))


def count(session: Session) -> int:
    return session.execute(select(func.count()).select_from(TraceRequest)).scalar_one()


def test_a_poc_officer_drafts_and_sees_the_request(sign_in: SignIn) -> None:
    poc = sign_in("poc_officer")
    r = compose(poc)
    assert r.status_code == 303, r.text
    page = poc.get(r.headers["location"]).text
    assert "Draft saved" in page
    assert 'data-state="draft"' in page
    assert "GLOCK AUSTRIA GX4?7?" in page
    assert poc.get("/ui/traces?direction=outgoing").text.count("KE/CID/") == 1


def test_a_draft_without_the_required_content_cannot_be_sent(sign_in: SignIn, session: Session) -> None:
    poc = sign_in("poc_officer")
    r = compose(poc)
    url = r.headers["location"].split("?")[0]
    csrf = csrf_of(poc.get(url).text)
    r = poc.post(url + "/send", data={"csrf_token": csrf})
    assert r.status_code == 422
    assert "Nothing was recorded" in r.text
    assert "ITI" in r.text
    assert 'data-state="draft"' in r.text  # still a draft: nothing was sent


def test_invalid_compose_input_is_shown_by_its_field(sign_in: SignIn, session: Session) -> None:
    poc = sign_in("poc_officer")
    before = count(session)
    r = compose(poc, requested_country="XX")
    assert r.status_code == 422
    assert 'data-field="requested_country"' in r.text
    assert count(session) == before


def test_actions_need_the_csrf_token(sign_in: SignIn) -> None:
    poc = sign_in("poc_officer")
    url = compose(poc).headers["location"].split("?")[0]
    r = poc.post(url + "/close", data={"csrf_token": "forged"})
    assert r.status_code == 403
    assert 'data-state="draft"' in poc.get(url).text


def test_roles_on_trace_pages(sign_in: SignIn) -> None:
    poc = sign_in("poc_officer")
    url = compose(poc).headers["location"].split("?")[0]
    assert sign_in("record_officer").get("/ui/traces").status_code == 403
    assert sign_in("marking_operator").get(url).status_code == 403
    auditor = sign_in("auditor")
    page = auditor.get(url)
    assert page.status_code == 200
    assert "What you can do now" not in page.text  # trace.read only: no action forms
    assert auditor.get("/ui/traces/new").status_code == 403
    csrf = csrf_of(page.text)
    assert auditor.post(url + "/close", data={"csrf_token": csrf}).status_code == 403


def test_an_unknown_trace_is_a_404_page(sign_in: SignIn) -> None:
    poc = sign_in("poc_officer")
    r = poc.get(f"/ui/traces/{uuid.uuid4()}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


def test_statistics_page(sign_in: SignIn) -> None:
    r = sign_in("auditor").get("/ui/traces/stats", params={"year": 2026})
    assert r.status_code == 200
    assert 'data-testid="sdg"' in r.text
    assert 'data-key="sent"' in r.text


def test_a_photo_of_the_request_opens_from_its_page(sign_in: SignIn, session: Session) -> None:
    import io

    from PIL import Image

    from tracing.requests import service as traces

    poc = sign_in("poc_officer")
    url = compose(poc).headers["location"].split("?")[0]
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buf, format="PNG")
    photo = traces.add_attachment(
        session, actor="t", request_id=uuid.UUID(url.rsplit("/", 1)[1]), filename="frame.png",
        media_type="image/png", data=buf.getvalue(),
    )  # fmt: skip
    session.flush()
    page = poc.get(url).text
    link = f"/ui/traces/{url.rsplit('/', 1)[1]}/attachments/{photo.id}"
    assert link in page
    r = poc.get(link)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    assert r.content == buf.getvalue()
    assert poc.get(f"{url}/attachments/{uuid.uuid4()}").status_code == 404
