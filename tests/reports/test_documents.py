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
STATED = "criminal_investigation"  # the scenario's requests' intended use (REQ-32)
PERIOD = {"since": date(LAST_YEAR, 1, 1), "until": date(THIS_YEAR, 12, 31)}


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


def test_trace_answer_states_the_reply_chain_and_use_limit_on_every_page(
    session: Session, scenario: Scenario
) -> None:
    assert scenario.answered is not None
    data = trace_answer_pdf(session, purpose=STATED, request_id=scenario.answered, actor="poc-1", lang="en")
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
    text = pdf_text(
        trace_answer_pdf(session, purpose=STATED, request_id=scenario.refused, actor="poc-1", lang="en")
    )
    assert "UG/2026/8" in text
    assert "refused" in text
    assert "Grounds (ITI paragraph 22)" in text
    assert "ongoing investigation — providing it would compromise an ongoing criminal investigation" in text
    assert "A national investigation of the same network is under way." in text


def test_no_document_before_a_reply_or_for_an_unknown_request(session: Session, scenario: Scenario) -> None:
    assert scenario.outgoing is not None
    with pytest.raises(Conflict) as err:
        trace_answer_pdf(session, purpose=STATED, request_id=scenario.outgoing, actor="poc-1")
    assert err.value.field == "state"
    with pytest.raises(TraceNotFound):
        trace_answer_pdf(session, purpose=STATED, request_id=scenario.weapons[0], actor="poc-1")
    with pytest.raises(ValidationError) as bad:
        trace_answer_pdf(session, purpose=STATED, request_id=scenario.refused, actor="poc-1", lang="de")  # type: ignore[arg-type]
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


def test_national_report_follows_the_template_questions(session: Session, scenario: Scenario) -> None:
    """The UNODA template's questions, numbered as the template numbers them, each with the register's
    figures for the period under it (three imported pistols: a manufacture and an import mark each)."""
    text = " ".join(pdf_text(national_report_pdf(session, lang="en", **PERIOD)).split())
    order = [
        "3.2 Does your country require that SALW be marked at the time of manufacture?",
        "Marks applied at manufacture during the period (ITI 8(a)) 3",
        "3.2.1 What information is included in the marking?",
        "Name of the manufacturer 3 Country of manufacture 3 Serial number 3 Year of manufacture 3",
        "3.2.2 What part of the SALW is marked? frame 3",
        "UNODA template, 2016 and 2018 editions — section 3, International transfers",
        "5.10 Does your country require that SALW imported into your country be marked at the time of import?",
        "Marks applied on import during the period (ITI 8(b)) 3",
        "5.10.2 What information is included in the marking on import? Country of import 3 Year of import 3",
        "ITI 9 How many recovered weapons are still waiting for a unique mark or destruction (ITI 9)? 1",
        "3.3 Does your country require that manufacturers keep records of their activities?",
        "3.3.2 How long must manufacturing records be kept? At least 30 years (jurisdiction profile: iti)",
        "5.11.2 How long must records of transfers be kept? At least 20 years (jurisdiction profile: iti)",
        "16.1 What records relating to SALW are kept by the State?",
        "UNODA template, 2010 edition — section 8, International tracing",
        "22 Does your country have procedures in place to trace SALW? Requests sent 1 Requests received 2",
        "22.5 Which government agency is responsible for responding to a tracing request from another "
        "country? PoC Kenya · poc@ke.example",
        "ITI 22 On which grounds were answers restricted or refused (ITI 22)? ongoing investigation 1",
        "16.4.2 Proportion of seized, found or surrendered arms",
    ]
    at = [text.find(item) for item in order]
    assert -1 not in at, [item for item, i in zip(order, at, strict=True) if i < 0]
    assert at == sorted(at)  # in the template's order


def test_national_report_template_questions_in_french(session: Session, scenario: Scenario) -> None:
    text = " ".join(pdf_text(national_report_pdf(session, lang="fr", **PERIOD)).split())
    # The template's own French wording (2018 edition) and the figures under it.
    assert (
        "3.2 Votre pays exige-t-il qu'un marquage soit appliqué sur les ALPC au moment de leur fabrication ?"
        in text
    )
    assert "Nom du fabricant 3" in text
    assert "Au moins 30 ans (profil de juridiction : iti)" in text
    assert "22.5 Quel service de l'État est chargé de répondre aux demandes de traçage" in text


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
    text = pdf_text(
        trace_answer_pdf(session, purpose=STATED, request_id=scenario.outgoing, actor="poc-1", lang="en")
    )
    assert "KE/CID/2026/0042" in text
    assert "restricted" in text
    assert "Replying point of contact PoC UG · poc@ug.example" in text
    assert "national security — national security reasons consistent with the Charter" in text
