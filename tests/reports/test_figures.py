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
    # What the period's marks record (template questions 3.2.1, 3.2.2, 5.10.2).
    assert f.manufacture_marks == {"marks": 3, "manufacturer": 3, "country": 3, "serial": 3, "year": 3}
    assert f.manufacture_components == {"frame": 3}
    assert (f.import_marks["marks"], f.import_marks["country"], f.import_marks["year"]) == (3, 3, 3)
    assert f.import_marks["manufacturer"] == 0  # an import mark names the importing state, not the maker
    assert (f.retention["manufacture_years"], f.retention["other_years"]) == (30, 20)  # the ITI profile
    # The same figures in the export rows.
    rows = {(s, i): v for s, i, v in f.rows()}
    assert rows[("sdg_16_4_2.period", "indicator")] == 0.5
    assert rows[("tracing", "received")] == 2
    assert rows[("marking", "manufacture_marks.year")] == 3
    assert rows[("record_keeping", "retention.manufacture_years")] == 30


def test_period_is_checked(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        national_figures(session, since=date(2026, 1, 1), until=date(2025, 1, 1))
    assert err.value.field == "to"
