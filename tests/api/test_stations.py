"""`/api/v1/stations`: the composed mark job, verified mark reports (refused unless the read-back matched),
saved stocktakes with their CSV, and reserved serials."""

from __future__ import annotations

import csv
import io
import uuid

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from hardware.codes import uii
from hardware.stations import offline
from hardware.stations.compose import unique_mark_of
from registry.history.inputs import EventInput
from registry.weapons import repository as repo
from tests.api.conftest import login_headers
from tests.factories import HOME, import_marking, record, register_weapon, unique_serial, weapon_input
from tests.hardware.decode import decode, svg_symbols


def _weapon(session: Session, location: str = "Central Store") -> uuid.UUID:
    event = EventInput(type="imported", to_country=HOME, location=location)
    return register_weapon(session, serial=unique_serial("AP"), event=event).weapon.id


def _report(payload: str, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "station": "KE-NBI-01",
        "operator": "op.wanjiru",
        "machine": "keyence:tcp://10.0.0.5:50002",
        "read_back": {"fields_match": True, "decoded": [payload]},
        "frames": 14,
        "frames_sha256": "ab" * 32,
    }
    body.update(over)
    return body


def test_mark_job_is_the_composed_checked_mark_with_a_decodable_preview(
    client: TestClient, session: Session
) -> None:
    wid = _weapon(session)
    got = client.get(
        f"/api/v1/stations/weapons/{wid}/mark-job", headers=login_headers(session, "marking_operator")
    )
    assert got.status_code == 200, got.text
    job = got.json()
    w = repo.get_weapon(session, wid)
    assert w is not None
    assert job["payload"] == uii.compose(unique_mark_of(w))
    assert job["payload_display"].startswith("[)><RS>06<GS>")
    assert [f["name"] for f in job["fields"]][-1] == "code"
    assert w.serial in job["human_readable"]
    assert job["checks"]["passed"] is True
    n = int(job["symbol_size"].split("x")[0])
    assert job["symbol_size"] == f"{n}x{n}"  # always square
    (img,) = svg_symbols(job["preview_svg"])
    assert decode(img) == [("DataMatrix", job["payload"].encode())]


def test_mark_job_refuses_a_mark_that_breaks_the_rules(client: TestClient, session: Session) -> None:
    event = EventInput(type="imported", to_country=HOME, location="X")
    wid = register_weapon(session, weapon=weapon_input(make="Zorkmid"), event=event).weapon.id
    got = client.get(f"/api/v1/stations/weapons/{wid}/mark-job", headers=login_headers(session, "auditor"))
    assert got.status_code == 422
    assert got.headers["content-type"].startswith("application/problem+json")
    assert "manufacturers table" in got.text
    missing = client.get(
        f"/api/v1/stations/weapons/{uuid.uuid4()}/mark-job", headers=login_headers(session, "auditor")
    )
    assert missing.status_code == 404


def test_a_verified_mark_is_recorded_once_and_a_mismatch_records_nothing(
    client: TestClient, session: Session
) -> None:
    wid = _weapon(session)
    headers = login_headers(session, "marking_operator")
    payload = client.get(f"/api/v1/stations/weapons/{wid}/mark-job", headers=headers).json()["payload"]
    url = f"/api/v1/stations/weapons/{wid}/marks"

    wrong = client.post(
        url,
        json=_report(payload, read_back={"fields_match": True, "decoded": [payload[:-3]]}),
        headers=headers,
    )
    assert wrong.status_code == 409
    assert "quarantine" in wrong.json()["detail"]
    unmatched = client.post(
        url, json=_report(payload, read_back={"fields_match": False, "decoded": [payload]}), headers=headers
    )
    assert unmatched.status_code == 409
    assert [e.type for e in repo.events_of(session, wid)] == ["imported"]

    keyed = {**headers, "Idempotency-Key": f"mark-{wid}"}
    ok = client.post(url, json=_report(payload), headers=keyed)
    assert ok.status_code == 201, ok.text
    again = client.post(url, json=_report(payload), headers=keyed)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == ok.json()["id"]
    events = repo.events_of(session, wid)
    assert [e.type for e in events] == ["imported", "marked"]
    assert events[-1].data["station"] == "KE-NBI-01"
    assert events[-1].data["frames_sha256"] == "ab" * 32
    mark = next(m for m in repo.markings_of(session, wid) if m.id == uuid.UUID(ok.json()["marking_id"]))
    assert (mark.payload, mark.verified, mark.operator, mark.method) == (payload, True, "op.wanjiru", "laser")
    refused = client.post(url, json=_report(payload), headers=login_headers(session, "poc_officer"))
    assert refused.status_code == 403


