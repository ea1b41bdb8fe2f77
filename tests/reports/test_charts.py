"""The data behind each chart, and the SVG it draws: well-formed, text kept as text (for shaping), labels in
the requested language, the same SVG for the same data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from sqlalchemy.orm import Session

from reports import charts
from reports.i18n import Lang
from tests.reports.conftest import LAST_YEAR, THIS_YEAR, Scenario

SVG = "{http://www.w3.org/2000/svg}"


def texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314 - SVG we generated ourselves, in a test
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_chart_data(session: Session, scenario: Scenario) -> None:
    months = charts.traces_per_month(session)
    assert sum(v["sent"] for v in months.values()) == 1
    assert sum(v["received"] for v in months.values()) == 2
    year = charts.traces_per_month(session, since=date(THIS_YEAR, 1, 1), until=date(THIS_YEAR, 12, 31))
    assert len(year) == 12  # every month present, gaps as zero
    assert len(charts.answer_days(session)) == 2  # the answer and the refusal
    assert charts.weapons_by_status(session) == {"recovered": 2, "active": 1, "stolen": 1}
    assert charts.weapons_by_category(session) == {"SA-PIS": 3, "SA-ASR": 1}
    sdg = charts.sdg_by_year(session)
    assert sdg[LAST_YEAR]["indicator"] == 1.0
    assert sdg[THIS_YEAR]["indicator"] == 0.0


def test_svgs_are_translated_text(session: Session, scenario: Scenario) -> None:
    by_status = charts.chart_svg(session, charts.Chart.WEAPONS_BY_STATUS, lang="fr")
    assert {"récupérée", "active", "volée"} <= set(texts(by_status))
    by_category = charts.chart_svg(session, "weapons-by-category", lang="ar")
    assert "مسدس ذاتي التلقيم" in texts(by_category)  # self-loading pistol, shaped by whoever draws it
    months = charts.chart_svg(session, charts.Chart.TRACES_PER_MONTH, lang="es")
    assert {"enviadas", "recibidas"} <= set(texts(months))
    assert "100.0%" in texts(charts.chart_svg(session, charts.Chart.SDG_16_4_2, lang="en"))
    again = charts.chart_svg(session, charts.Chart.WEAPONS_BY_STATUS, lang="fr")
    assert again == by_status


def test_empty_registry_says_so(session: Session) -> None:
    svg = charts.draw_time_to_answer([], Lang("ru"))
    assert "Нет данных за этот период" in texts(svg)
