"""Bulk import (CSV and JSON Lines) and export: all or nothing by default, every bad row reported with its line
and column, custody of a closed company's records, and a faithful export (REQ-18, REQ-21, REQ-23).

The service runs inside the test session; the edge's rollback of a refused import is played by a SAVEPOINT
(`session.begin_nested()`), which rolls back when `ImportRejected` leaves it.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.audit import canonical
from registry.audit.checker import verify
from registry.audit.models import AuditEntry
from registry.errors import ImportRejected
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.imports import export as exporter
from registry.imports.models import ImportJob
from registry.imports.service import ImportResult, import_file
from registry.markings.models import Marking
from registry.organisations import service as organisations
from registry.profiles import ITI
from registry.weapons.models import Weapon, WeaponState
from tests.factories import ACTOR, HOME, record, register_weapon, unique_serial

COLUMNS = [
    "category",
    "make",
    "model",
    "calibre",
    "serial",
    "country_of_manufacture",
    "year_of_manufacture",
    "event_type",
    "import_country",
]


def row(serial: str | None, **overrides: str) -> dict[str, str]:
    values = {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9x19",
        "serial": serial or "",
        "country_of_manufacture": "AT",
        "year_of_manufacture": "2020",
        "event_type": "",
        "import_country": "",
    }
    values.update(overrides)
    return values


def write_csv(path: Path, rows: list[dict[str, str] | str]) -> Path:
    """Rows are dicts, or raw text lines for rows the csv module would not write (too many values)."""
    lines = [",".join(COLUMNS)]
    for r in rows:
        lines.append(r if isinstance(r, str) else ",".join(r[c] for c in COLUMNS))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_bytes(
        b"".join((ln.encode() if isinstance(ln, str) else orjson.dumps(ln)) + b"\n" for ln in lines)
    )
    return path


def run_import(session: Session, path: Path, **kwargs: Any) -> ImportResult:
    kwargs.setdefault("profile", ITI)
    kwargs.setdefault("home_country", HOME)
    return import_file(session, actor=ACTOR, path=path, **kwargs)


def counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in (Weapon, WeaponState, Marking, Event, AuditEntry, ImportJob)
    }


def weapon_by_serial(session: Session, serial: str) -> Weapon:
    return session.execute(select(Weapon).where(Weapon.serial == serial)).scalar_one()


def events_of(session: Session, weapon_id: Any) -> list[Event]:
    return list(
        session.execute(select(Event).where(Event.weapon_id == weapon_id).order_by(Event.seq)).scalars()
    )


# --- clean files ------------------------------------------------------------------------------------------


def test_clean_csv_imports_every_row_and_the_audit_log_verifies(session: Session, tmp_path: Path) -> None:
    serials = [unique_serial() for _ in range(3)]
    path = write_csv(
        tmp_path / "clean.csv",
        [
            row(serials[0]),
            row(serials[1], model="19"),
            row(serials[2], event_type="imported", import_country="KE"),
        ],
    )
    before = counts(session)

    result = run_import(session, path, batch_size=2)  # two batches

    assert (result.rows, result.imported, result.rejects) == (3, 3, [])
    after = counts(session)
    assert after["weapons"] - before["weapons"] == 3
    assert after["weapon_states"] - before["weapon_states"] == 3
    assert after["events"] - before["events"] == 3
    assert after["markings"] - before["markings"] == 4  # three manufacture marks and one import mark
    imported = weapon_by_serial(session, serials[2])
    assert (imported.manufacturer_code, imported.country_of_manufacture) == ("GLOCK", "AT")
    assert imported.import_job_id == result.job_id
    assert [e.type for e in events_of(session, imported.id)] == ["imported"]
    job = session.get(ImportJob, result.job_id)
    assert job is not None
    assert (job.rows_total, job.rows_imported, job.rows_rejected) == (3, 3, 0)
    assert job.finished_at is not None
    actions = session.execute(
        select(AuditEntry.action).where(AuditEntry.seq >= after["audit_entries"] - 4).order_by(AuditEntry.seq)
    ).scalars()
    assert list(actions) == ["weapon.imported"] * 3 + ["import.finished"]
    report = verify(session)
    assert report.ok, report.first


# --- bad files --------------------------------------------------------------------------------------------

# (line, field, words in the reason) for every bad row of `bad_csv`; the header is line 1.
EXPECTED_REJECTS = [
    (3, "category", "SA-XXX"),
    (5, "country_of_manufacture", "QQ"),
    (6, "serial", "unique mark"),
    (7, "year_of_manufacture", "whole number"),
    (8, "serial", "already registered"),
    (9, "serial", "twice"),
    (10, "row", "more values"),
    (12, "country_of_manufacture", "country of manufacture"),
]


@pytest.fixture
def bad_csv(session: Session, tmp_path: Path) -> tuple[Path, list[str]]:
    """Eight bad rows among three good ones; line 8 repeats a weapon registered before the import."""
    registered = unique_serial()
    register_weapon(session, manufactured=True, serial=registered)
    good = [unique_serial() for _ in range(3)]
    path = write_csv(
        tmp_path / "bad.csv",
        [
            row(good[0]),  # line 2
            row(unique_serial(), category="SA-XXX"),
            row(good[1]),
            row(unique_serial(), country_of_manufacture="QQ"),
            row(None),  # a manufactured weapon without its serial
            row(unique_serial(), year_of_manufacture="19x5"),
            row(registered),
            row(good[0]),  # the same weapon as line 2
            ",".join(row(unique_serial()).values()) + ",surplus",
            row(good[2]),  # line 11
            row(unique_serial(), make="Zorkmid", country_of_manufacture=""),  # a maker with no known country
        ],
    )
    return path, good


def test_bad_rows_are_all_reported_and_nothing_is_written(
    session: Session, bad_csv: tuple[Path, list[str]]
) -> None:
    path, good = bad_csv
    before = counts(session)

    # batch_size=1: the first good row is written before the first bad one is read, so the rollback matters.
    with pytest.raises(ImportRejected) as refused, session.begin_nested():
        run_import(session, path, batch_size=1)

    rejects = refused.value.rejects
    assert [(r["line"], r["field"]) for r in rejects] == [(line, fld) for line, fld, _ in EXPECTED_REJECTS]
    for r, (_line, _fld, words) in zip(rejects, EXPECTED_REJECTS, strict=True):
        assert words in r["reason"]
    assert "8 of 11 records are invalid" in refused.value.message
    assert counts(session) == before
    assert session.execute(select(Weapon).where(Weapon.serial.in_(good))).first() is None


def test_skip_invalid_imports_the_good_rows_and_returns_the_rejects(
    session: Session, bad_csv: tuple[Path, list[str]]
) -> None:
    path, good = bad_csv
    before = counts(session)

    # One batch: clashes with the registry are found after the whole file is read, yet listed in file order.
    result = run_import(session, path, skip_invalid=True)

    assert [(r.line, r.field) for r in result.rejects] == [(line, fld) for line, fld, _ in EXPECTED_REJECTS]
    assert (result.rows, result.imported) == (11, 3)
    assert counts(session)["weapons"] - before["weapons"] == 3
    imported = session.execute(select(Weapon.serial).where(Weapon.import_job_id == result.job_id)).scalars()
    assert sorted(imported) == sorted(good)
    job = session.get(ImportJob, result.job_id)
    assert job is not None
    assert (job.rows_total, job.rows_imported, job.rows_rejected) == (11, 3, 8)
    assert verify(session).ok


def test_an_imported_row_needs_its_import_country(session: Session, tmp_path: Path) -> None:
    missing, given = unique_serial(), unique_serial()
    path = write_csv(
        tmp_path / "imports.csv",
        [row(given, event_type="imported", import_country="KEN"), row(missing, event_type="imported")],
    )

    with pytest.raises(ImportRejected) as refused, session.begin_nested():
        run_import(session, path)
    assert [(r["line"], r["field"]) for r in refused.value.rejects] == [(3, "import_country")]

    path = write_csv(tmp_path / "imports.csv", [row(given, event_type="imported", import_country="KEN")])
    run_import(session, path)
    weapon = weapon_by_serial(session, given)
    (event,) = events_of(session, weapon.id)
    assert (event.type, event.to_country) == ("imported", "KE")
    marks = session.execute(select(Marking).where(Marking.weapon_id == weapon.id)).scalars()
    assert {(m.kind, m.country) for m in marks} == {("manufacture", "AT"), ("import", "KE")}


# --- JSON Lines -------------------------------------------------------------------------------------------


def test_json_lines_with_nested_markings_and_event(session: Session, tmp_path: Path) -> None:
    serial = unique_serial()
    imported = {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9x19",
        "year_of_manufacture": 2019,
        "markings": [
            {"text": f"GLOCK AUSTRIA {serial}", "manufacturer": "GLOCK", "country": "AT", "serial": serial},
            {"text": "KE 21", "kind": "import", "country": "KE", "year": 2021, "applied_on": "2021-03-05"},
        ],
        "event": {
            "type": "imported",
            "occurred_at": "2021-03-04T10:00Z",
            "to_country": "KEN",
            "documents": [{"kind": "import_permit", "number": "IMP-7"}],
        },
    }
    found = {
        "category": "SA-ASR",
        "make": "UNKNOWN",
        "calibre": "7.62x39",
        "markings": [],
        "event": {"type": "found", "location": "Kibera", "data": {"mark_condition": "missing"}},
    }
    path = write_jsonl(tmp_path / "w.jsonl", [imported, "", found])  # blank lines are skipped

    result = run_import(session, path)

    assert (result.rows, result.imported, result.rejects) == (2, 2, [])
    weapon = weapon_by_serial(session, serial)
    (event,) = events_of(session, weapon.id)
    assert (event.type, event.to_country) == ("imported", "KE")
    assert event.occurred_at == datetime(2021, 3, 4, 10, 0, tzinfo=UTC)
    assert event.documents == [{"kind": "import_permit", "number": "IMP-7"}]
    marks = {
        m.kind: m for m in session.execute(select(Marking).where(Marking.weapon_id == weapon.id)).scalars()
    }
    assert set(marks) == {"manufacture", "import"}
    assert (marks["import"].year, marks["import"].applied_on.isoformat()) == (2021, "2021-03-05")
    recovered = session.execute(
        select(WeaponState)
        .join(Weapon, Weapon.id == WeaponState.weapon_id)
        .where(Weapon.import_job_id == result.job_id, Weapon.make == "UNKNOWN")
    ).scalar_one()
    assert (recovered.status, recovered.pending_marking) == ("recovered", True)


def test_json_lines_rejects_name_the_physical_line_and_the_nested_field(
    session: Session, tmp_path: Path
) -> None:
    good = {"category": "SA-PIS", "make": "Glock", "serial": unique_serial(), "country_of_manufacture": "AT"}
    bad_event = good | {"serial": unique_serial(), "event": {"type": "manufactured", "colour": "black"}}
    bad_mark = good | {"serial": unique_serial(), "markings": [{"text": "X", "shade": "dark"}]}
    path = write_jsonl(tmp_path / "w.jsonl", [good, "", bad_event, "{not json", "[1, 2]", bad_mark])

    with pytest.raises(ImportRejected) as refused, session.begin_nested():
        run_import(session, path)

    assert [(r["line"], r["field"]) for r in refused.value.rejects] == [
        (3, "event"),
        (4, "row"),
        (5, "row"),
        (6, "markings[0]"),
    ]


# --- custody of a closed company's records (REQ-21) -------------------------------------------------------


def test_custody_import_records_provenance(session: Session, tmp_path: Path) -> None:
    org = organisations.create_organisation(
        session, actor=ACTOR, name="Closed Arms Ltd", kind="dealer", country="KE", registration_number="CAL-1"
    )
    serials = [unique_serial(), unique_serial()]
    path = write_csv(tmp_path / "closed.csv", [row(s) for s in serials])

    result = run_import(session, path, custody_of="CAL-1")

    job = session.get(ImportJob, result.job_id)
    assert job is not None
    assert job.custody_of_org_id == org.id
    assert job.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    for serial in serials:
        (event,) = events_of(session, weapon_by_serial(session, serial).id)
        assert event.data["provenance"] == "records_custody"
        assert event.to_org_id == org.id
    entries = list(
        session.execute(select(AuditEntry).where(AuditEntry.action == "weapon.custody_imported")).scalars()
    )
    assert len(entries) == 2
    assert all(canonical.parse_body(e.body)["info"]["custody_of"] == str(org.id) for e in entries)
    assert verify(session).ok


# --- export -----------------------------------------------------------------------------------------------


@pytest.fixture
def exported_registry(session: Session, tmp_path: Path) -> dict[str, Weapon]:
    """Three imported weapons, one of them since stolen; the registry holds nothing else in this test."""
    serials = [unique_serial() for _ in range(3)]
    path = write_csv(
        tmp_path / "in.csv",
        [
            row(serials[0]),
            row(serials[1], model="19"),
            row(serials[2], event_type="imported", import_country="KE"),
        ],
    )
    run_import(session, path)
    weapons = {s: weapon_by_serial(session, s) for s in serials}
    record(session, weapons[serials[0]].id, EventInput(type="stolen", location="Nairobi"))
    return weapons


def test_csv_export_round_trips_counts_and_fields(
    session: Session, exported_registry: dict[str, Weapon]
) -> None:
    out = io.BytesIO()
    expected = {
        s: (w.id, w.category, w.make, w.model, w.calibre, w.country_of_manufacture)
        for s, w in exported_registry.items()
    }
    total = counts(session)["weapons"]

    n = exporter.export(session, out, fmt="csv", batch=2)

    rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert n == len(rows) == total
    by_serial = {r["serial"]: r for r in rows if r["serial"] in expected}
    assert set(by_serial) == set(expected)
    for serial, (wid, category, make, model, calibre, country) in expected.items():
        r = by_serial[serial]
        assert (r["id"], r["category"], r["make"], r["model"], r["calibre"], r["country_of_manufacture"]) == (
            str(wid),
            category,
            make,
            model,
            calibre,
            country,
        )
        assert r["year_of_manufacture"] == "2020"
        assert serial in r["marks"]
    stolen = next(iter(expected))
    assert (by_serial[stolen]["status"], by_serial[stolen]["event_count"]) == ("stolen", "2")
    assert by_serial[stolen]["location"] == "Nairobi"

    only_stolen = io.BytesIO()
    assert exporter.export(session, only_stolen, fmt="csv", status="stolen") == 1


def test_jsonl_export_holds_every_event_and_mark(
    session: Session, exported_registry: dict[str, Weapon]
) -> None:
    ids = {str(w.id): s for s, w in exported_registry.items()}
    out = io.BytesIO()

    n = exporter.export(session, out, fmt="jsonl", batch=2)

    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert n == len(records) == counts(session)["weapons"]
    ours = {r["weapon"]["id"]: r for r in records if r["weapon"]["id"] in ids}
    assert set(ours) == set(ids)
    for wid, serial in ids.items():
        r = ours[wid]
        assert r["weapon"]["serial"] == serial
        assert r["state"]["event_count"] == len(r["history"])
        assert [e["seq"] for e in r["history"]] == list(range(1, len(r["history"]) + 1))
        assert serial in " ".join(m["text"] for m in r["markings"])
    stolen = ours[str(exported_registry[next(iter(exported_registry))].id)]
    assert [e["type"] for e in stolen["history"]] == ["manufactured", "stolen"]
    assert stolen["history"][1]["location"] == "Nairobi"
    assert stolen["state"]["status"] == "stolen"
    imported = next(r for r in ours.values() if r["history"][0]["type"] == "imported")
    assert sorted(m["kind"] for m in imported["markings"]) == ["import", "manufacture"]
