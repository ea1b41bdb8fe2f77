"""The migrations build exactly the models' schema, on SQLite and PostgreSQL, and can be undone and redone."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SAWarning

from registry import migrate
from registry.db import make_engine
from registry.models import Base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine_for(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def drift(engine: Engine) -> list[object]:
    with engine.connect() as conn, warnings.catch_warnings():
        # SQLite's reflection cannot read expression indexes (ix_weapons_upper_model, …_upper_make); PostgreSQL's
        # compares them. SQLite's are checked by name in the test below.
        warnings.filterwarnings(
            "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
        )
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_upgrade_builds_the_models_schema_without_drift(database_url: str, engine_for: Engine) -> None:
    assert not migrate.is_at_head(engine_for)
    migrate.upgrade(database_url)
    assert migrate.is_at_head(engine_for)
    assert migrate.current_revision(engine_for) == migrate.head_revision()
    assert tables(engine_for) == set(Base.metadata.tables) | {"alembic_version"}
    assert drift(engine_for) == []
    if engine_for.dialect.name == "sqlite":
        with engine_for.connect() as conn:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars().all()
        by_name = {"ix_weapons_upper_model", "ix_weapons_upper_make", "ix_weapons_manufacturer_code"}
        assert by_name <= set(names)


def test_upgrade_seeds_the_audit_log_state(database_url: str, engine_for: Engine) -> None:
    migrate.upgrade(database_url)
    with engine_for.connect() as conn:
        rows = conn.execute(text("SELECT id, next_seq FROM audit_log_state")).all()
    assert [tuple(r) for r in rows] == [(1, 0)]


def test_downgrade_to_base_and_upgrade_again(database_url: str, engine_for: Engine) -> None:
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "base")
    assert tables(engine_for) == {"alembic_version"}
    assert migrate.current_revision(engine_for) is None
    assert not migrate.is_at_head(engine_for)

    migrate.upgrade(database_url)
    assert migrate.is_at_head(engine_for)
    assert drift(engine_for) == []


def test_downgrade_one_step_removes_only_the_triggers(database_url: str, engine_for: Engine) -> None:
    migrate.upgrade(database_url, "0001")
    first_tables = tables(engine_for)
    migrate.upgrade(database_url)
    migrate.downgrade(database_url, "0001")
    assert migrate.current_revision(engine_for) == "0001"
    # Every later revision is undone with its tables and triggers; 0001's tables stay, all of them.
    assert tables(engine_for) == first_tables
    assert {"weapons", "markings", "events", "audit_entries"} <= first_tables
    with engine_for.connect() as conn:
        if conn.dialect.name == "postgresql":
            n = conn.execute(text("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal")).scalar_one()
        else:
            n = conn.execute(text("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).scalar_one()
    assert n == 0
    migrate.upgrade(database_url)
    assert migrate.is_at_head(engine_for)


def test_upgrade_at_head_is_a_no_op(database_url: str, engine_for: Engine) -> None:
    migrate.upgrade(database_url)
    migrate.upgrade(database_url)
    assert migrate.is_at_head(engine_for)


def test_0015_accepts_purge_indexes_built_beforehand(database_url: str, engine_for: Engine) -> None:
    """A large registry builds 0015's indexes with CREATE INDEX CONCURRENTLY before upgrading
    (docs/operations.md, "Retention"); the migration must then go through and leave no drift."""
    migrate.upgrade(database_url, "0014")
    with engine_for.begin() as conn:
        conn.execute(
            text(
                "CREATE INDEX ix_events_corrects_event_id ON events (corrects_event_id)"
                " WHERE corrects_event_id IS NOT NULL"
            )
        )
        conn.execute(text("CREATE INDEX ix_component_moves_event_id ON component_moves (event_id)"))
    migrate.upgrade(database_url)
    assert migrate.is_at_head(engine_for)
    assert drift(engine_for) == []
