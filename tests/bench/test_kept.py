"""Smoke test of `bench.kept` on a small kept database: it reports the size, finds every sampled weapon by its
mark, and `iti audit verify` passes both ways. Figures not checked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import kept
from tests.bench.explain_db import explain_database

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[str]:
    with explain_database("kept_smoke", stages="load") as name:
        yield name


def test_size_lookups_and_verify_on_a_kept_database(database: str) -> None:
    result = kept.run(database, lookups=40, budget_s=10, verify_records=True, seed=1)
    assert result["size"]["tables"]["weapons"]["rows"] == 120
    assert result["lookup"]["misses"] == 0
    assert result["verify"]["log_only"]["entries"] >= 120
    assert result["verify"]["records"]["records"] >= 120
