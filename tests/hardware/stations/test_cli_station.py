"""`iti station …` as an operator and an officer run it: mark on the simulator, reserve serials, save and
export a stocktake, and an offline campaign carried by file (checkout → init → mark → export-events →
import-events → conflicts → resolve → import-answers)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli.test_cli import Iti, iti_for
from tests.factories import unique_serial


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iti:
    var = tmp_path_factory.mktemp("station-cli")
    runner = iti_for(var / "central.db", var, var)
    runner("db", "upgrade")
    return runner


def _add(iti: Iti, location: str) -> str:
    return iti.json(
        "weapon", "add", "--category", "SA-PIS", "--make", "Glock", "--model", "17", "--calibre", "9x19",
        "--serial", unique_serial("CS"), "--country", "AT", "--year", "2021", "--location", location,
    )["id"]  # fmt: skip


def test_station_mark_reserve_serial_and_saved_stocktake(central: Iti, tmp_path: Path) -> None:
    site = f"Depot {unique_serial('')}"
    a, b = _add(central, site), _add(central, site)
    marked = central.json("station", "mark", a, "--machine", "panasonic-sim", "--station", "KE-01")
    assert marked["ok"] is True
    assert (
        central.scalar(
            f"SELECT count(*) FROM events WHERE type = 'marked' AND weapon_id = '{a.replace('-', '')}'"
        )
        == 1
    )

    first = central.json("station", "reserve-serial", "--prefix", "CLI", "--year", "2026")
    second = central.json("station", "reserve-serial", "--prefix", "CLI", "--year", "2026")
    assert (first["serial"], second["serial"]) == ("CLIKE2026-00001", "CLIKE2026-00002")

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
    ids = [_add(central, site) for _ in range(2)]
    bundle = tmp_path / "station.bundle"
    co = central.json(
        "station", "checkout", "--location", site, "--station", "KE-OUT-1", "--out", str(bundle)
    )
    assert co["weapons"] == 2
    station = iti_for(tmp_path / "station.db", tmp_path, tmp_path)
    assert station.json("station", "init", "--bundle", str(bundle))["weapons"] == 2
    for wid in ids:
        assert station.json("station", "mark", wid, "--machine", "keyence-sim", "--station", "KE-OUT-1")["ok"]
    central.json("station", "mark", ids[0], "--machine", "panasonic-sim", "--station", "HQ")  # meanwhile
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
