"""Documents, exports and charts: the national report, the formal answer to a trace request and a weapon's
record sheet as PDF; CSV/XLSX of a weapon search and of the trace statistics; SVG charts. Each route
translates HTTP to one `reports` call.

Permissions: the national report and the charts need `audit.read` (aggregate figures for the two-yearly report,
which the national point of contact files; record officers and auditors hold it too); exports need `export`;
a trace answer needs `trace.read` (and is audited as a view); a record sheet needs `weapon.read`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.auth import require
from api.db import DbSession, ReadSession
from api.errors import problem_responses
from api.reports.responses import pdf_response, spreadsheet_response, svg_response
from api.reports.schemas import PDF, SPREADSHEETS, SVG, LangQuery
from registry.codes import Status
from registry.users.roles import Permission
from registry.users.service import Principal
from reports import charts, exports
from reports.i18n import negotiate
from reports.national import national_report_pdf
from reports.trace_answer import trace_answer_pdf
from reports.weapon_sheet import weapon_sheet_pdf

router = APIRouter(tags=["reports"])

Reporter = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]
Exporter = Annotated[Principal, Depends(require(Permission.EXPORT))]
TraceReader = Annotated[Principal, Depends(require(Permission.TRACE_READ))]
WeaponReader = Annotated[Principal, Depends(require(Permission.WEAPON_READ))]
ERRORS = problem_responses(401, 403, 404, 409, 422)


def _language(request: Request, lang: str | None) -> str:
    return lang or negotiate(request.headers.get("accept-language"))


@router.get(
    "/api/v1/reports/national",
    summary="The ITI sections of the national report for a period (PDF)",
    description="Marking, record-keeping and cooperation in tracing, with the quantitative tracing data and "
    "SDG indicator 16.4.2 per year, laid out as questions and answers (docs/reports.md).",
    response_class=Response,
    responses={200: {"content": PDF}, **problem_responses(401, 403, 422)},
)
def national_report(
    request: Request,
    session: ReadSession,
    who: Reporter,
    since: Annotated[date, Query(alias="from", description="First day of the period")],
    until: Annotated[date, Query(alias="to", description="Last day of the period (inclusive)")],
    lang: LangQuery = None,
) -> Response:
    language = _language(request, lang)
    data = national_report_pdf(session, since=since, until=until, lang=language)
    return pdf_response(data, f"iti-national-report-{since}_{until}-{language}.pdf", language)


@router.get(
    "/api/v1/reports/charts/{name}.svg",
    summary="One chart as SVG: traces per month, time to answer, weapons by status or category, SDG 16.4.2",
    response_class=Response,
    responses={200: {"content": SVG}, **problem_responses(401, 403, 422)},
)
def chart(
    request: Request,
    name: charts.Chart,
    session: ReadSession,
    who: Reporter,
    since: Annotated[date | None, Query(alias="from")] = None,
    until: Annotated[date | None, Query(alias="to")] = None,
    lang: LangQuery = None,
) -> Response:
    language = _language(request, lang)
    svg = charts.chart_svg(session, name, lang=language, since=since, until=until)
    return svg_response(svg, language)


@router.get(
    "/api/v1/traces/{request_id}/answer.pdf",
    summary="The formal answer to a trace request, with its use restriction on every page, for a declared "
    "purpose (PDF; audited)",
    response_class=Response,
    responses={200: {"content": PDF}, **ERRORS},
)
def trace_answer(
    request: Request,
    request_id: uuid.UUID,
    session: DbSession,
    who: TraceReader,
    purpose: Annotated[
        str,
        Query(
            max_length=32,
            description="What the document is for (an intended-use code): the request's stated purpose, or "
            "another one after a delivered disclosure notice to the providing state (REQ-32)",
        ),
    ],
    recipient: Annotated[str | None, Query(max_length=200, description="Who it is disclosed to")] = None,
    lang: LangQuery = None,
) -> Response:
    language = _language(request, lang)
    data = trace_answer_pdf(
        session,
        request_id=request_id,
        actor=who.username,
        purpose=purpose,
        recipient=recipient,
        lang=language,
    )
    return pdf_response(data, f"trace-answer-{request_id}-{language}.pdf", language)


@router.get(
    "/api/v1/weapons/{weapon_id}/sheet.pdf",
    summary="A weapon's record sheet: marks, history, the Data Matrix of its unique mark, the record's QR",
    response_class=Response,
    responses={200: {"content": PDF}, **problem_responses(401, 403, 404, 422)},
)
def weapon_sheet(
    request: Request, weapon_id: uuid.UUID, session: ReadSession, who: WeaponReader, lang: LangQuery = None
) -> Response:
    language = _language(request, lang)
    url = f"{request.base_url}ui/weapons/{weapon_id}"  # the QR on the sheet opens the record's page
    data = weapon_sheet_pdf(session, weapon_id=weapon_id, lang=language, record_url=url)
    return pdf_response(data, f"weapon-{weapon_id}-{language}.pdf", language)


@router.get(
    "/api/v1/weapons/export.{fmt}",
    summary="A weapon search as CSV or XLSX (the filters of GET /api/v1/weapons, every page)",
    description="Cells that a spreadsheet would read as a formula (starting with = + - @) are prefixed with "
    "an apostrophe. CSV is UTF-8 with a byte-order mark.",
    response_class=StreamingResponse,
    responses={200: {"content": SPREADSHEETS}, **problem_responses(401, 403, 422)},
)
def export_weapons(
    fmt: exports.Format,
    session: ReadSession,
    who: Exporter,
    serial: Annotated[str | None, Query(max_length=300, description="Serial or mark text")] = None,
    fuzzy: bool = False,
    make: Annotated[str | None, Query(max_length=200)] = None,
    model: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=60)] = None,
) -> StreamingResponse:
    filters = exports.WeaponFilters(
        serial=serial, fuzzy=fuzzy, make=make, model=model, status=status_.value if status_ else None,
        category=category,
    )  # fmt: skip
    # Read before the response starts: a bad filter is a 422 problem, not a broken download, and the rows
    # do not outlive the request's session (exports stop at 100 000 weapons; `iti export` has no limit).
    rows = list(exports.weapon_rows(session, filters))
    return spreadsheet_response(fmt, rows, "weapons")


@router.get(
    "/api/v1/traces/stats/export.{fmt}",
    summary="The trace statistics and SDG 16.4.2 as CSV or XLSX (section, item, value)",
    response_class=StreamingResponse,
    responses={200: {"content": SPREADSHEETS}, **problem_responses(401, 403, 422)},
)
def export_trace_stats(
    fmt: exports.Format,
    session: ReadSession,
    who: Exporter,
    year: Annotated[int | None, Query(ge=1990, le=2200)] = None,
) -> StreamingResponse:
    rows = list(exports.stats_rows(session, year=year))
    return spreadsheet_response(fmt, rows, "trace-statistics")
