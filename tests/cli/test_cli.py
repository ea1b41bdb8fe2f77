"""The installed `iti` command, run as a subprocess the way an officer or a script runs it: exit codes, messages
on stderr, machine-readable output with --json, and one transaction per command.

Each test works on its own copy of one database migrated once for the module (copying a SQLite file costs
milliseconds, `iti db upgrade` a second).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import unique_serial

HEADER = "category,make,model,calibre,serial,country_of_manufacture,year_of_manufacture"


@dataclass
class Iti:
    db: Path
    env: dict[str, str]
    cwd: Path

    def __call__(self, *args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == code, (
            f"iti {' '.join(args)} exited {proc.returncode}, expected {code}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
        return proc

    def json(self, *args: str, code: int = 0) -> Any:
        return json.loads(self("--json", *args, code=code).stdout)

    def scalar(self, sql: str) -> Any:
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            return conn.execute(sql).fetchone()[0]


def iti_for(db: Path, var: Path, cwd: Path) -> Iti:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ITI_")}
    env.update(
        ITI_DATABASE_URL=f"sqlite:///{db}",
        ITI_VAR_DIR=str(var),
        ITI_AUDIT_KEY_PASSPHRASE="test",
        ITI_PROFILE="iti",
        ITI_NODE_COUNTRY="KE",
        COLUMNS="250",  # rich wraps at 80 columns without a terminal; keep each message on one line
        PYTHONWARNINGS="error::DeprecationWarning",  # as strict as the test runner
    )
    return Iti(db, env, cwd)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    var = tmp_path_factory.mktemp("cli-var")
    db = var / "template.db"
    out = iti_for(db, var, var)("db", "upgrade")
    assert "reference rows added" in out.stdout
    return db, var


@pytest.fixture
def iti(migrated: tuple[Path, Path], tmp_path: Path) -> Iti:
    template, var = migrated
    db = tmp_path / "x.db"
    shutil.copy(template, db)
    return iti_for(db, var, tmp_path)


def add_args(serial: str, **overrides: str) -> list[str]:
    options = {
        "category": "SA-PIS",
        "make": "Zorkmid",
        "model": "Z1",
        "calibre": "9x19",
        "serial": serial,
        "country": "KE",
        "year": "2020",
    } | overrides
    return ["weapon", "add", *[x for k, v in options.items() for x in (f"--{k}", v)]]


def test_weapon_lifecycle_and_its_exit_codes(iti: Iti) -> None:
    serial = unique_serial("ZK")
    added = iti(*add_args(serial))
    assert "make 'Zorkmid' is not in the manufacturers table" in added.stderr
    assert "registered" in added.stdout

    (found,) = iti.json("weapon", "find", serial)
    assert (found["make"], found["serial"], found["status"]) == ("Zorkmid", serial, "active")

    duplicate = iti(*add_args(serial), code=5)
    assert "already registered" in duplicate.stderr
    unknown = iti.json(*add_args(unique_serial(), category="SA-XXX"), code=3)
    assert unknown["error"]["field"] == "category"
    assert "SA-XXX" in unknown["error"]["message"]

    iti("event", "add", serial, "stolen", "--location", "Nairobi")
    refused = iti.json(
        "event",
        "add",
        serial,
        "exported",
        "--to-country",
        "UG",
        "--doc",
        "export_licence:EXP-1:2024-01-01:2025-01-01",
        "--data",
        "final_recipient=Uganda Police Force",
        code=5,
    )
    assert refused["error"]["current_status"] == "stolen"
    assert "the weapon is stolen" in refused["error"]["message"]

    history = iti.json("weapon", "history", serial)
    assert [(e["seq"], e["type"]) for e in history] == [(1, "manufactured"), (2, "stolen")]
    assert history[1]["location"] == "Nairobi"
    assert iti.scalar("SELECT count(*) FROM events") == 2


def test_import_is_all_or_nothing_then_skips_invalid_rows_and_exports(iti: Iti, tmp_path: Path) -> None:
    good = [unique_serial("GD") for _ in range(2)]
    path = tmp_path / "weapons.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                f"SA-PIS,Zorkmid,Z1,9x19,{good[0]},KE,2020",
                f"SA-XXX,Zorkmid,Z1,9x19,{unique_serial()},KE,2020",
                f"SA-PIS,Zorkmid,Z1,9x19,{good[1]},KE,20x0",
                f"SA-PIS,Zorkmid,Z1,9x19,{good[1]},KE,2021",
            ]
        )
        + "\n"
    )

    refused = iti("import", str(path), code=3)

    assert "line 3: category:" in refused.stderr
    assert "line 4: year_of_manufacture: year_of_manufacture must be a whole number" in refused.stderr
    assert "nothing was imported" in refused.stderr
    rejects_file = tmp_path / "weapons.csv.rejects.jsonl"
    rejects = [json.loads(line) for line in rejects_file.read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejects] == [(3, "category"), (4, "year_of_manufacture")]
    for table in ("weapons", "events", "import_jobs"):
        assert iti.scalar(f"SELECT count(*) FROM {table}") == 0, table

    rejects_file.unlink()
    result = iti.json("import", str(path), "--skip-invalid")
    assert (result["rows"], result["imported"], result["rejected"]) == (4, 2, 2)
    assert result["rejects_file"] == str(rejects_file)
    assert len(rejects_file.read_text().splitlines()) == 2
    assert iti.scalar("SELECT count(*) FROM weapons") == 2

    exported = iti("export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert sorted(r["serial"] for r in rows) == sorted(good)
    by_serial = {r["serial"]: r for r in rows}
    assert by_serial[good[1]]["year_of_manufacture"] == "2021"
    assert {r["status"] for r in rows} == {"active"}


def test_audit_verify_finds_a_history_row_altered_in_the_database(iti: Iti) -> None:
    iti(*add_args(unique_serial("AV")))
    verified = iti.json("audit", "verify")
    assert verified["ok"] is True
    assert verified["records"] >= 3  # the weapon, its mark and its first event

    with contextlib.closing(sqlite3.connect(iti.db)) as conn:
        conn.execute("DROP TRIGGER trg_events_no_update")
        conn.execute("UPDATE events SET notes = 'x'")
        conn.commit()

    failed = iti("audit", "verify", code=1)
    assert "AUDIT VERIFICATION FAILED" in failed.stderr
    assert "events row" in failed.stderr
    assert "altered outside the registry" in failed.stderr


def test_demo_then_tour(iti: Iti) -> None:
    loaded = iti.json("demo", "--weapons", "60")
    assert loaded["weapons"] == 60

    tour = iti("tour")
    assert "The national record holds 60 weapons" in tour.stdout
    assert "intact" in tour.stdout


def test_a_write_while_another_holds_the_lock_exits_7_with_nothing_written(iti: Iti) -> None:
    """SQLite's one writer is busy past the busy timeout (a long import elsewhere): a clear message and exit 7,
    as the API's 503, not a traceback; the command's transaction is rolled back."""
    with contextlib.closing(sqlite3.connect(iti.db, isolation_level=None)) as holder:
        holder.execute("BEGIN IMMEDIATE")
        out = iti(*add_args(unique_serial("ZK")), code=7)
        holder.execute("ROLLBACK")
    assert "database cannot be reached or is busy (database is locked)" in out.stderr
    assert "Traceback" not in out.stderr
    assert iti.scalar("SELECT count(*) FROM weapons") == 0


def test_a_database_that_is_not_migrated_exits_6(iti: Iti, tmp_path: Path) -> None:
    empty = iti_for(tmp_path / "empty.db", Path(iti.env["ITI_VAR_DIR"]), tmp_path)

    out = empty("weapon", "list", code=6)

    assert "iti db upgrade" in out.stderr
