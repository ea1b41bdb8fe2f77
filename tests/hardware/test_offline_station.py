"""An offline marking campaign, end to end: the national registry checks 101 weapons out to a station, the
station (its own SQLite, no network) marks and verifies all of them on the simulator, one weapon changes
centrally meanwhile, then the station synchronises over real HTTP with a real uvicorn on loopback serving
the central registry's own SQLite. The registry and its audit log show exactly the 100 marks once, the
changed weapon is a conflict kept for an officer, and a second sync adds nothing."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from api.app import create_app
from hardware.marking.connect import open_machine
from hardware.marking.simulator import SimMachine
from hardware.stations import offline
from hardware.stations.camera import SimulatedCamera
from hardware.stations.workflow import Station, run
from registry import migrate
from registry.audit import checker
from registry.audit.models import AuditEntry
from registry.config import get_settings
from registry.db import make_engine
from registry.history.inputs import EventInput
from registry.history.models import Event
from registry.profiles import ITI
from registry.reference.service import seed_reference_data
from registry.stations.models import StationSyncEvent
from registry.users import service as users
from tests.cli.test_cli import Iti, iti_for
from tests.factories import HOME, import_marking, record, register_weapon, unique_serial
from tests.live_server import live_server

SITE = "Lodwar armoury"
STATION = "KE-LDW-01"
N = 101  # 100 marks go through; one weapon changes centrally and is held back as a conflict
ACTOR = f"api_key:{STATION}"  # the station's API key uploads; the operator is in the marking


def _db(path: Path) -> Engine:
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    eng = make_engine(url)
    with Session(eng) as s, s.begin():
        seed_reference_data(s, actor="setup")
    return eng


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The central registry: its own SQLite, behind uvicorn on a loopback port."""
    db = tmp_path / "central.db"
    eng = _db(db)
    eng.dispose()
    settings = dataclasses.replace(get_settings(), database_url=f"sqlite:///{db}")
    with live_server(create_app(settings)) as base:
        yield base, db


def _station_marks_everything(station_db: Path) -> int:
    eng = make_engine(f"sqlite:///{station_db}")
    marked = 0
    with Session(eng) as s, s.begin():
        co = offline.station_checkout(s)
        sim = SimMachine(mark_seconds=0.0)
        with open_machine("panasonic-sim", sim=sim, reply_timeout=0.5) as conn:
            for wid in co.baseline:
                out = run(
                    s,
                    weapon_id=uuid.UUID(wid),
                    machine=conn.machine,
                    verifier=SimulatedCamera(sim),
                    station=Station(STATION, "op.akai", "panasonic-sim", mark_timeout=1.0),
                    profile=ITI,
                    actor=f"station:{STATION}",
                    home_country=HOME,
                )
                assert out.ok, out.message
                marked += 1
    eng.dispose()
    return marked


def test_offline_campaign_synchronises_each_mark_once_and_holds_conflicts(
    serve: tuple[str, Path], tmp_path: Path
) -> None:
    url, central_db = serve
    central = make_engine(f"sqlite:///{central_db}")
    with Session(central) as s, s.begin():
        ids = [
            register_weapon(
                s,
                serial=unique_serial("LD"),
                event=EventInput(type="imported", to_country=HOME, location=SITE),
            ).weapon.id
            for _ in range(N)
        ]
        register_weapon(s, event=EventInput(type="imported", to_country=HOME, location="Elsewhere"))
        _, key = users.create_api_key(s, actor="admin", name=STATION, role="marking_operator")
        bundle = offline.checkout(s, station=STATION, location=SITE, actor="officer.central")
    bundle_file = tmp_path / "station.bundle"
    bundle_file.write_bytes(offline.dumps(bundle))
    assert bundle["checkout"]["weapons"] == N

    # The station: its own database, loaded from the bundle by the operator's CLI.
    station_db = tmp_path / "station.db"
    iti: Iti = iti_for(station_db, tmp_path, tmp_path)
    init = iti.json("station", "init", "--bundle", str(bundle_file))
    assert init["weapons"] == N
    assert _station_marks_everything(station_db) == N
    assert iti.json("station", "status")["pending"] == N

    # Meanwhile the national registry records something else on one of the weapons.
    changed = ids[7]
    with Session(central) as s, s.begin():
        record(s, changed, EventInput(type="marked"), marking=import_marking())

    sent_file = tmp_path / "first.json"
    assert iti.json("station", "export-events", "--out", str(sent_file))["events"] == N
    t0 = time.monotonic()
    first = iti.json("station", "sync", "--to", url, "--api-key", key)
    sync_seconds = time.monotonic() - t0
    assert (first["applied"], first["conflict"], first["rejected"], first["duplicates"]) == (N - 1, 1, 0, 0)
    (conflict,) = [a for a in first["answers"] if a["status"] == "conflict"]
    assert conflict["weapon_id"] == str(changed)
    assert "changed centrally since checkout" in conflict["reason"]
    assert iti.json("station", "status")["pending"] == 0

    again = iti.json("station", "sync", "--to", url, "--api-key", key)
    assert again["answers"] == []  # nothing left to send: nothing is sent twice

    assert iti.json("station", "export-events", "--out", str(tmp_path / "again.json"))["events"] == 0

    # An upload whose answers were lost (the file carried by hand, sent again): answered from the record.
    resent = httpx.post(
        f"{url}/api/v1/stations/offline-events",
        content=sent_file.read_bytes(),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        timeout=30,
    )
    assert resent.status_code == 200, resent.text
    assert (resent.json()["duplicates"], resent.json()["applied"]) == (N, 0)

    with Session(central) as s:
        marked = s.scalars(select(Event).where(Event.type == "marked", Event.recorded_by == ACTOR)).all()
        assert len(marked) == N - 1
        assert {e.data["offline"]["recorded_offline_by"] for e in marked} == {f"station:{STATION}"}
        assert {e.weapon_id for e in marked} == set(ids) - {changed}
        assert all(e.data["offline"]["station"] == STATION for e in marked)
        assert all(e.data["verification"] == "read_back_and_code_match" for e in marked)
        offline_ids = {e.data["offline"]["offline_event_id"] for e in marked}
        assert len(offline_ids) == N - 1
        audited = s.scalars(
            select(AuditEntry.subject).where(AuditEntry.action == "event.marked", AuditEntry.actor == ACTOR)
        ).all()
        assert sorted(audited) == sorted(f"weapon:{e.weapon_id}" for e in marked)
        rows = s.scalars(select(StationSyncEvent)).all()
        assert len(rows) == N
        assert [r.weapon_id for r in rows if r.status == "conflict"] == [changed]
        # The changed weapon keeps the central change and gets no offline mark over it.
        kinds = [
            e.type for e in s.scalars(select(Event).where(Event.weapon_id == changed).order_by(Event.seq))
        ]
        assert kinds == ["imported", "marked"]
        all_marked = s.scalar(select(func.count()).select_from(Event).where(Event.type == "marked"))
        assert all_marked == N  # the 100 synchronised and the central one: nothing twice
        report = checker.verify(s)
        assert report.ok, report.first
    central.dispose()
    station = make_engine(f"sqlite:///{station_db}")
    with Session(station) as s:  # the station's own audit log covers the loaded copy and its answers
        report = checker.verify(s)
        assert report.ok, report.first
        assert len(s.scalars(select(StationSyncEvent)).all()) == N
    station.dispose()
    assert sync_seconds < 30
