"""The reports page and the downloads behind the UI's links: the charts inline (SVG, labels in the officer's
language), the national report for a period in a chosen UN language, a weapon's record sheet, the formal
answer to a trace request, and the CSV/XLSX exports — all under `/ui/reports`, with the browser session
(the JSON API takes bearer tokens and API keys only).

The page needs `audit.read`, as the national report and charts do in the API (the point of contact files the
two-yearly report); each download needs the permission its API route needs, and the export links show only
to roles that hold `export`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.db import DbSession
from api.reports.responses import pdf_response, spreadsheet_response
from api.ui import i18n
from api.ui.session import page_requires
from api.ui.templating import render
from registry.codes import Status
from registry.db import utcnow
from registry.errors import ValidationError
from registry.reference.service import load_catalogue
from registry.users.roles import Permission
from registry.users.service import Principal
from reports import charts, exports
from reports.i18n import Lang
from reports.national import PERIOD_LABELS, check_period, national_report_pdf
from reports.trace_answer import trace_answer_pdf
from reports.weapon_sheet import weapon_sheet_pdf

router = APIRouter(prefix="/ui/reports", include_in_schema=False)
Reporter = Annotated[Principal, Depends(page_requires(Permission.AUDIT_READ))]
Exporter = Annotated[Principal, Depends(page_requires(Permission.EXPORT))]
TraceReader = Annotated[Principal, Depends(page_requires(Permission.TRACE_READ))]
WeaponReader = Annotated[Principal, Depends(page_requires(Permission.WEAPON_READ))]


def _day(value: str, default: date) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return default


def _default_period() -> tuple[date, date]:
    today = utcnow().date()
    return date(today.year - 1, 1, 1), today


def _dates(since: str, until: str) -> tuple[date, date]:
    first, last = _default_period()
    return _day(since, first), _day(until, last)


def _period(since: str, until: str) -> tuple[date, date]:
    """The page's period: as asked, or last year and this one to date when it is not a report period."""
    start, end = _dates(since, until)
    try:
        check_period(start, end)
    except ValidationError:
        return _default_period()
    return start, end


def _lang(lang: str) -> str:
    return lang if lang in i18n.LANGUAGES else i18n.current()


@router.get("", response_class=HTMLResponse)
def index(
    request: Request, session: DbSession, who: Reporter, since: str = "", until: str = "", lang: str = ""
) -> Response:
    start, end = _period(since, until)
    ui_lang = i18n.current()
    words = Lang(ui_lang)  # chart titles and labels come from the documents' catalogs (reports/locale)
    svgs = [
        (
            words.gettext(charts.TITLES[c]),
            c.value,
            charts.chart_svg(session, c, lang=ui_lang, since=start, until=end),
        )
        for c in (charts.Chart.TRACES_PER_MONTH, charts.Chart.TIME_TO_ANSWER, charts.Chart.SDG_16_4_2)
    ] + [
        (words.gettext(charts.TITLES[c]), c.value, charts.chart_svg(session, c, lang=ui_lang))
        for c in (charts.Chart.WEAPONS_BY_STATUS, charts.Chart.WEAPONS_BY_CATEGORY)
    ]
    ctx = {
        "since": start,
        "until": end,
        "doc_lang": _lang(lang),
        "charts": svgs,
        # "From"/"To" in the UI's catalog mean sender and recipient; the documents' catalog has the words.
        "period_labels": [words.gettext(label) for label in PERIOD_LABELS],
        "statuses": [st.value for st in Status],
        "categories": sorted(load_catalogue(session).categories),
    }
    return render(request, "reports/index.html", ctx)


@router.get("/national.pdf")
def national(session: DbSession, who: Reporter, since: str = "", until: str = "", lang: str = "") -> Response:
    start, end = _dates(since, until)  # a wrong period is refused by name, never silently replaced
    language = _lang(lang)
    data = national_report_pdf(session, since=start, until=end, lang=language)
    return pdf_response(data, f"iti-national-report-{start}_{end}-{language}.pdf", language)


@router.get("/weapons/{weapon_id}/sheet.pdf")
def weapon_sheet(
    request: Request, weapon_id: uuid.UUID, session: DbSession, who: WeaponReader, lang: str = ""
) -> Response:
    language = _lang(lang)
    url = f"{request.base_url}ui/weapons/{weapon_id}"
    data = weapon_sheet_pdf(session, weapon_id=weapon_id, lang=language, record_url=url)
    return pdf_response(data, f"weapon-{weapon_id}-{language}.pdf", language)


@router.get("/traces/{request_id}/answer.pdf")
def trace_answer(
    request_id: uuid.UUID,
    session: DbSession,
    who: TraceReader,
    lang: str = "",
    purpose: str = "",
    recipient: str = "",
) -> Response:
    """The trace page's form declares the purpose and recipient; the service checks them (REQ-32)."""
    language = _lang(lang)
    data = trace_answer_pdf(
        session,
        request_id=request_id,
        actor=who.username,
        purpose=purpose,
        recipient=recipient or None,
        lang=language,
    )
    return pdf_response(data, f"trace-answer-{request_id}-{language}.pdf", language)


@router.get("/weapons.{fmt}")
def export_weapons(
    fmt: exports.Format,
    session: DbSession,
    who: Exporter,
    serial: str = "",
    fuzzy: bool = False,
    make: str = "",
    status: str = "",
    category: str = "",
) -> Response:
    filters = exports.WeaponFilters(
        serial=serial.strip()[:300] or None,
        fuzzy=fuzzy,
        make=make.strip()[:200] or None,
        status=status if status in {s.value for s in Status} else None,
        category=category.strip()[:60] or None,
    )
    return spreadsheet_response(fmt, list(exports.weapon_rows(session, filters)), "weapons")


@router.get("/trace-statistics.{fmt}")
def export_trace_stats(fmt: exports.Format, session: DbSession, who: Exporter) -> Response:
    return spreadsheet_response(fmt, list(exports.stats_rows(session)), "trace-statistics")
