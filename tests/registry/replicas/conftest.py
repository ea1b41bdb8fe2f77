"""A migrated primary with a streaming hot standby (`pair`), made once for the package and destroyed after
it. Without PostgreSQL's server binaries the tests skip, except in CI, where they fail."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from registry import migrate
from registry.config import Settings, get_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.conftest import IN_CI
from tests.registry.replicas.cluster import Pair, add_standby, make_pair, pg_bin

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="package")
def pair() -> Iterator[Pair]:
    """One pair for the package, to keep the tests fast: test_read_replicas.py leaves it streaming, and
    test_scripted_failover.py, which promotes the standby, runs after it (pytest runs files by name)."""
    try:
        pg_bin()
    except RuntimeError as exc:
        if IN_CI:
            raise
        pytest.skip(str(exc))
    p = make_pair()
    try:
        url = p.primary.url()
        migrate.upgrade(url)
        engine = make_engine(url)
        with Session(engine) as s, s.begin():
            seed_reference_data(s, actor="test-setup")
        engine.dispose()
        add_standby(p)
        yield p
    finally:
        p.destroy()


def settings_for(primary_url: str, *replica_urls: str, **overrides: object) -> Settings:
    return dataclasses.replace(
        get_settings(), database_url=primary_url, database_replica_urls=tuple(replica_urls), **overrides
    )


def bearer(url: str, username: str, role: str = "record_officer") -> dict[str, str]:
    """A user with a token, committed on the primary at `url`."""
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        user = users.add_user(s, actor="test-setup", username=username, role=role, password=PASSWORD)
        token = users.issue_token(s, user=user).token
    engine.dispose()
    return {"Authorization": f"Bearer {token}"}
