"""The document, export and chart routes over HTTP: status, media type, the figures inside, permissions and
problem+json for bad input. PDFs are drawn on SQLite only (the SQL behind them is tested on both backends in
tests/reports)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers
from tests.api.ui.conftest import SignIn
from tests.api.ui.conftest import sign_in as sign_in
from tests.hardware.decode import decode
from tests.reports.conftest import Scenario, build, pdf_text, render_page

PROBLEM = "application/problem+json"
YEAR = datetime.now(UTC).year


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@pytest.fixture
def scenario(session: Session, tmp_path: Path) -> Scenario:
    return build(session, tmp_path)


def test_national_report_for_the_poc_in_the_browser_language(
    client: TestClient, session: Session, scenario: Scenario
) -> None:
    poc = login_headers(session, "poc_officer")
    r = client.get(
        f"/api/v1/reports/national?from={YEAR - 1}-01-01&to={YEAR}-12-31",
        headers={**poc, "Accept-Language": "fr-CH, fr;q=0.9, en;q=0.5"},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-language"] == "fr"
    assert f"iti-national-report-{YEAR - 1}-01-01_{YEAR}-12-31-fr.pdf" in r.headers["content-disposition"]
    text = pdf_text(r.content)
    assert "Rapport national sur l'Instrument international de traçage" in text
    assert "Demandes reçues 2" in text


def test_national_report_bad_period_is_a_problem(client: TestClient, session: Session) -> None:
    officer = login_headers(session, "record_officer")
    r = client.get("/api/v1/reports/national?from=2026-01-01&to=2025-01-01", headers=officer)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert "to" in r.text
    assert client.get("/api/v1/reports/national?to=2025-01-01", headers=officer).status_code == 422
    r = client.get("/api/v1/reports/national?from=2025-01-01&to=2025-12-31&lang=de", headers=officer)
    assert r.status_code == 422


def test_trace_answer_pdf(client: TestClient, session: Session, scenario: Scenario) -> None:
    poc = login_headers(session, "poc_officer")
    r = client.get(
        f"/api/v1/traces/{scenario.answered}/answer.pdf?lang=ru&purpose=criminal_investigation", headers=poc
    )
    assert r.status_code == 200, r.text
    text = pdf_text(r.content)
    assert "Ответ на запрос об отслеживании UG/2026/7" in text
    assert scenario.serials[0] in text
    r = client.get(f"/api/v1/traces/{scenario.outgoing}/answer.pdf?purpose=prosecution", headers=poc)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    r = client.get(f"/api/v1/traces/{scenario.weapons[0]}/answer.pdf?purpose=prosecution", headers=poc)
    assert r.status_code == 404


def test_weapon_sheet_pdf_carries_the_record_url(
    client: TestClient, session: Session, scenario: Scenario
) -> None:
    operator = login_headers(session, "marking_operator")  # weapon.read is enough
    wid = scenario.weapons[0]
    r = client.get(f"/api/v1/weapons/{wid}/sheet.pdf", headers=operator)
    assert r.status_code == 200, r.text
    symbols = dict(decode(render_page(r.content, dpi=200)))
    assert symbols["QRCode"] == f"http://testserver/ui/weapons/{wid}".encode()
    assert scenario.serials[0].encode() in symbols["DataMatrix"]
    assert client.get(f"/api/v1/weapons/{scenario.answered}/sheet.pdf", headers=operator).status_code == 404


def test_weapon_export_csv_and_xlsx(client: TestClient, session: Session, scenario: Scenario) -> None:
    auditor = login_headers(session, "auditor")
    r = client.get("/api/v1/weapons/export.csv?status=recovered", headers=auditor)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row[0] for row in rows[1:]} == {str(scenario.weapons[2]), str(scenario.weapons[3])}
    r = client.get(f"/api/v1/weapons/export.xlsx?serial={scenario.serials[1]}", headers=auditor)
    assert r.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    assert sheet.cell(row=2, column=1).value == str(scenario.weapons[1])
    r = client.get("/api/v1/weapons/export.csv?serial=---", headers=auditor)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert client.get("/api/v1/weapons/export.pdf", headers=auditor).status_code == 422


def test_trace_stats_export_and_charts(client: TestClient, session: Session, scenario: Scenario) -> None:
    officer = login_headers(session, "record_officer")
    r = client.get("/api/v1/traces/stats/export.csv", headers=officer)
    assert r.status_code == 200, r.text
    table = {(row[0], row[1]): row[2] for row in csv.reader(io.StringIO(r.content.decode("utf-8-sig")))}
    assert table[("traces", "sent")] == "1"
    r = client.get("/api/v1/reports/charts/weapons-by-status.svg?lang=es", headers=officer)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert "robada" in r.text
    assert client.get("/api/v1/reports/charts/nothing.svg", headers=officer).status_code == 422
    for period in ("from=2025-01-01", "from=2025-01-01&to=9999-12-31", "from=2000-01-01&to=2025-12-31"):
        r = client.get(f"/api/v1/reports/charts/sdg-16-4-2.svg?{period}", headers=officer)
        assert r.status_code == 422, period  # half a period, a typo, more than ten years
        assert r.headers["content-type"] == PROBLEM


def test_reports_page_shows_charts_and_links_by_role(sign_in: SignIn, scenario: Scenario) -> None:
    auditor = sign_in("auditor")
    r = auditor.get("/ui/reports?since=2021-01-01&until=2030-12-31", headers={"Accept-Language": "fr"})
    assert r.status_code == 200, r.text
    html = r.text
    assert html.count("<svg") == 5
    assert 'data-chart="weapons-by-status"' in html
    assert "récupérée" in html  # a status label inside the chart, in the officer's language
    assert "Armes par statut" in html  # the chart's title, from the documents' catalog
    assert "Premier jour de la période" in html  # not "Expéditeur", the UI catalog's "From"
    assert "/ui/reports/national.pdf?since=2021-01-01&amp;until=2030-12-31&amp;lang=fr" in html
    assert 'data-testid="exports"' in html  # the auditor holds export
    assert 'action="/ui/reports/weapons.csv"' in html  # a filtered export, with the search's filters
    assert '<option value="SA-PIS">SA-PIS</option>' in html
    assert 'href="/ui/reports"' in html  # in the menu

    poc = sign_in("poc_officer")  # audit.read without export: the page, not the export links
    page = poc.get("/ui/reports").text
    assert "<svg" in page
    assert 'data-testid="exports"' not in page
    assert sign_in("marking_operator").get("/ui/reports").status_code == 403
    assert poc.get("/ui/reports/weapons.csv").status_code == 403  # no export
    national = poc.get("/ui/reports/national.pdf?since=2021-01-01&until=2030-12-31&lang=zh")
    assert national.headers["content-type"] == "application/pdf"
    assert "关于《国际追查文书》的国家报告" in pdf_text(national.content)
    csv_rows = auditor.get("/ui/reports/weapons.csv?status=stolen").content.decode("utf-8-sig").splitlines()
    assert len(csv_rows) == 2
    assert str(scenario.weapons[1]) in csv_rows[1]


def test_weapon_and_trace_pages_link_their_pdfs(sign_in: SignIn, scenario: Scenario) -> None:
    poc = sign_in("poc_officer")
    weapon = poc.get(f"/ui/weapons/{scenario.weapons[0]}").text
    sheet = f"/ui/reports/weapons/{scenario.weapons[0]}/sheet.pdf?lang=en"
    assert f'href="{sheet}"' in weapon
    trace = poc.get(f"/ui/traces/{scenario.answered}").text
    answer = f"/ui/reports/traces/{scenario.answered}/answer.pdf"
    assert f'action="{answer}"' in trace  # a form: the document declares its purpose (REQ-32)
    answer += "?lang=en&purpose=criminal_investigation"
    # The links open with the browser session, in the page's language.
    r = poc.get(answer)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert "UG/2026/7" in pdf_text(r.content)
    r = poc.get(sheet)
    assert r.status_code == 200
    assert scenario.serials[0] in pdf_text(r.content)
    assert poc.get(f"/ui/reports/weapons/{scenario.answered}/sheet.pdf").status_code == 404
    assert sign_in("record_officer").get(answer).status_code == 403  # no trace.read
