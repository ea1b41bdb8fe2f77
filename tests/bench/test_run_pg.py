"""Smoke test of `bench.run --db postgresql`'s own parts: the psycopg COPY baseline writes the rows the import
would, and the row comparison tells equal data from different data. Small sizes; the figures are not checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import run_pg

pytestmark = pytest.mark.postgres


@pytest.fixture
def databases(tmp_path: Path) -> Iterator[list[str]]:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(run_pg.url("postgres"), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {run_pg.SERVER}: {exc}")
    names = [f"iti_bench_smoke_{uuid.uuid4().hex[:8]}_{side}" for side in "abc"]
    try:
        run_pg.fresh_db(names[0], tmp_path)
        with psycopg.connect(run_pg.url("postgres"), autocommit=True) as con:
            for name in names[1:]:  # copies of the migrated database: one `iti db upgrade` is enough
                con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{names[0]}"')
        yield names
    finally:
        for name in names:
            run_pg.drop(name)


def test_baseline_rows_and_comparison(databases: list[str]) -> None:
    a, b, c = databases
    out = run_pg.baseline_copy(a, 150, seed=1)
    assert out["weapons"] == 150
    assert out["sql_s"] > 0
    run_pg.baseline_copy(b, 150, seed=1)
    same = run_pg.compare_rows(a, b)
    assert same["identical"], same
    assert same["serial_skeletons"]["matched"] == same["serial_skeletons"]["rows"]["import"] >= 150
    size = run_pg.sizes(a)
    assert size["tables"]["weapons"]["rows"] == 150
    assert size["events_per_weapon"] == 1
    assert "fit" not in size  # one event per weapon: no per-event part to separate
    assert size["indexes"]["uq_events_weapon_id_seq"]["table"] == "events"
    assert (
        sum(x["bytes"] for x in size["indexes"].values() if x["table"] == "events")
        == (size["tables"]["events"]["index_bytes"])
    )
    run_pg.baseline_copy(c, 150, seed=2)  # mostly the same serials, other makes and years
    differs = run_pg.compare_rows(a, c)
    assert not differs["identical"]
    assert differs["weapons"]["differing_columns"]  # matched by key, compared column by column
    assert differs["weapons"]["unmatched_weapons"]


def test_refuses_other_database_names() -> None:
    with pytest.raises(SystemExit):
        run_pg.drop("iti_bench_fuzzy; DROP")
    with pytest.raises(SystemExit):
        run_pg.drop("registry")
