"""Smoke test of `bench.purge`: on a small `bench.explain` database, both rounds purge the sampled weapons
(their events are gone before the rollback) and the rollback leaves every row and index as it was. Figures not checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bench import purge
from bench.fuzzy import pg_url
from registry.db import make_engine
from tests.bench.explain_db import explain_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[str]:
    with explain_database("purge_smoke", stages="load,history") as name:
        yield name


def _state(name: str) -> tuple[dict[str, int], set[str]]:
    engine = make_engine(pg_url(name, driver=True))
    with engine.connect() as conn:
        rows = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("events", "audit_entries")
        }
        indexes = set(
            conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")).scalars()
        )
    engine.dispose()
    return rows, indexes


def test_both_rounds_purge_and_leave_the_database_as_it_was(database: str) -> None:
    before = _state(database)
    assert set(purge.FK_INDEXES) <= before[1]
    result = purge.run(database, 3)
    assert result["weapons_purged"] == 3
    assert result["their_events"] >= 3
    assert set(result["rounds"]) == {"with_indexes", "without_fk_indexes"}
    assert all(r["events_left_before_rollback"] == 0 for r in result["rounds"].values())
    assert _state(database) == before
