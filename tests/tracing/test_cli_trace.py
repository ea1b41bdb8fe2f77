"""`iti trace …` as an officer runs it (a subprocess on a SQLite node): compose, send, exit codes by error,
incoming request answered, overdue and stats with --json."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.orm import Session

from registry.db import make_engine, make_sessionmaker
from tests.cli.test_cli import Iti, iti_for
from tests.tracing.requests.conftest import inbound_message, request_body
from tracing.requests import service as traces

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _node(tmp_path: Path) -> Iti:
    iti = iti_for(tmp_path / "ke.db", tmp_path, tmp_path)
    iti.env["ITI_FEDERATION_KEY_PASSPHRASE"] = "test"
    iti("db", "upgrade")
    iti(
        "node",
        "init",
        "--country",
        "KE",
        "--url",
        "http://127.0.0.1:9",
        "--poc-name",
        "PoC Kenya",
        "--contact",
        "poc@ke.example",
    )
    public = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    iti(
        "peer",
        "add",
        "--country",
        "UG",
        "--url",
        "http://127.0.0.1:8",
        "--public-key",
        public,
        "--contact",
        "poc@ug",
    )
    return iti


def test_compose_send_answer_and_report(tmp_path: Path) -> None:
    iti = _node(tmp_path)
    photo = tmp_path / "mark.png"
    photo.write_bytes(PNG)
    draft = iti.json(
        "trace", "new", "--to", "UG", "--case", "KE/1", "--marking", "GLOCK AUSTRIA AB?2345|frame, left||AB?2345",
        "--illicit", "seized in a robbery", "--legal", "Firearms Act s.4", "--use", "prosecution",
        "--category", "SA-PIS", "--calibre", "9mm Luger", "--recovery", "seized", "--photo", str(photo),
    )  # fmt: skip
    assert draft["state"] == "draft"
    assert draft["markings"] == [
        {"text": "GLOCK AUSTRIA AB?2345", "position": "frame, left", "serial": "AB?2345"}
    ]
    assert draft["attachments"][0]["media_type"] == "image/png"
    sent = iti.json("trace", "send", draft["id"])
    assert sent["state"] == "sent"
    assert sent["lost_stolen_check"]["searched"] == ["AB?2345", "GLOCK AUSTRIA AB?2345"]
    again = iti("--json", "trace", "send", draft["id"], code=5)
    assert "that is sent" in json.loads(again.stdout)["error"]["message"]

    incomplete = iti.json("trace", "new", "--to", "UG", "--case", "KE/2")
    err = iti("--json", "trace", "send", incomplete["id"], code=3)
    assert json.loads(err.stdout)["error"]["field"] == "illicit_nature"
    iti("trace", "show", "00000000-0000-7000-8000-000000000000", code=4)
    iti("trace", "new", "--to", "KE", "--case", "x", code=3)

    # A request from UG arrives (as the federation inbox hands it over) and the officer answers it.
    engine = make_engine(iti.env["ITI_DATABASE_URL"])
    with make_sessionmaker(engine)() as session, session.begin():
        _receive(session)
    engine.dispose()
    incoming = iti.json("trace", "list", "--direction", "incoming")
    assert [r["state"] for r in incoming] == ["acknowledged"]
    rid = incoming[0]["id"]
    refused = iti.json("trace", "refuse", rid, "--ground", "national_security", "--reason", "state stock")
    assert refused["state"] == "refused"
    # REQ-32: UG's request serves its stated purpose; another one only after notice to UG (delivered).
    outside = iti(
        "--json", "trace", "export", rid, "--purpose", "prosecution", "--recipient", "Court", code=5
    )
    assert json.loads(outside.stdout)["error"]["stated_purpose"] == "criminal_investigation"
    assert (
        iti.json("trace", "export", rid, "--purpose", "criminal_investigation")["declared_use"]["recipient"]
        is None
    )
    noticed = iti.json("trace", "notify-disclosure", rid, "--purpose", "prosecution", "--recipient", "Court",
                       "--reason", "exhibit at trial")  # fmt: skip
    assert noticed["transitions"][-1]["action"] == "disclosure_notice"
    assert iti.json("trace", "overdue") == []
    stats = iti.json("trace", "stats")
    assert stats["traces"]["total"]["sent"] == 1
    assert stats["traces"]["total"]["received"] == 1
    assert stats["traces"]["total"]["refused"] == 1
    assert "SDG 16.4.2" in iti("trace", "stats", "--csv", str(tmp_path / "stats.csv")).stdout
    with (tmp_path / "stats.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["scope"], r["key"], r["sent"], r["received"], r["refused"]) for r in rows] == [
        ("total", "all", "1", "1", "1"),
        ("partner", "UG", "1", "1", "1"),
        ("year", str(rows[2]["key"]), "1", "1", "1"),
    ]


def _receive(session: Session) -> None:
    traces.receive(session, message=inbound_message("trace.request", request_body()))
