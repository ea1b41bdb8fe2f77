"""Smoke test of `bench.partition` at a tiny size: the partitioned copies hold the plain tables' rows, what
PostgreSQL refuses on them is recorded, and the report has its parts. The figures are not checked."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bench import partition
from bench.fuzzy import pg_url

pytestmark = pytest.mark.postgres


@pytest.fixture
def reachable() -> None:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(pg_url("postgres"), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")


def test_tiny_run(reachable: None, tmp_path: Path) -> None:
    db = f"iti_bench_part_smoke_{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out.json"
    args = ["--db", db, "--weapons", "300", "--calls", "5", "--bulk", "200", "--audit-per-partition", "100"]
    r = partition.main(
        [*args, "--workdir", str(tmp_path / "work"), "--json", str(out), "--md", str(tmp_path / "o.md")]
    )

    for table in ("events", "audit_entries"):
        assert r["same_rows"][table]["identical"], r["same_rows"]
        assert r["same_rows"][table]["rows"] == r["same_rows"][table]["partitioned_rows"] > 0
        assert r["build"][table]["partitions"] > 1
        assert r["sizes"][table]["partitioned"]["total_bytes"] > 0
        assert r["maintenance"][table]["partitioned"]["vacuum"]["pages"] > 0
        for side in ("plain", "partitioned"):
            assert r["bulk_insert"][side][table]["rows"] == 200
    assert r["same_rows"]["events"]["copies_identical"] == {"appended": True, "indexed": True}
    assert r["bulk_insert"]["indexed"]["events"]["rows"] == 200
    refused = {a["attempt"]: a["accepted"] for a in r["constraints"]["attempts"]}
    assert not refused["events primary key (id), partitioned by occurred_at"]
    assert not refused["events unique (weapon_id, seq), partitioned by occurred_at"]
    dup = r["constraints"]["duplicate_seq"]
    assert not dup["public"]["accepted"]  # the plain table refuses a second seq 2 of a weapon …
    assert dup["part"]["accepted"]  # … the partitioned copy stores it when its occurred_at is a year apart
    names = [p["path"] for p in r["paths"]]
    assert "weapon timeline (history.history)" in names
    assert "record an event (record_event, commit)" in names
    for p in r["paths"]:
        assert p["plain"]["calls"] > 0, p["path"]
        assert p["partitioned"]["calls"] > 0, p["path"]
        assert len(p["loadavg_before"]) == 3
    assert json.loads(out.read_text(encoding="utf-8"))["rows"]["weapons"] == 300
    assert "| Path |" in (tmp_path / "o.md").read_text(encoding="utf-8")


def test_refuses_other_database_names() -> None:
    with pytest.raises(SystemExit):
        partition.main(["--db", "registry", "--reuse"])