def test_stocktake_is_saved_read_back_and_exported_as_csv(client: TestClient, session: Session) -> None:
    site = f"Armoury {unique_serial('')}"
    here = [_weapon(session, site) for _ in range(3)]
    away = _weapon(session, "Central Store")
    payloads = {}
    for wid in [*here, away]:
        w = repo.get_weapon(session, wid)
        assert w is not None
        payloads[wid] = uii.compose(unique_mark_of(w))
    scans = [payloads[here[0]], payloads[here[1]], payloads[away], '=HYPERLINK("x")']
    headers = login_headers(session, "marking_operator")
    got = client.post(
        "/api/v1/stations/stocktakes",
        json={"location": site, "scans": scans, "station": "T1"},
        headers=headers,
    )
    assert got.status_code == 201, got.text
    st = got.json()
    assert (st["expected"], st["found"], st["missing"], st["elsewhere"], st["unknown"]) == (3, 2, 1, 1, 1)
    assert st["clean"] is False
    by = {line["result"]: line for line in st["lines"]}
    assert by["missing"]["weapon_id"] == str(here[2])
    assert by["elsewhere"]["registry_location"] == "Central Store"
    reader = login_headers(session, "auditor")
    assert client.get(f"/api/v1/stations/stocktakes/{st['id']}", headers=reader).json() == st
    exported = client.get(f"/api/v1/stations/stocktakes/{st['id']}/export.csv", headers=reader)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:4] == ["# stocktake", st["id"], "location", site]
    assert rows[2][0] == "result"
    assert sorted(r[0] for r in rows[3:]) == ["elsewhere", "found", "found", "missing", "unknown"]
    unknown = next(r for r in rows[3:] if r[0] == "unknown")
    assert unknown[7] == '\'=HYPERLINK("x")'  # never a live formula in a spreadsheet
    assert client.get(f"/api/v1/stations/stocktakes/{uuid.uuid4()}", headers=reader).status_code == 404


def test_serials_are_reserved_in_order_and_never_twice(client: TestClient, session: Session) -> None:
    headers = login_headers(session, "marking_operator")
    prefix = f"T{uuid.uuid4().hex[:6].upper()}"
    body = {"prefix": prefix, "year": 2026, "purpose": "manufacture", "station": "KE-NBI-01"}
    a = client.post("/api/v1/stations/serials", json=body, headers=headers)
    b = client.post("/api/v1/stations/serials", json=body, headers=headers)
    assert a.status_code == b.status_code == 201, a.text
    assert (a.json()["serial"], b.json()["serial"]) == (f"{prefix}KE2026-00001", f"{prefix}KE2026-00002")
    bad = client.post("/api/v1/stations/serials", json={**body, "purpose": "whim"}, headers=headers)
    assert bad.status_code == 422


def _offline_mark(session: Session, wid: uuid.UUID) -> dict[str, object]:
    """A `marked` event as an offline station exports it (what `offline.pending_events` writes)."""
    w = repo.get_weapon(session, wid)
    assert w is not None
    payload = uii.compose(unique_mark_of(w))
    return {
        "id": str(uuid.uuid4()),
        "weapon_id": str(wid),
        "seq": 2,
        "type": "marked",
        "occurred_at": "2026-11-20T09:30:00+00:00",
        "recorded_at": "2026-11-20T09:30:01+00:00",
        "recorded_by": "station:KE-TRK-02",
        "location": None,
        "documents": [],
        "data": {"station": "KE-TRK-02", "machine": "keyence-sim", "verification": "read_back_and_code_match"},
        "notes": "",
        "base": {"event_count": 1, "status": "active"},
        "marking": {
            "text": f"GLOCK 17 {w.serial}", "kind": "manufacture", "component_kind": "frame", "method": "laser",
            "manufacturer": w.make, "country": w.country_of_manufacture, "serial": w.serial, "year": 2020,
            "transferring_state": None, "scheme_symbol": None, "location_on_component": None,
            "exposed_surface": True, "conspicuous": True, "readable": True, "durable": True, "recoverable": True,
            "condition": "intact", "payload": payload, "applied_on": "2026-11-20", "station": "KE-TRK-02",
            "operator": "op.ekal", "verified": True,
        },
    }  # fmt: skip


def test_offline_events_conflict_listed_and_decided_by_an_officer(
    client: TestClient, session: Session
) -> None:
    site = f"Depot {unique_serial('')}"
    a, b = _weapon(session, site), _weapon(session, site)
    co = offline.checkout(session, station="KE-TRK-02", location=site, actor="officer")
    record(session, a, EventInput(type="marked"), marking=import_marking())  # central change meanwhile
    batch = {"format": offline.EVENTS_FORMAT, "checkout_id": str(co["checkout"]["id"]), "station": "KE-TRK-02",
             "events": [_offline_mark(session, a), _offline_mark(session, b)]}  # fmt: skip
    station = login_headers(session, "marking_operator")
    got = client.post("/api/v1/stations/offline-events", json=batch, headers=station)
    assert got.status_code == 200, got.text
    assert (got.json()["applied"], got.json()["conflicts"]) == (1, 1)
    again = client.post("/api/v1/stations/offline-events", json=batch, headers=station)
    assert (again.json()["applied"], again.json()["duplicates"]) == (0, 2)

    listed = client.get("/api/v1/stations/sync-events", headers=login_headers(session, "auditor")).json()
    (conflict,) = [x for x in listed if x["weapon_id"] == str(a)]
    assert "changed centrally" in conflict["reason"]
    url = f"/api/v1/stations/sync-events/{conflict['id']}/decision"
    body = {"apply": True, "reason": "both marks seen on the frame"}
    assert client.post(url, json=body, headers=station).status_code == 403  # a station cannot decide
    decided = client.post(url, json=body, headers=login_headers(session, "record_officer", "chief-api"))
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["decided_by"]) == ("applied", "chief-api")
    events = repo.events_of(session, a)
    assert [e.type for e in events] == ["imported", "marked", "marked"]
    assert events[-1].data["offline"]["station"] == "KE-TRK-02"
    twice = client.post(url, json=body, headers=login_headers(session, "record_officer"))
    assert twice.status_code == 409
    every = client.get("/api/v1/stations/sync-events?status=all", headers=station).json()
    assert {x["status"] for x in every if x["weapon_id"] in (str(a), str(b))} == {"applied"}
