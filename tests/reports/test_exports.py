"""CSV and XLSX exports of a weapon search and of the statistics; formula-like cells neutralised."""

from __future__ import annotations

import csv
import io

import openpyxl
from sqlalchemy.orm import Session

from registry.history.inputs import EventInput
from reports import exports
from reports.exports import Format, WeaponFilters, safe_cell
from tests.factories import record, register_weapon
from tests.reports.conftest import Scenario


def csv_rows(chunks: object) -> list[list[str]]:
    data = b"".join(chunks)  # type: ignore[call-overload]
    assert data.startswith("\ufeff".encode())  # spreadsheet programs read it as UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_safe_cell_neutralises_formulas_only() -> None:
    for evil in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(evil) == "'" + evil
    assert safe_cell("AB-123") == "AB-123"
    assert safe_cell(-5) == -5  # numbers stay numbers
    assert safe_cell(None) == ""
    assert safe_cell(True) == "true"


def test_weapon_search_export_csv_and_xlsx(session: Session, scenario: Scenario) -> None:
    evil = register_weapon(session)
    record(session, evil.weapon.id, EventInput(type="stolen", location="=cmd|' /C calc'!A0"))
    rows = csv_rows(exports.export(exports.weapon_rows(session, WeaponFilters(status="stolen")), Format.CSV))
    header, body = rows[0], rows[1:]
    assert header[:3] == ["id", "category", "make"]
    ids = {r[0] for r in body}
    assert {str(scenario.weapons[1]), str(evil.weapon.id)} <= ids
    assert all(r[header.index("status")] == "stolen" for r in body)
    location = next(r for r in body if r[0] == str(evil.weapon.id))[header.index("location")]
    assert location == "'=cmd|' /C calc'!A0"

    serial = scenario.serials[0]
    one = csv_rows(exports.export(exports.weapon_rows(session, WeaponFilters(serial=serial)), "csv"))
    assert [r[header.index("serial")] for r in one[1:]] == [serial]

    data = b"".join(exports.export(exports.weapon_rows(session, WeaponFilters(status="stolen")), "xlsx"))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert sheet is not None
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    cell = next(r for r in values if r[0] == str(evil.weapon.id))[header.index("location")]
    assert cell == "'=cmd|' /C calc'!A0"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no formula anywhere


def test_stats_export(session: Session, scenario: Scenario) -> None:
    rows = csv_rows(exports.export(exports.stats_rows(session), "csv"))
    table = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert rows[0] == ["section", "item", "value"]
    assert table[("traces", "received")] == "2"
    assert table[("traces", "refused_or_restricted_by_ground.ongoing_investigation")] == "1"
    assert table[("traces.partner.UG", "sent")] == "1"
    assert table[("sdg_16_4_2", "denominator")] == "2"
    assert table[("sdg_16_4_2", "indicator")] == "0.5"
