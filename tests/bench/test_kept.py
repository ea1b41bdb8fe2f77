"""Smoke test of `bench.kept` on a small kept database: it reports the size, finds every sampled weapon by its
mark, and `iti audit verify` passes both ways. Figures not checked."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest

from bench import kept
from bench.fuzzy import pg_drop

pytestmark = pytest.mark.postgres


@pytest.fixture
def database() -> Iterator[str]:
    name = f"iti_bench_kept_smoke_{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.explain",
                "--db",
                name,
                "--weapons",
                "120",
                "--stages",
                "load",
                "--keep",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield name
    finally:
        pg_drop(name)


def test_size_lookups_and_verify_on_a_kept_database(database: str) -> None:
    result = kept.run(database, lookups=40, budget_s=10, verify_records=True, seed=1)
    assert result["size"]["tables"]["weapons"]["rows"] == 120
    assert result["lookup"]["misses"] == 0
    assert result["verify"]["log_only"]["entries"] >= 120
    assert result["verify"]["records"]["records"] >= 120
