"""Test databases are built by the migrations (never create_all), once per backend per run.

Every test that takes `session` runs twice, on SQLite and on PostgreSQL, inside an outer transaction that is
rolled back at the end, so tests never see each other's rows. With CI=true the PostgreSQL run is mandatory:
an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry import migrate
from registry.config import reload_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data

PG_URL = os.environ.get("ITI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session", autouse=True)
def _test_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keys and the default database live in a temporary folder, never in the developer's var/."""
    var = tmp_path_factory.mktemp("var")
    env = {
        "ITI_VAR_DIR": str(var),
        "ITI_DATABASE_URL": f"sqlite:///{var / 'default.db'}",
        "ITI_AUDIT_KEY_PASSPHRASE": "test-passphrase",
        "ITI_PROFILE": "iti",
        "ITI_NODE_COUNTRY": "KE",
        "ITI_FEDERATION_DELIVERY_INTERVAL": "0",  # no background delivery unless a test starts it
        "ITI_RATE_LIMIT_ENABLED": "false",  # tests/security/test_rate_limits.py turns the limits on
        "ITI_LANG": "en",  # the tests read English output whatever the locale of the machine running them
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    reload_settings()
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reload_settings()


def _postgres_scratch_url() -> str:
    """A fresh database on the PostgreSQL server for this run (dropped at the end)."""
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"iti_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        if IN_CI:
            raise RuntimeError(f"PostgreSQL at {PG_URL} is required in CI: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set ITI_TEST_POSTGRES_URL")
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    name = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _migrated(url: str) -> Engine:
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
    return engine


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    path = Path(tmp_path_factory.mktemp("db")) / "registry.db"
    engine = _migrated(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    url = _postgres_scratch_url()
    engine = _migrated(url)
    yield engine
    engine.dispose()
    _drop_postgres(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(
        {"sqlite": "sqlite_engine", "postgresql": "postgres_engine"}[request.param]
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back: services may flush and even commit."""
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False) as s:
            yield s
        outer.rollback()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A dedicated empty PostgreSQL database for tests that need their own (migrations, concurrency)."""
    url = _postgres_scratch_url()
    yield url
    _drop_postgres(url)
