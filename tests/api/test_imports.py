"""`/api/v1/imports` (issue 3): upload → 202 job → poll → done or failed with a rejects CSV; 413, 415, 403;
progress observable while the background thread imports; a job left running by a dead process is failed at
the next start.

The runner is a real background thread with its own connections, so these tests run the app on committed
databases of their own (one per backend for the module), not inside the test transaction.
"""

from __future__ import annotations

import csv
import io
import json
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.imports.router import runner_for
from registry.config import Settings, get_settings
from registry.db import utcnow
from registry.imports import jobs
from registry.imports.jobs_models import ImportJobRun
from registry.users.roles import Permission, Role, has_permission
from registry.weapons.models import Weapon
from tests.api.conftest import login_headers
from tests.conftest import _drop_postgres, _migrated, _postgres_scratch_url
from tests.factories import unique_serial
from tests.registry.imports.test_import import COLUMNS, row

PROBLEM = "application/problem+json"
LIMIT = 64 * 1024


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = _migrated(f"sqlite:///{tmp_path_factory.mktemp('imports') / 'registry.db'}")
        yield engine
        engine.dispose()
        return
    url = _postgres_scratch_url()
    engine = _migrated(url)
    yield engine
    engine.dispose()
    _drop_postgres(url)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(get_settings(), var_dir=tmp_path / "var", max_upload_bytes=LIMIT)


def make_app(db: Engine, settings: Settings) -> FastAPI:
    return create_app(settings, engine=db)


