"""The web UI in-process on SQLite and PostgreSQL: sessions, CSRF, roles, forms that show the registry's
errors next to the field and record nothing, and pages that show what was recorded."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.history.models import Event
from registry.users import service as users
from registry.weapons.models import Weapon
from tests.api.conftest import PASSWORD
from tests.api.ui.conftest import SignIn, csrf_of
from tests.factories import unique_serial


def weapon_form(csrf: str, serial: str, **extra: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf,
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "serial": serial,
        "marking.text": f"GLOCK AUSTRIA {serial}",
        "marking.serial": serial,
        "marking.manufacturer": "GLOCK",
        "marking.country": "AT",
        "marking2.text": "IMP KE 2025",
        "marking2.kind": "import",
        "marking2.country": "KE",
        "marking2.year": "2025",
        "event.type": "imported",
        "event.from_country": "AT",
        "event.to_country": "KE",
        "event.document.kind": "import_licence",
        "event.document.number": "IL-2025-7",
    }
    form.update(extra)
    return form


def register(client: TestClient, serial: str, **extra: str) -> Any:
    csrf = csrf_of(client.get("/ui/weapons/new").text)
    return client.post("/ui/weapons/new", data=weapon_form(csrf, serial, **extra))


def count(session: Session, model: Any) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_pages_need_a_session_and_send_back_after_login(browser: TestClient, session: Session) -> None:
    r = browser.get("/ui/weapons?status=active")
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/login?next=/ui/weapons%3Fstatus%3Dactive"
    users.add_user(session, actor="t", username="back-again", role="auditor", password=PASSWORD)
    session.flush()
    r = browser.post(
        "/ui/login",
        data={"username": "back-again", "password": PASSWORD, "next": "/ui/weapons?status=active"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/weapons?status=active"
    cookie = r.headers.get_list("set-cookie")
    assert any(
        c.startswith("iti_session=") and "HttpOnly" in c and "Secure" in c and "SameSite=strict" in c
        for c in cookie
    )
    assert browser.get("/ui/weapons?status=active").status_code == 200


def test_login_redirect_stays_on_this_site(browser: TestClient, session: Session) -> None:
    users.add_user(session, actor="t", username="no-open-redirect", role="auditor", password=PASSWORD)
    session.flush()
    for target in ("https://evil.example/", "//evil.example/x", "/api/v1/users"):
        r = browser.post(
            "/ui/login", data={"username": "no-open-redirect", "password": PASSWORD, "next": target}
        )
        assert r.headers["location"] == "/ui/"


def test_wrong_password_is_refused_and_counted_until_lockout(browser: TestClient, session: Session) -> None:
    users.add_user(session, actor="t", username="forgetful", role="auditor", password=PASSWORD)
    session.flush()
    for _ in range(4):
        r = browser.post("/ui/login", data={"username": "forgetful", "password": "not it at all"})
        assert r.status_code == 401
        assert "not right" in r.text
        assert "iti_session" not in r.headers.get("set-cookie", "")
    # The fifth failure locks the account; then even the right password is refused.
    assert browser.post("/ui/login", data={"username": "forgetful", "password": "nope"}).status_code == 423
    r = browser.post("/ui/login", data={"username": "forgetful", "password": PASSWORD})
    assert r.status_code == 423
    assert "locked" in r.text


def test_a_session_cookie_planted_before_login_is_revoked(browser: TestClient, session: Session) -> None:
    users.add_user(session, actor="t", username="fixation", role="auditor", password=PASSWORD)
    session.flush()
    planted = users.issue_token(session, user=users.get_user(session, "fixation"), kind="session").token
    browser.cookies.set("iti_session", planted, domain="testserver.local")
    r = browser.post("/ui/login", data={"username": "fixation", "password": PASSWORD})
    assert r.status_code == 303
    assert users.principal_for_token(session, planted, kind="session") is None
    assert browser.get("/ui/").status_code == 200  # the new session works


def test_logout_revokes_the_session(sign_in: SignIn) -> None:
    client = sign_in("auditor")
    page = client.get("/ui/")
    token = client.cookies.get("iti_session")
    r = client.post("/ui/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    client.cookies.set("iti_session", token or "", domain="testserver.local")
    assert client.get("/ui/").status_code == 303


def test_a_form_without_the_csrf_token_records_nothing(sign_in: SignIn, session: Session) -> None:
    client = sign_in("record_officer")
    before = count(session, Weapon)
    for token in ("", "forged-token"):
        r = client.post("/ui/weapons/new", data=weapon_form(token, unique_serial()))
        assert r.status_code == 403
        assert "Form refused" in r.text
    assert count(session, Weapon) == before


def test_register_then_record_an_export_shows_both_on_the_timeline(sign_in: SignIn, session: Session) -> None:
    client = sign_in("record_officer")
    serial = unique_serial()
    r = register(client, serial)
    assert r.status_code == 303, r.text
    page_url = r.headers["location"].split("?")[0]
    page = client.get(r.headers["location"])
    assert "Weapon registered." in page.text
    assert f"GLOCK AUSTRIA {serial}" in page.text
    csrf = csrf_of(client.get(page_url + "/events/new").text)
    r = client.post(
        page_url + "/events/new",
        data={
            "csrf_token": csrf,
            "type": "exported",
            "to_country": "UG",
            "document.kind": "export_licence",
            "document.number": "EL-99",
        },
    )
    assert r.status_code == 303, r.text
    page = client.get(page_url).text
    timeline = page[page.index('data-testid="timeline"') :]
    assert timeline.index('data-type="exported"') < timeline.index('data-type="imported"')  # newest first
    assert "EL-99" in timeline
    assert 'data-status="exported"' in page


def test_an_invalid_registration_shows_the_error_by_its_field_and_keeps_the_input(
    sign_in: SignIn, session: Session
) -> None:
    client = sign_in("record_officer")
    before = (count(session, Weapon), count(session, Event))
    serial = unique_serial()
    r = register(client, serial, **{"event.to_country": "XX"})
    assert r.status_code == 422
    assert 'data-field="event.to_country"' in r.text
    assert f'value="{serial}"' in r.text  # what the officer typed is still there
    assert (count(session, Weapon), count(session, Event)) == before


def test_a_duplicate_registration_is_refused_with_nothing_written(sign_in: SignIn, session: Session) -> None:
    client = sign_in("record_officer")
    serial = unique_serial()
    assert register(client, serial).status_code == 303
    before = count(session, Weapon)
    r = register(client, serial)
    assert r.status_code == 422
    assert "error-summary" in r.text
    assert count(session, Weapon) == before


def test_search_finds_by_serial_and_filters_by_status(sign_in: SignIn) -> None:
    client = sign_in("record_officer")
    serial = unique_serial()
    register(client, serial)
    found = client.get("/ui/weapons", params={"serial": serial.lower()}).text
    assert "1 result" in found
    assert serial in found
    assert serial not in client.get("/ui/weapons", params={"status": "stolen"}).text


def test_dashboard_differs_by_role(sign_in: SignIn) -> None:
    officer = sign_in("record_officer").get("/ui/").text
    assert 'data-testid="recent-events"' in officer
    assert 'data-testid="status-counts"' in officer
    operator = sign_in("marking_operator").get("/ui/").text
    assert "Waiting to be marked" in operator
    assert 'data-testid="recent-events"' not in operator
    assert 'href="/ui/admin/users"' not in operator
    admin = sign_in("admin").get("/ui/").text
    assert 'href="/ui/admin/users"' in admin
    assert "Audit log" in admin


def test_roles_are_enforced_on_pages_and_forms(sign_in: SignIn, session: Session) -> None:
    operator = sign_in("marking_operator")
    r = operator.get("/ui/admin/users")
    assert r.status_code == 403
    assert "user.admin" in r.text
    assert operator.get("/ui/weapons/new").status_code == 403
    auditor = sign_in("auditor")
    csrf = csrf_of(auditor.get("/ui/").text)
    before = count(session, Weapon)
    assert auditor.post("/ui/weapons/new", data=weapon_form(csrf, unique_serial())).status_code == 403
    assert count(session, Weapon) == before


def test_admin_adds_and_disables_an_account(sign_in: SignIn, session: Session) -> None:
    admin = sign_in("admin")
    csrf = csrf_of(admin.get("/ui/admin/users").text)
    r = admin.post(
        "/ui/admin/users",
        data={"csrf_token": csrf, "username": "new-poc", "role": "poc_officer", "password": "short"},
    )
    assert r.status_code == 422
    assert 'data-field="password"' in r.text
    r = admin.post(
        "/ui/admin/users",
        data={"csrf_token": csrf, "username": "new-poc", "role": "poc_officer", "password": PASSWORD},
    )
    assert r.status_code == 303
    assert users.get_user(session, "new-poc").role == "poc_officer"
    r = admin.post("/ui/admin/users/new-poc/disable", data={"csrf_token": csrf})
    assert r.status_code == 303
    assert users.get_user(session, "new-poc").disabled_at is not None


def test_audit_page_verifies_the_log(sign_in: SignIn) -> None:
    auditor = sign_in("auditor")
    page = auditor.get("/ui/audit")
    assert page.status_code == 200
    r = auditor.post("/ui/audit/verify", data={"csrf_token": csrf_of(page.text), "records": "true"})
    assert r.status_code == 200
    assert "Verified: the log is intact" in r.text


def test_unknown_weapon_is_an_html_404_page(sign_in: SignIn) -> None:
    client = sign_in("auditor")
    r = client.get("/ui/weapons/01a20fcb-b6ab-7e21-85bf-a830bb7604fb")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    r = client.get("/ui/weapons/not-a-uuid")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("text/html")


def test_api_errors_stay_problem_json(client: TestClient) -> None:
    r = client.get("/api/v1/weapons/not-a-uuid")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"


def test_an_upload_without_the_csrf_token_starts_no_import(sign_in: SignIn, session: Session) -> None:
    from registry.imports.jobs_models import ImportJobRun

    client = sign_in("record_officer")
    before = count(session, ImportJobRun)
    r = client.post(
        "/ui/imports",
        data={"csrf_token": "forged"},
        files={"file": ("a.csv", b"category,make\nSA-PIS,Glock\n", "text/csv")},
    )
    assert r.status_code == 403
    assert count(session, ImportJobRun) == before
    assert sign_in("marking_operator").get("/ui/imports").status_code == 403


def test_fuzzy_search_ranks_a_misread_serial_with_its_reason(sign_in: SignIn) -> None:
    client = sign_in("record_officer")
    serial = unique_serial()
    assert register(client, serial).status_code == 303
    misread = serial[:3] + "?" + serial[4:]  # one character unreadable
    page = client.get("/ui/weapons", params={"serial": misread, "fuzzy": "true"}).text
    results = page[page.index('data-testid="results"') :]
    assert serial in results
    assert "Ranked candidates" in page
    assert "matched" in results  # each candidate says why it matched


def test_a_browser_session_opens_no_api_route(sign_in: SignIn) -> None:
    client = sign_in("record_officer")
    token = client.cookies.get("iti_session")
    assert client.get("/api/v1/weapons").status_code == 401  # the cookie alone: no CSRF-able API
    assert client.get("/api/v1/weapons", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_language_follows_the_browser_then_the_users_choice(sign_in: SignIn) -> None:
    client = sign_in("record_officer")
    page = client.get("/ui/", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert '<html lang="ru" dir="ltr">' in page.text
    assert page.headers["content-language"] == "ru"
    r = client.get("/ui/language", params={"lang": "ar", "next": "/ui/weapons"})
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/weapons"
    page = client.get("/ui/weapons", headers={"Accept-Language": "ru"})  # the choice beats the browser
    assert '<html lang="ar" dir="rtl">' in page.text
    assert (
        client.get("/ui/language", params={"lang": "xx", "next": "https://evil.example"}).headers["location"]
        == "/ui/"
    )


def test_a_sale_to_a_dealer_names_the_dealer_as_officers_know_it(sign_in: SignIn, session: Session) -> None:
    from registry.codes import OrgKind
    from registry.organisations import service as orgs

    dealer = orgs.create_organisation(
        session,
        actor="t",
        name="Rift Valley Guns",
        kind=OrgKind.DEALER,
        country="KE",
        registration_number="D-77",
    )
    session.flush()
    client = sign_in("record_officer")
    url = register(client, unique_serial()).headers["location"].split("?")[0]
    csrf = csrf_of(client.get(url + "/events/new").text)
    r = client.post(
        url + "/events/new", data={"csrf_token": csrf, "type": "transferred", "to_org": "Nobody Ltd"}
    )
    assert r.status_code == 422
    assert 'data-field="to_org"' in r.text
    r = client.post(url + "/events/new", data={"csrf_token": csrf, "type": "transferred", "to_org": "D-77"})
    assert r.status_code == 303, r.text
    page = client.get(url).text
    assert "to Rift Valley Guns" in page
    assert dealer.name in page


def test_an_unavailable_database_is_a_503_page_with_retry_after() -> None:
    import dataclasses

    from api.app import create_app
    from registry.config import get_settings

    settings = dataclasses.replace(
        get_settings(), database_url="postgresql+psycopg://postgres@127.0.0.1:1/none"
    )
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        assert client.get("/ui/login").status_code == 200  # needs no database
        r = client.post("/ui/login", data={"username": "someone", "password": PASSWORD})
    assert r.status_code == 503
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["retry-after"]
    assert "Nothing was recorded" in r.text


def test_weapon_categories_read_as_names_in_the_users_language(sign_in: SignIn) -> None:
    client = sign_in("record_officer")
    serial = unique_serial()
    register(client, serial)  # a self-loading pistol, SA-PIS
    fr = {"Accept-Language": "fr"}
    found = client.get("/ui/weapons", params={"serial": serial}, headers=fr).text
    assert '<td title="SA-PIS">Pistolet à chargement automatique</td>' in found  # not the bare code
    assert ">SA-PIS — Pistolet à chargement automatique</option>" in found  # the filter keeps the code
    form = client.get("/ui/weapons/new", headers={"Accept-Language": "zh"}).text
    assert "SA-PIS — 自动装填手枪" in form
    english = client.get("/ui/weapons", params={"serial": serial}).text
    assert '<td title="SA-PIS">Self-loading pistol</td>' in english
