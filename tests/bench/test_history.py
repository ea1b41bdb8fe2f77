"""Smoke test of `bench.history`: the walks are deterministic and within 1–20 events, the registry's own
`record_event` accepts every one of them, the audit log verifies afterwards, and the size step reports its fit.
Small sizes (a few hundred weapons); the figures are not checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench import generate, history, run, run_pg
from registry.audit.checker import verify
from registry.audit.models import AuditEntry
from registry.db import make_engine, make_sessionmaker
from registry.history.models import Event
from registry.weapons import repository as repo

N = 120


def test_histories_are_deterministic_by_seed_and_have_1_to_20_events() -> None:
    first = [(r.serial, p) for r, p in history.histories(N, seed=3)]
    assert first == [(r.serial, p) for r, p in history.histories(N, seed=3)]
    assert first != [(r.serial, p) for r, p in history.histories(N, seed=4)]
    # A prefix of a longer run: weapon k's history needs only (seed, k).
    assert first[:50] == [(r.serial, p) for r, p in history.histories(50, seed=3)]
    counts = [1 + len(p) for _, p in first]
    assert min(counts) >= 1
    assert max(counts) <= history.MAX_EVENTS


def test_count_distribution_and_terminal_destruction() -> None:
    out = history.shares(3000, seed=1)
    assert 4.5 < out["mean_events"] < 5.5
    assert set(out["events_per_weapon"]) <= set(range(1, history.MAX_EVENTS + 1))
    assert out["type_shares"]["transferred"] > 0.3  # changes of holder dominate
    for _, planned in history.histories(500, seed=1):
        assert all(p.type != "destroyed" for p in planned[:-1])
        assert [p.at for p in planned] == sorted(p.at for p in planned)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite registry that `iti import` filled with the first N weapons of seed 1."""
    work = tmp_path_factory.mktemp("hist")
    db = run.fresh_db(work / "registry.db")
    csv = generate.write_file(work / "weapons.csv", N, 1)
    child = run.run_child(
        [*run.iti_command(), "--json", "import", str(csv)], run.iti_env(db), work / "import.log"
    )
    assert child.output["imported"] == N
    return db


def test_every_history_is_recorded_through_the_service_and_the_log_verifies(imported: Path) -> None:
    engine = make_engine(f"sqlite:///{imported}")
    sessions = make_sessionmaker(engine)
    out = history.load(sessions, N, seed=1, batch=25)
    assert out["weapons"] == N
    assert out["events_added"] == sum(len(p) for _, p in history.histories(N, 1))
    with sessions() as session:
        for record, planned in history.histories(N, 1):
            weapon = repo.by_uniqueness_key(session, history.weapon_key(record))
            assert weapon is not None
            stored = [e.type for e in repo.events_of(session, weapon.id)]
            assert stored == ["manufactured", *(p.type for p in planned)]
        audited = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action.like("event.%"))
        )
        assert (
            audited
            == out["events_added"]
            == session.scalar(select(func.count()).select_from(Event).where(Event.seq > 1))
        )
        report = verify(session)
    assert report.problems == []
    engine.dispose()


@pytest.fixture
def pg_database(tmp_path: Path) -> Iterator[str]:
    psycopg = pytest.importorskip("psycopg")
    try:
        psycopg.connect(run_pg.url("postgres"), connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {run_pg.SERVER}: {exc}")
    name = f"iti_bench_hist_{uuid.uuid4().hex[:8]}"
    try:
        run_pg.fresh_db(name, tmp_path)
        yield name
    finally:
        run_pg.drop(name)


@pytest.mark.postgres
def test_size_fit_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    n = 60
    csv = generate.write_file(tmp_path / "weapons.csv", n, 1)
    env = run_pg.env(pg_database, tmp_path / "var")
    run.run_child([*run.iti_command(), "--json", "import", str(csv)], env, tmp_path / "import.log")
    assert "fit" not in run_pg.sizes(pg_database)  # one event per weapon: nothing to fit
    engine = make_engine(run_pg.url(pg_database, driver=True))
    out = history.load(make_sessionmaker(engine), n, seed=1, batch=20)
    engine.dispose()
    size = run_pg.sizes(pg_database, vacuum="plain")
    fit = size["fit"]
    for key in (
        "fixed_per_weapon",
        "per_event",
        "bytes_per_weapon_at_mean",
        "bytes_per_weapon_with_5_events",
    ):
        assert fit[key] > 0
    assert fit["events"] == n + out["events_added"]
    # The parts add up to the measured tables.
    assert fit["bytes_per_weapon_at_mean"] == pytest.approx(size["bytes_per_weapon"])
    at_mean = fit["fixed_per_weapon"] + fit["per_event"] * (fit["mean_events"] - 1)
    assert at_mean == pytest.approx(fit["bytes_per_weapon_at_mean"])
    assert set(fit["per_event_parts"]) == {"events", "audit_entries", "markings"}
    assert {x["table"] for x in size["indexes"].values()} == set(run_pg.TABLES)
    assert "uq_events_weapon_id_seq" in size["indexes"]
    assert run_pg.sizes(pg_database, vacuum="full")["fit"]["per_event"] > 0
