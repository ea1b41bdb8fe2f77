"""An officer's saves on SQLite succeed while another connection keeps committing (as the delivery worker
does): a POST's transaction takes the write lock before its first read (api.db, registry.db.WRITES), so a
commit between its reads and its write cannot fail it with "database is locked". Real HTTP, the app's own
engine, a SQLite file."""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from api.app import create_app
from registry import migrate
from registry.config import get_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.api.conftest import weapon_body
from tests.live_server import live_server

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
    # cookie_secure off: httpx, unlike a browser, sends no Secure cookie to http://127.0.0.1.
    settings = dataclasses.replace(
        get_settings(), database_url=url, cookie_secure=False, var_dir=tmp_path / "var"
    )
    with live_server(create_app(settings, engine=engine)) as base:
        yield Served(base, token, engine)
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


def test_a_slow_browser_upload_does_not_hold_the_write_lock(served: Served) -> None:
    """The import page's POST signs the officer in (a read in its write transaction, which on SQLite holds the
    write lock) before the file streams in: the lock must be let go before the upload, or every other
    writer waits for the officer's network (api/ui/imports.py)."""
    boundary = "iti-slow-upload"
    paused, resume = threading.Event(), threading.Event()

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
        ).encode()
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="w.csv"\r\n'
            "Content-Type: text/csv\r\n\r\ncategory,make,model,calibre,serial\r\n"
        ).encode()
        paused.set()
        resume.wait(timeout=30)
        yield f"\r\n--{boundary}--\r\n".encode()

    with httpx.Client(base_url=served.base, timeout=30, follow_redirects=False) as browser:
        r = browser.post(
            "/ui/login", data={"username": "saving-officer", "password": "x" * 12, "next": "/ui/imports"}
        )
        assert r.status_code == 303, r.text
        page = browser.get("/ui/imports")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        answer: list[int] = []
        upload = threading.Thread(
            target=lambda: answer.append(
                browser.post(
                    "/ui/imports",
                    content=body(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                ).status_code
            )
        )
        upload.start()
        try:
            assert paused.wait(timeout=10)
            time.sleep(0.5)  # the server has run the page's dependencies and is reading the body
            with contextlib.closing(sqlite3.connect(served.engine.url.database, timeout=0.5)) as other:
                other.isolation_level = None
                other.execute("BEGIN IMMEDIATE")  # "database is locked" if the upload held the lock
                other.execute("ROLLBACK")
        finally:
            resume.set()
            upload.join(timeout=30)
    assert answer == [303]


def test_a_post_that_only_reads_leaves_the_write_lock_to_others(served: Served) -> None:
    """`POST /api/v1/audit/verify` is a POST because it is costly, and changes nothing (api.db.reads_only):
    its transaction stays deferred, while a save's begins IMMEDIATE."""
    begins: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN"):
            begins.append(statement)

    event.listen(served.engine, "before_cursor_execute", seen)
    try:
        with httpx.Client(
            base_url=served.base, headers={"Authorization": f"Bearer {served.token}"}, timeout=30
        ) as http:
            assert http.post("/api/v1/audit/verify").status_code == 200
            verify_begins = list(begins)
            begins.clear()
            assert http.post("/api/v1/weapons", json=weapon_body()).status_code == 201
    finally:
        event.remove(served.engine, "before_cursor_execute", seen)
    assert verify_begins
    assert "BEGIN IMMEDIATE" not in verify_begins
    assert "BEGIN IMMEDIATE" in begins
