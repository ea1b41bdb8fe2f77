"""An officer's saves on SQLite succeed while another connection keeps committing (as the delivery worker
does): a POST's transaction takes the write lock before its first read (api.db, registry.db.WRITES), so a
commit between its reads and its write cannot fail it with "database is locked". Real HTTP, the app's own
engine, a SQLite file."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.config import get_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.api.conftest import weapon_body

SAVES = 25


@dataclasses.dataclass
class Served:
    base: str
    token: str
    engine: Engine


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'writes.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
        user = users.add_user(
            s, actor="test-setup", username="saving-officer", role="record_officer", password="x" * 12
        )
        token = users.issue_token(s, user=user).token
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE worker_beats (at REAL NOT NULL)")
    app = create_app(dataclasses.replace(get_settings(), database_url=url), engine=engine)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}", token, engine)
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()
    engine.dispose()


def test_saves_succeed_while_another_connection_keeps_committing(served: Served) -> None:
    stop = threading.Event()
    beats = 0

    def worker() -> None:
        nonlocal beats
        while not stop.is_set():
            with served.engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO worker_beats (at) VALUES (?)", (time.time(),))
            beats += 1
            time.sleep(0.001)

    beating = threading.Thread(target=worker, daemon=True)
    beating.start()
    try:
        with httpx.Client(
            base_url=served.base, headers={"Authorization": f"Bearer {served.token}"}, timeout=30
        ) as http:
            answers = [http.post("/api/v1/weapons", json=weapon_body()) for _ in range(SAVES)]
    finally:
        stop.set()
        beating.join(timeout=10)
    assert [a.status_code for a in answers] == [201] * SAVES, [
        a.text for a in answers if a.status_code != 201
    ]
    assert beats > SAVES, (
        "the other connection must have committed between the saves for this to test anything"
    )
