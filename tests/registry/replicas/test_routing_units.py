"""The routing module's pure parts, without a server: log positions, and no routing where none applies."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine

from registry.config import get_settings
from registry.db_routing import format_lsn, parse_lsn, replica_name, routing_from_settings


def test_lsn_text_compares_as_a_number() -> None:
    assert parse_lsn("0/3000000") == 0x3000000
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    # Text order is wrong ("9/0" > "10/0" as strings); number order is right.
    assert parse_lsn("9/FFFFFFFF") < parse_lsn("A/0")


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_lsn_round_trips(value: int) -> None:
    assert parse_lsn(format_lsn(value)) == value


def test_replica_names_carry_no_credentials() -> None:
    assert replica_name("postgresql+psycopg://ro:secret@db2:5433/iti") == "db2:5433/iti"
    assert "secret" not in replica_name("postgresql+psycopg://ro:secret@/iti?host=db3")


def test_no_routing_without_replicas_or_on_sqlite() -> None:
    sqlite = create_engine("sqlite://")
    settings = get_settings()
    assert routing_from_settings(sqlite, settings) is None
    with_replicas = dataclasses.replace(settings, database_replica_urls=("sqlite:///elsewhere.db",))
    assert routing_from_settings(sqlite, with_replicas) is None  # replicas are a PostgreSQL feature
    sqlite.dispose()
