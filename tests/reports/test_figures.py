"""The figures behind the documents, exports and charts, on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.orm import Session

from registry.errors import ValidationError
from reports.national import national_figures
from tests.reports.conftest import LAST_YEAR, THIS_YEAR, Scenario

PERIOD = {"since": date(LAST_YEAR, 1, 1), "until": date(THIS_YEAR, 12, 31)}


def test_national_report_figures(session: Session, scenario: Scenario) -> None:
    f = national_figures(session, **PERIOD)
    assert (f.traces["sent"], f.traces["received"], f.traces["answered"], f.traces["refused"]) == (1, 2, 1, 1)
    assert f.traces["refused_or_restricted_by_ground"] == {"ongoing_investigation": 1}
    assert f.per_partner["UG"]["received"] == 2
    assert f.sdg_by_year[LAST_YEAR]["indicator"] == 1.0  # the seizure, origin established by other means
    assert f.sdg_by_year[THIS_YEAR]["indicator"] == 0.0  # the weapon found unmarked, origin pending
    assert (f.sdg_total["established"], f.sdg_total["denominator"], f.sdg_total["indicator"]) == (1, 2, 0.5)
    assert f.weapons_on_record == 4
    assert f.pending_marking == 1
    assert f.events_by_type["stolen"] == 1
    assert f.marks_by_kind["manufacture"] == 3
    assert f.marks_by_kind["import"] == 3
    # The same figures in the export rows.
    rows = {(s, i): v for s, i, v in f.rows()}
    assert rows[("sdg_16_4_2.period", "indicator")] == 0.5
    assert rows[("tracing", "received")] == 2


def test_period_is_checked(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        national_figures(session, since=date(2026, 1, 1), until=date(2025, 1, 1))
    assert err.value.field == "to"
