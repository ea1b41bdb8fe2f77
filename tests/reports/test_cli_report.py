"""`iti report …` as an officer runs it (a subprocess on a SQLite registry): files written, figures inside,
exit codes for what is not there and for a language we do not make documents in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from registry import migrate
from registry.db import make_engine, make_sessionmaker
from registry.reference.service import seed_reference_data
from tests.cli.test_cli import iti_for
from tests.reports.conftest import build, pdf_text


def test_report_commands(tmp_path: Path) -> None:
    iti = iti_for(tmp_path / "ke.db", tmp_path, tmp_path)
    url = iti.env["ITI_DATABASE_URL"]
    migrate.upgrade(url, "head")  # as `iti db upgrade` does, without one more process on a busy machine
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_reference_data(session, actor="test")
        scenario = build(session, tmp_path / "node")
    engine.dispose()
    year = datetime.now(UTC).year

    out = tmp_path / "national.pdf"
    done = iti.json("report", "national", "--from", f"{year - 1}-01-01", "--to", f"{year}-12-31",
                    "--lang", "es", "--out", str(out))  # fmt: skip
    assert done["bytes"] == out.stat().st_size
    text = pdf_text(out.read_bytes())
    assert "Solicitudes recibidas 2" in text

    sheet = tmp_path / "sheet.pdf"
    iti("report", "sheet", str(scenario.weapons[0]), "--out", str(sheet))
    assert scenario.serials[0] in pdf_text(sheet.read_bytes())

    missing = iti(
        "--json", "report", "trace-answer", str(scenario.weapons[0]), "--out", str(tmp_path / "x.pdf"),
        "--purpose", "criminal_investigation", code=4,
    )  # fmt: skip
    assert json.loads(missing.stdout)["error"]["field"] == "request_id"
    assert not (tmp_path / "x.pdf").exists()