@pytest.fixture
def app(db: Engine, settings: Settings) -> FastAPI:
    return make_app(db, settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:  # runs the lifespan: the runner starts and stops with the app
        yield c


def headers_for(db: Engine, role: str) -> dict[str, str]:
    with Session(db) as s, s.begin():
        return login_headers(s, role)


@pytest.fixture
def officer(db: Engine) -> dict[str, str]:
    return headers_for(db, "record_officer")


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def post_file(
    client: TestClient,
    headers: dict[str, str],
    content: bytes,
    *,
    name: str = "armoury.csv",
    content_type: str = "text/csv",
    data: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post(
        "/api/v1/imports", files={"file": (name, content, content_type)}, data=data or {}, headers=headers
    )


def wait_until_finished(client: TestClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        body = client.get(url, headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def count_serials(db: Engine, serials: list[str]) -> int:
    with Session(db) as s:
        return s.execute(
            select(func.count()).select_from(Weapon).where(Weapon.serial.in_(serials))
        ).scalar_one()


def test_a_good_file_is_accepted_runs_in_the_background_and_imports_every_row(
    client: TestClient, officer: dict[str, str], db: Engine
) -> None:
    serials = [unique_serial() for _ in range(25)]
    r = post_file(client, officer, csv_bytes([row(s) for s in serials]))

    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/imports/{job['id']}" == job["links"]["self"]
    assert job["status"] in ("queued", "validating", "importing", "done")
    assert job["source_name"] == "armoury.csv"
    assert job["format"] == "csv"
    done = wait_until_finished(client, r.headers["location"], officer)
    assert done["status"] == "done", done
    assert (done["rows_total"], done["rows_processed"], done["rows_imported"], done["rows_rejected"]) == (
        25,
        25,
        25,
        0,
    )
    assert done["import_job_id"] is not None
    assert done["started_at"] is not None
    assert done["finished_at"] is not None
    assert done["links"]["rejects"] is None
    assert count_serials(db, serials) == 25
    mine = client.get("/api/v1/imports", headers=officer).json()["items"]
    assert mine[0]["id"] == job["id"]
    other = client.get("/api/v1/imports", headers=headers_for(db, "record_officer")).json()["items"]
    assert job["id"] not in [j["id"] for j in other], "the list shows the caller's own jobs"


def test_bad_rows_commit_nothing_and_the_rejects_csv_lists_every_one(
    client: TestClient, officer: dict[str, str], db: Engine
) -> None:
    good = [unique_serial() for _ in range(10)]
    rows = [row(s) for s in good]
    rows[3] = row(good[3], year_of_manufacture="1999x")  # line 5
    rows[7] = row(good[7], make="")  # line 9
    r = post_file(client, officer, csv_bytes(rows), name="depot 7.csv")
    assert r.status_code == 202, r.text

    failed = wait_until_finished(client, r.headers["location"], officer)

    assert failed["status"] == "failed"
    assert (failed["rows_total"], failed["rows_imported"], failed["rows_rejected"]) == (10, 0, 2)
    assert "nothing was imported" in failed["error"]
    assert count_serials(db, good) == 0
    rejects = client.get(failed["links"]["rejects"], headers=officer)
    assert rejects.status_code == 200
    assert rejects.headers["content-type"].startswith("text/csv")
    assert rejects.headers["content-disposition"] == 'attachment; filename="depot_7-rejects.csv"'
    report = list(csv.DictReader(io.StringIO(rejects.text)))
    assert [(r["row"], r["field"], r["value"]) for r in report] == [
        ("5", "year_of_manufacture", "1999x"),
        ("9", "make", ""),
    ]
    assert all(r["message"] for r in report)


def test_progress_is_observable_while_the_job_runs(db: Engine, settings: Settings) -> None:
    """The runner pauses inside its progress callback (mid-import, the transaction open) until the test has
    seen the progress over HTTP."""
    app = make_app(db, settings)
    runner = runner_for(app)
    runner.batch_size = 20
    reached, release = threading.Event(), threading.Event()

    def pause(_job_id: uuid.UUID, live: jobs.Live) -> None:
        if live.rows_processed >= 40 and not reached.is_set():
            reached.set()
            release.wait(30)

    runner.on_progress = pause
    officer = headers_for(db, "record_officer")
    serials = [unique_serial() for _ in range(100)]
    with TestClient(app) as client:
        r = post_file(client, officer, csv_bytes([row(s) for s in serials]))
        assert r.status_code == 202
        try:
            assert reached.wait(30), "the import never reported progress"
            live = client.get(r.headers["location"], headers=officer)
            body = live.json()
            assert body["status"] == "importing"
            assert body["rows_total"] == 100
            assert 40 <= body["rows_processed"] < 100
            assert live.headers["retry-after"] == "2"
            listed = client.get("/api/v1/imports", headers=officer).json()["items"][0]
            assert listed["status"] == "importing"
            assert count_serials(db, serials) == 0, "nothing is visible before the import commits"
        finally:
            release.set()
        done = wait_until_finished(client, r.headers["location"], officer)
    assert done["status"] == "done"
    assert done["rows_processed"] == 100
    assert count_serials(db, serials) == 100


def test_a_job_left_running_by_a_dead_process_is_failed_when_the_server_starts(
    db: Engine, settings: Settings, tmp_path: Path
) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    upload = tmp_path / "stale" / "upload"
    upload.parent.mkdir()
    upload.write_bytes(csv_bytes([row(unique_serial())]))
    with Session(db) as s, s.begin():
        run = jobs.start_job(s, upload_path=upload, filename="stale.csv", fmt=None, actor="officer-crashed")
        run.status, run.runner, run.started_at = "importing", f"{socket.gethostname()}:{proc.pid}", utcnow()
        job_id = run.id
    officer = headers_for(db, "record_officer")

    with TestClient(make_app(db, settings)) as client:
        body = client.get(f"/api/v1/imports/{job_id}", headers=officer).json()

    assert body["status"] == "failed"
    assert body["error"].startswith("interrupted")
    assert body["finished_at"] is not None
    assert body["rows_imported"] == 0


def test_a_queued_job_left_by_a_stopped_server_runs_at_the_next_start(
    db: Engine, settings: Settings, tmp_path: Path
) -> None:
    serial = unique_serial()
    upload = tmp_path / "queued" / "upload"
    upload.parent.mkdir()
    upload.write_bytes(csv_bytes([row(serial)]))
    with Session(db) as s, s.begin():
        job_id = jobs.start_job(s, upload_path=upload, filename="q.csv", fmt=None, actor="officer-q").id
    officer = headers_for(db, "record_officer")
    with TestClient(make_app(db, settings)) as client:
        body = wait_until_finished(client, f"/api/v1/imports/{job_id}", officer)
    assert body["status"] == "done"
    assert count_serials(db, [serial]) == 1


def test_an_upload_over_the_limit_is_413_and_not_kept(
    client: TestClient, officer: dict[str, str], settings: Settings
) -> None:
    big = csv_bytes([row(unique_serial()) for _ in range(2000)])
    assert len(big) > LIMIT
    r = post_file(client, officer, big)
    assert r.status_code == 413
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "file"
    assert str(LIMIT) in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while reading
        boundary = b"--b0undary"
        yield boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\n'
        yield from (big[i : i + 8192] for i in range(0, len(big), 8192))
        yield b"\r\n" + boundary + b"--\r\n"

    streamed = client.post(
        "/api/v1/imports",
        content=chunks(),
        headers={**officer, "Content-Type": "multipart/form-data; boundary=b0undary"},
    )
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == PROBLEM
    kept = list((settings.var_dir / "imports").glob("*/*")) if (settings.var_dir / "imports").exists() else []
    assert kept == []


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("register.xlsx", b"PK\x03\x04 a spreadsheet", "application/vnd.openxmlformats"),
        ("register.csv", b"%PDF-1.7\n\x00\x01\x02binary", "text/csv"),
        ("register.pdf", b"%PDF-1.7", "application/pdf"),
    ],
)
def test_a_file_of_another_type_is_415(
    client: TestClient, officer: dict[str, str], name: str, content: bytes, content_type: str
) -> None:
    r = post_file(client, officer, content, name=name, content_type=content_type)
    assert r.status_code == 415, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "file"


def test_a_body_that_is_not_multipart_is_415(client: TestClient, officer: dict[str, str]) -> None:
    r = client.post("/api/v1/imports", json={"file": "x"}, headers=officer)
    assert r.status_code == 415
    assert r.headers["content-type"] == PROBLEM


def test_form_mistakes_are_4xx_problems(client: TestClient, officer: dict[str, str]) -> None:
    good = csv_bytes([row(unique_serial())])
    no_file = client.post("/api/v1/imports", data={"format": "csv"}, files={"x": ("a", b"")}, headers=officer)
    assert no_file.status_code == 400
    assert no_file.json()["field"] == "file"
    bad_format = post_file(client, officer, good, data={"format": "xml"})
    assert bad_format.status_code == 422
    assert bad_format.json()["field"] == "format"
    no_org = post_file(client, officer, good, data={"custody_of": "NO-SUCH-COMPANY"})
    assert no_org.status_code == 404
    assert no_org.json()["field"] == "custody_of"
    assert client.get(f"/api/v1/imports/{uuid.uuid4()}", headers=officer).status_code == 404
    assert client.get(f"/api/v1/imports/{uuid.uuid4()}/rejects", headers=officer).status_code == 404


def test_jsonl_by_content_type_and_explicit_format(
    client: TestClient, officer: dict[str, str], db: Engine
) -> None:
    serial = unique_serial()
    record = {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "serial": serial,
        "country_of_manufacture": "AT",
        "year_of_manufacture": 2020,
    }
    line = json.dumps(record).encode() + b"\n"
    r = post_file(client, officer, line, name="export", content_type="application/x-ndjson")
    assert r.status_code == 202, r.text
    assert r.json()["format"] == "jsonl"
    assert wait_until_finished(client, r.headers["location"], officer)["status"] == "done"
    assert count_serials(db, [serial]) == 1


@pytest.mark.parametrize("role", [r for r in Role if not has_permission(r, Permission.IMPORT)])
def test_roles_without_import_permission_get_403(client: TestClient, db: Engine, role: Role) -> None:
    headers = headers_for(db, role.value)
    content = csv_bytes([row(unique_serial())])
    for method, path, kw in [
        ("POST", "/api/v1/imports", {"files": {"file": ("a.csv", content, "text/csv")}}),
        ("GET", "/api/v1/imports", {}),
        ("GET", f"/api/v1/imports/{uuid.uuid4()}", {}),
        ("GET", f"/api/v1/imports/{uuid.uuid4()}/rejects", {}),
    ]:
        r = client.request(method, path, headers=headers, **kw)
        assert r.status_code == 403, (method, path, r.status_code)
        assert r.headers["content-type"] == PROBLEM


def test_no_credentials_is_401(client: TestClient) -> None:
    r = client.post("/api/v1/imports", files={"file": ("a.csv", b"x", "text/csv")})
    assert r.status_code == 401


def test_the_list_pages_with_a_cursor(client: TestClient, db: Engine) -> None:
    headers = headers_for(db, "record_officer")
    ids = []
    for _ in range(3):
        r = post_file(client, headers, csv_bytes([row(unique_serial())]))
        ids.append(r.json()["id"])
        wait_until_finished(client, r.headers["location"], headers)
    first = client.get("/api/v1/imports?limit=2", headers=headers).json()
    assert [j["id"] for j in first["items"]] == ids[::-1][:2]
    second = client.get(first["next"], headers=headers).json()
    assert [j["id"] for j in second["items"]] == ids[:1]
    with Session(db) as s:
        assert s.execute(select(func.count()).select_from(ImportJobRun)).scalar_one() >= 3


def test_an_app_bound_to_the_test_transaction_runs_jobs_inline(session: Session) -> None:
    """The usual API test app (tests/api/conftest.py) shares one connection, which a background thread must
    not use: its runner runs each job in the request's background task, so it is finished when POST returns."""
    conn = session.bind
    assert isinstance(conn, Connection)
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    app = create_app(get_settings(), engine=conn.engine, session_factory=factory)
    headers = login_headers(session, "record_officer")
    serial = unique_serial()
    with TestClient(app) as client:
        r = post_file(client, headers, csv_bytes([row(serial)]))
        assert r.status_code == 202
        assert runner_for(app).inline
        assert not runner_for(app).running
        body = client.get(r.headers["location"], headers=headers).json()
    assert body["status"] == "done"
    assert (
        session.execute(select(func.count()).select_from(Weapon).where(Weapon.serial == serial)).scalar_one()
        == 1
    )


def test_sqlite_busy_with_another_writer_is_503_not_500(tmp_path: Path, settings: Settings) -> None:
    """On SQLite an import (here: a held write lock) blocks other writers; queuing an upload then answers 503
    with Retry-After once the busy timeout (shortened here) runs out, and keeps nothing."""
    engine = _migrated(f"sqlite:///{tmp_path / 'busy.db'}")
    event.listen(engine, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA busy_timeout=200"))
    engine.dispose()  # new connections get the short timeout
    officer = headers_for(engine, "record_officer")
    holder = engine.raw_connection()
    try:
        with TestClient(make_app(engine, settings)) as client:
            holder.cursor().execute("BEGIN IMMEDIATE")
            r = post_file(client, officer, csv_bytes([row(unique_serial())]))
            holder.rollback()
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["retry-after"] == "30"
        assert list((settings.var_dir / "imports").glob("*/*")) == []
    finally:
        holder.close()
        engine.dispose()
