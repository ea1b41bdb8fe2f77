"""`iti mark code` and `iti mark parse` as an operator runs them (subprocess, exit codes, files)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import uuid
from collections import deque
from pathlib import Path

import pytest

from hardware.codes.epc import adi_epc
from hardware.marking.simulator import serve_tcp
from hardware.readers.llrp_sim import emulator
from hardware.readers.simulator import TriggeredReaderSim
from hardware.readers.wedge import flatten
from registry.db import make_engine, make_sessionmaker
from registry.history.inputs import EventInput
from registry.profiles import EU
from tests.cli.test_cli import Iti, iti_for
from tests.factories import HOME, register_weapon, unique_serial
from tests.hardware.decode import decode, decode_png, svg_symbols, zpl_graphics


@pytest.fixture(scope="module")
def iti(tmp_path_factory: pytest.TempPathFactory) -> Iti:
    var = tmp_path_factory.mktemp("mark-cli")
    runner = iti_for(var / "x.db", var, var)
    runner.env["ITI_PROFILE"] = "eu"
    runner("db", "upgrade")
    return runner


def test_mark_code_writes_a_decodable_png_and_svg(iti: Iti, tmp_path: Path) -> None:
    serial = unique_serial("DM")
    added = iti.json(
        "weapon", "add", "--category", "SA-PIS", "--make", "Glock", "--model", "17", "--calibre", "9x19",
        "--serial", serial, "--country", "AT", "--year", "2021",
    )  # fmt: skip
    wid = added["id"]
    expected = f"[)>\x1e06\x1dVGLOCK\x1d1P17\x1dS{serial}\x1d4LAT\x1d23D2021\x1e\x04"
    out = iti.json("mark", "code", wid, "--format", "png", "--out", str(tmp_path / "m.png"))
    assert out["payload"] == expected
    assert decode_png((tmp_path / "m.png").read_bytes()) == [("DataMatrix", expected.encode())]
    iti("mark", "code", wid, "--format", "svg", "--out", str(tmp_path / "m.svg"))
    (img,) = svg_symbols((tmp_path / "m.svg").read_text())
    assert decode(img) == [("DataMatrix", expected.encode())]
    read = iti.json("mark", "read", str(tmp_path / "m.png"))
    assert read["codes"] == [{"text": expected, "uii": f"GLOCK17{serial}", "weapon_ids": [wid]}]
    preview = iti.json("mark", "preview", wid, "--out", str(tmp_path / "p.svg"))
    assert [f["name"] for f in preview["fields"]] == ["maker", "model", "serial", "country", "year", "code"]
    assert {f["char_height_mm"] for f in preview["fields"]} == {1.6}  # the eu minimum
    (img,) = svg_symbols((tmp_path / "p.svg").read_text())
    assert decode(img) == [("DataMatrix", expected.encode())]


def test_mark_code_refuses_a_mark_it_cannot_compose(iti: Iti, tmp_path: Path) -> None:
    added = iti.json(
        "weapon", "add", "--category", "SA-PIS", "--make", "Zorkmid", "--model", "Z1", "--calibre", "9x19",
        "--serial", unique_serial("ZK"), "--country", "KE", "--year", "2021",
    )  # fmt: skip
    wid = added["id"]
    refused = iti.json("mark", "code", wid, "--out", str(tmp_path / "z.png"), code=3)
    assert refused["error"]["field"] == "make"
    assert "no code in the manufacturers table" in refused["error"]["message"]
    missing = iti.json(
        "mark", "code", "0190c8e2-0000-7000-8000-000000000001", "--out", str(tmp_path / "x.png"), code=4
    )
    assert missing["error"]["field"] == "weapon_id"
    assert not (tmp_path / "z.png").exists()
    assert not (tmp_path / "x.png").exists()


def test_mark_parse_prints_fields_and_names_what_is_wrong(iti: Iti) -> None:
    ok = iti.json("mark", "parse", "[)><RS>06<GS>VGLOCK<GS>1P17<GS>SABC123<GS>4LAT<GS>23D2024<RS><EOT>")
    assert ok["fields"] == {
        "enterprise": "GLOCK",
        "model": "17",
        "serial": "ABC123",
        "country": "AT",
        "year": "2024",
    }
    assert ok["uii"] == "GLOCK17ABC123"
    bad = iti.json("mark", "parse", "[)>06VGLOCKSABC123", code=3)
    assert "separators are missing" in bad["error"]["message"]
    lower = iti("mark", "parse", "[)>\\x1e06\\x1dVGLOCK\\x1dSabc\\x1e\\x04", code=3)
    assert "serial 'abc' contains 'a'" in lower.stderr


@pytest.mark.parametrize("spec", ["panasonic-sim", "keyence-sim"])
def test_mark_run_against_a_simulator_records_the_verified_mark(iti: Iti, tmp_path: Path, spec: str) -> None:
    weapon = _add_at(iti)
    wid, serial = weapon["id"], weapon["serial"]
    log = tmp_path / "frames.log"
    out = iti.json("mark", "run", wid, "--machine", spec, "--station", "KE-01", "--frame-log", str(log))
    assert out["ok"] is True
    assert out["stage"] == "recorded"
    assert out["payload"] == weapon["payload"]
    assert len(log.read_text().splitlines()) == out["frames"] > 10
    # The recorded event carries the digest of the frame log the station kept: an auditor can check one
    # against the other.
    digest = hashlib.sha256(log.read_text().rstrip("\n").encode()).hexdigest()
    data = json.loads(
        iti.scalar(f"SELECT data FROM events WHERE weapon_id = '{uuid.UUID(wid).hex}' AND type = 'marked'")
    )
    assert data["frames_sha256"] == digest
    marked = iti.scalar(
        f"SELECT count(*) FROM markings WHERE station = 'KE-01' AND verified AND serial = '{serial}'"
    )
    assert marked == 1


def test_mark_run_refuses_an_unknown_machine(iti: Iti) -> None:
    bad = iti.json(
        "mark", "run", "0190c8e2-0000-7000-8000-000000000001", "--machine", "trumpf:/dev/x", code=2
    )
    assert bad["error"]["field"] == "machine"


def test_mark_labels_writes_a_sheet_and_prints_zpl(iti: Iti, tmp_path: Path) -> None:
    source = tmp_path / "labels.csv"
    source.write_text(
        "data,title,kind,lines\niti:rack:A-01,RACK A-01,qr,Armoury 1|Row A\nCASE-0007,CASE 7,code128,\n"
    )
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)

        t = threading.Thread(target=accept)
        t.start()
        port = server.getsockname()[1]
        iti(
            "mark",
            "labels",
            str(source),
            "--out",
            str(tmp_path / "sheet.svg"),
            "--printer",
            f"127.0.0.1:{port}",
        )
        t.join(10)
    images = svg_symbols((tmp_path / "sheet.svg").read_text())
    assert [decode(img) for img in images] == [[("QRCode", b"iti:rack:A-01")], [("Code128", b"CASE-0007")]]
    assert [decode(img) for img in zpl_graphics(received.decode())] == [
        [("QRCode", b"iti:rack:A-01")],
        [("Code128", b"CASE-0007")],
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text("data,title,kind\nA\x1dB,X,code128\n")
    assert "bad.csv:2" in iti("mark", "labels", str(bad), "--out", str(tmp_path / "b.svg"), code=3).stderr


def _add_at(iti: Iti, location: str | None = None) -> dict[str, str]:
    """Register a weapon straight through the registry service on the CLI's database: setting up data
    need not pay for an `iti` subprocess; the commands under test still run as subprocesses."""
    serial = unique_serial("SK")
    event = EventInput(type="imported", to_country=HOME, location=location)
    engine = make_engine(f"sqlite:///{iti.db}")
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            wid = str(register_weapon(session, serial=serial, event=event, profile=EU).weapon.id)
    finally:
        engine.dispose()
    return {
        "id": wid,
        "serial": serial,
        "payload": f"[)>\x1e06\x1dVGLOCK\x1d1P17\x1dS{serial}\x1d4LAT\x1d23D2020\x1e\x04",
    }


def test_mark_stocktake_from_a_scan_file_and_from_a_reader(iti: Iti, tmp_path: Path) -> None:
    site = f"Armoury {unique_serial('')}"
    a, b = _add_at(iti, site), _add_at(iti, site)
    scans = tmp_path / "scans.txt"
    scans.write_bytes((a["payload"] + "\n" + "[)>06VGLOCKSZZZ\n").encode("latin-1"))
    report = iti.json(
        "mark", "stocktake", site, "--scans", str(scans), "--out", str(tmp_path / "r.json"), code=1
    )
    assert [s["serial"] for s in report["found"]] == [a["serial"]]
    assert [s["serial"] for s in report["missing"]] == [b["serial"]]
    assert [u["scan"] for u in report["unknown"]] == ["[)>06VGLOCKSZZZ"]
    assert (tmp_path / "r.json").exists()

    sim = TriggeredReaderSim("keyence-sr", deque([a["payload"], flatten(b["payload"])]))
    served = serve_tcp(sim)
    try:
        clean = iti.json(
            "mark", "stocktake", site, "--reader", f"keyence-sr:tcp://{served.address}", "--idle", "0.3"
        )
    finally:
        served.stop()
    assert clean["clean"] is True
    assert sorted(s["serial"] for s in clean["found"]) == sorted([a["serial"], b["serial"]])


def test_mark_stocktake_over_rfid(iti: Iti) -> None:
    site = f"Armoury {unique_serial('')}"
    a, b = _add_at(iti, site), _add_at(iti, site)
    tag = adi_epc(cage="1AB23", maker_code="GLOCK", model="17", serial=a["serial"])
    with emulator({tag}) as emu:
        host, port = emu.address
        report = iti.json(
            "mark",
            "stocktake",
            site,
            "--rfid",
            f"{host}:{port}",
            "--ncage",
            "1AB23",
            "--seconds",
            "0.1",
            code=1,
        )
    assert [s["serial"] for s in report["found"]] == [a["serial"]]
    assert [s["serial"] for s in report["missing"]] == [b["serial"]]
    no_cage = iti.json("mark", "stocktake", site, "--rfid", f"{host}:{port}", code=2)
    assert no_cage["error"]["field"] == "ncage"
