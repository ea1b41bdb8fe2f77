"""A write load through the real API: registers weapons one after another and remembers which the API
acknowledged (201), for the failover tests to look for afterwards."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import weapon_body
from tests.factories import unique_serial


@dataclass
class Load:
    """Registers weapons one after another until stopped; remembers which the API acknowledged."""

    client: TestClient
    headers: dict[str, str]
    acknowledged: list[tuple[str, float]] = field(default_factory=list)  # (serial, monotonic time of 201)
    failed: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            serial = unique_serial("F")
            try:
                r = self.client.post("/api/v1/weapons", json=weapon_body(serial), headers=self.headers)
            except Exception:  # a transport-level failure is simply "not acknowledged"
                r = None
            if r is not None and r.status_code == 201:
                self.acknowledged.append((serial, time.monotonic()))
            else:
                self.failed += 1
                time.sleep(0.05)

    def wait_for(self, count: int, *, after: float = 0.0, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for _, t in self.acknowledged if t > after) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} writes acknowledged (failed: {self.failed})")
            time.sleep(0.05)


def present(engine: Engine, serials: list[str]) -> set[str]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT serial FROM weapons WHERE serial = ANY(%(s)s)", {"s": serials})
        return {r[0] for r in rows}
