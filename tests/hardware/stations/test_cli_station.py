"""`iti station …` as an operator and an officer run it: mark on the simulator, reserve a serial, save and
export a stocktake, and an offline campaign carried by file (checkout → init → export-events →
import-events → conflicts → resolve → import-answers). Weapons are set up and marked in-process; the
commands under test run as subprocesses, as an operator runs them."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from hardware.marking.connect import open_machine
from hardware.marking.simulator import SimMachine
from hardware.stations.camera import SimulatedCamera
from hardware.stations.workflow import Station, run
from registry.db import make_engine
from registry.history.inputs import EventInput
from registry.profiles import ITI
from tests.cli.test_cli import Iti, iti_for
from tests.factories import HOME, import_marking, record, register_weapon, unique_serial


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iti:
    var = tmp_path_factory.mktemp("station-cli")
    runner = iti_for(var / "central.db", var, var)
    runner("db", "upgrade")
    return runner


def _add(iti: Iti, location: str, n: int) -> list[str]:
    eng = make_engine(f"sqlite:///{iti.db}")
    with Session(eng) as s, s.begin():
        event = EventInput(type="imported", to_country=HOME, location=location)
        ids = [str(register_weapon(s, serial=unique_serial("CS"), event=event).weapon.id) for _ in range(n)]
    eng.dispose()
    return ids


def _mark(db: Path, ids: list[str]) -> None:
    eng = make_engine(f"sqlite:///{db}")
    with Session(eng) as s, s.begin():
        sim = SimMachine(mark_seconds=0.0)
        with open_machine("keyence-sim", sim=sim, reply_timeout=0.5) as conn:
            for wid in ids:
                out = run(
                    s,
                    weapon_id=uuid.UUID(wid),
                    machine=conn.machine,
                    verifier=SimulatedCamera(sim),
                    station=Station("KE-OUT-1", "op.ekal", "keyence-sim", mark_timeout=1.0),
                    profile=ITI,
                    actor="station:KE-OUT-1",
                    home_country=HOME,
                )
                assert out.ok, out.message
    eng.dispose()


def test_station_mark_reserve_serial_and_saved_stocktake(central: Iti, tmp_path: Path) -> None:
    site = f"Depot {unique_serial('')}"
    a, b = _add(central, site, 2)
    marked = central.json("station", "mark", a, "--machine", "panasonic-sim", "--station", "KE-01")
    assert marked["ok"] is True
    hex_id = a.replace("-", "")
    assert (
        central.scalar(f"SELECT count(*) FROM events WHERE type = 'marked' AND weapon_id = '{hex_id}'") == 1
    )

    serial = central.json("station", "reserve-serial", "--prefix", "CLI", "--year", "2026")
    assert serial["serial"] == "CLIKE2026-00001"

    scans = tmp_path / "scans.txt"
    scans.write_text(marked["payload"] + "\nNOT-A-WEAPON-9\n")
    counted = central.json(
        "station", "stocktake", site, "--scans", str(scans), "--save", "--station", "T1", code=1
    )
    sid = counted["stocktake_id"]
    assert [s["weapon_id"] for s in counted["missing"]] == [b]
    listed = central.json("station", "stocktakes", "--location", site)
    assert [(x["id"], x["found"], x["missing"], x["unknown"]) for x in listed] == [(sid, 1, 1, 1)]
    out = tmp_path / "st.csv"
    central("station", "stocktake-export", sid, "--out", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert sorted(r[0] for r in rows[3:]) == ["found", "missing", "unknown"]


def test_offline_campaign_by_file_with_a_conflict_resolved(central: Iti, tmp_path: Path) -> None:
    site = f"Outpost {unique_serial('')}"
    ids = _add(central, site, 2)
    bundle = tmp_path / "station.bundle"
    co = central.json(
        "station", "checkout", "--location", site, "--station", "KE-OUT-1", "--out", str(bundle)
    )
    assert co["weapons"] == 2
    station = iti_for(tmp_path / "station.db", tmp_path, tmp_path)
    assert station.json("station", "init", "--bundle", str(bundle))["weapons"] == 2
    _mark(station.db, ids)
    eng = make_engine(f"sqlite:///{central.db}")
    with Session(eng) as s, s.begin():  # meanwhile, the registry records another mark on the first weapon
        record(s, uuid.UUID(ids[0]), EventInput(type="marked"), marking=import_marking())
    eng.dispose()
    events = tmp_path / "events.json"
    assert station.json("station", "export-events", "--out", str(events))["events"] == 2
    answers = tmp_path / "answers.json"
    got = central.json("station", "import-events", str(events), "--answers-out", str(answers))
    assert (got["applied"], got["conflict"], got["duplicates"]) == (1, 1, 0)
    (conflict,) = [c for c in central.json("station", "conflicts") if c["weapon"] == ids[0]]
    resolved = central.json("station", "resolve", conflict["id"], "--reject", "--reason", "HQ mark stands")
    assert resolved["status"] == "rejected"
    assert station.json("station", "import-answers", str(answers))["remembered"] == 2
    assert central.scalar("SELECT count(*) FROM station_sync_events WHERE status = 'applied'") == 1
    assert central.scalar("SELECT count(*) FROM station_sync_events WHERE status = 'rejected'") == 1
