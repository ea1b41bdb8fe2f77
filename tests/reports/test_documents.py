"""The PDFs as a reader gets them: their text extracted (pypdf) and their pages drawn (pypdfium2), the
figures checked against the scenario, the unique mark's Data Matrix decoded from the drawn page.

Drawing does not depend on the database, so these run on SQLite only (PDFs take time); the SQL behind every
figure runs on both backends in test_figures.py."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from registry.errors import Conflict, NotFound, ValidationError
from reports.national import national_report_pdf
from reports.trace_answer import trace_answer_pdf
from reports.weapon_sheet import weapon_sheet_pdf
from tests.hardware.decode import decode
from tests.reports.conftest import LAST_YEAR, THIS_YEAR, Scenario, ink, pdf_pages, pdf_text, render_page
from tests.tracing.requests.conftest import inbound_message
from tracing.requests import service as traces
from tracing.requests.errors import TraceNotFound

ARABIC = re.compile("[\u0600-\u06ff]")
CJK = re.compile("[\u4e00-\u9fff]")
PERIOD = {"since": date(LAST_YEAR, 1, 1), "until": date(THIS_YEAR, 12, 31)}


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_trace_answer_states_the_reply_chain_and_use_limit_on_every_page(
    session: Session, scenario: Scenario
) -> None:
    assert scenario.answered is not None
    data = trace_answer_pdf(session, request_id=scenario.answered, actor="poc-1", lang="en")
    pages = pdf_pages(data)
    text = "\n".join(pages)
    assert "Reply to tracing request UG/2026/7" in text
    assert "Uganda (UG)" in text
    assert "Kenya (KE)" in text
    assert "answered · full" in text
    assert scenario.serials[0] in text  # the supply chain's serial, from our record
    assert "AT → KE" in text
    assert "PoC Kenya · poc@ke.example" in text
    assert "PoC Uganda" in text
    for page in pages:  # the intended-use restriction is printed on every page (ITI 23)
        assert "RESTRICTED · for criminal investigation only" in page
    assert ink(render_page(data)) > 0.01
    entry = (
        session.execute(
            select(AuditEntry).where(AuditEntry.action == "trace.document").order_by(AuditEntry.seq.desc())
        )
        .scalars()
        .first()
    )
    assert entry is not None
    assert entry.subject == f"trace:{scenario.answered}"
    assert entry.actor == "poc-1"


def test_refusal_gives_reason_and_iti_22_ground(session: Session, scenario: Scenario) -> None:
    assert scenario.refused is not None
    text = pdf_text(trace_answer_pdf(session, request_id=scenario.refused, actor="poc-1", lang="en"))
    assert "UG/2026/8" in text
    assert "refused" in text
    assert "Grounds (ITI paragraph 22)" in text
    assert "ongoing investigation — providing it would compromise an ongoing criminal investigation" in text
    assert "A national investigation of the same network is under way." in text


def test_no_document_before_a_reply_or_for_an_unknown_request(session: Session, scenario: Scenario) -> None:
    assert scenario.outgoing is not None
    with pytest.raises(Conflict) as err:
        trace_answer_pdf(session, request_id=scenario.outgoing, actor="poc-1")
    assert err.value.field == "state"
    with pytest.raises(TraceNotFound):
        trace_answer_pdf(session, request_id=scenario.weapons[0], actor="poc-1")
    with pytest.raises(ValidationError) as bad:
        trace_answer_pdf(session, request_id=scenario.refused, actor="poc-1", lang="de")  # type: ignore[arg-type]
    assert bad.value.field == "lang"


def test_record_sheet_data_matrix_decodes_to_the_unique_mark(session: Session, scenario: Scenario) -> None:
    url = f"https://registry.example/ui/weapons/{scenario.weapons[0]}"
    data = weapon_sheet_pdf(session, weapon_id=scenario.weapons[0], lang="zh", record_url=url)
    text = pdf_text(data)
    serial = scenario.serials[0]
    assert serial in text
    assert CJK.search(text), "the Chinese labels are in the text layer"
    assert "武器记录单" in text
    symbols = dict(decode(render_page(data, dpi=200)))
    expected = f"\x1e06\x1dVGLOCK\x1d1P17\x1dS{serial}\x1d4LAT\x1d23D2020\x1e\x04"
    assert symbols["DataMatrix"] == ("[)>" + expected).encode()
    assert symbols["QRCode"] == url.encode()


def test_record_sheet_of_unmarked_weapon_says_why_there_is_no_code(
    session: Session, scenario: Scenario
) -> None:
    data = weapon_sheet_pdf(session, weapon_id=scenario.weapons[3], lang="en")
    text = pdf_text(data)
    assert "No Data Matrix:" in text
    assert "waiting for a unique mark" in text
    assert "DataMatrix" not in dict(decode(render_page(data, dpi=150)))
    with pytest.raises(NotFound):
        weapon_sheet_pdf(session, weapon_id=scenario.answered, lang="en")  # type: ignore[arg-type]


def test_national_report_pdf_in_english_shows_the_figures(session: Session, scenario: Scenario) -> None:
    data = national_report_pdf(session, lang="en", **PERIOD)
    text = pdf_text(data)
    assert "I. Marking (ITI paragraphs 7 to 10)" in text
    assert "III. Cooperation in tracing (ITI paragraphs 14 to 23)" in text
    assert "Requests sent 1" in text
    assert "Requests received 2" in text
    assert "Refused 1" in text
    assert f"{LAST_YEAR} 1 0 0 1 100.0%" in text
    assert "Period 1 1 0 1 50.0%" in text
    assert "Uganda (UG) 1 2 1 1" in text
    assert all(ink(render_page(data, i, dpi=50)) > 0.01 for i in range(len(pdf_pages(data))))


def test_national_report_in_arabic_is_arabic_and_draws(session: Session, scenario: Scenario) -> None:
    data = national_report_pdf(session, lang="ar", **PERIOD)
    text = pdf_text(data)
    assert ARABIC.search(text)
    assert "التقرير الوطني عن الصك الدولي للتعقب" in text
    assert "أوغندا" in text  # Uganda, named in Arabic
    # Chart labels are shaped text too (HTML bars, not SVG text, which the PDF renderer would reverse).
    assert "مسترد" in text  # recovered
    assert "مسدس ذاتي التلقيم" in text  # self-loading pistol
    assert "50.0" in text  # the period's indicator
    page = render_page(data)
    assert ink(page) > 0.01
    # Right to left: the first heading's ink sits against the right margin.
    width = page.width
    box = page.point(lambda v: 255 if v > 128 else 0).crop(
        (0, int(page.height * 0.08), width, int(page.height * 0.16))
    )
    left, _top, right, _bottom = box.point(lambda v: 255 - v).getbbox() or (0, 0, 0, 0)
    assert width - right < left, (left, right, width)


def test_answer_received_names_the_requested_states_poc(session: Session, scenario: Scenario) -> None:
    assert scenario.outgoing is not None
    body = {"request_id": str(scenario.outgoing), "outcome": "restricted", "grounds": ["national_security"],
            "reason": "Stock of the armed forces.", "weapon_found": False}  # fmt: skip
    traces.on_response(session, inbound_message("trace.response", body, sender="UG"))
    text = pdf_text(trace_answer_pdf(session, request_id=scenario.outgoing, actor="poc-1", lang="en"))
    assert "KE/CID/2026/0042" in text
    assert "restricted" in text
    assert "Replying point of contact PoC UG · poc@ug.example" in text
    assert "national security — national security reasons consistent with the Charter" in text
