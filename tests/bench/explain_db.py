"""A small throw-away `bench.explain` database for the smoke tests of the benchmarks that run on a kept one."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from bench.fuzzy import pg_drop


@contextmanager
def explain_database(prefix: str, *, weapons: int = 120, stages: str = "load") -> Iterator[str]:
    """Yields the name of an `iti_bench_<prefix>_*` database loaded by `bench.explain`; dropped afterwards."""
    name = f"iti_bench_{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.explain",
                "--db",
                name,
                "--weapons",
                str(weapons),
                "--stages",
                stages,
                "--keep",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        yield name
    finally:
        pg_drop(name)
