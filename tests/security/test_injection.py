"""Injection and abuse over the app (TestClient, the real test databases): SQL-ish, path-traversal, NUL, very
long, confusable and right-to-left strings in every search and upload field answer 4xx or a correct (empty)
result, never 5xx; searches write nothing; an upload's name never becomes a path; oversized and malformed
uploads and bodies are refused by status."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from registry.config import get_settings
from registry.organisations.models import Organisation
from registry.persons.models import Person
from registry.users import service as users
from registry.weapons.models import Weapon
from tests.api.conftest import PASSWORD, login_headers, weapon_body
from tests.api.ui.conftest import BASE
from tests.tracing.requests.conftest import setup_node

HOSTILE = [
    "' OR 1=1--",
    "'; DROP TABLE weapons;--",
    '" OR ""="',
    "1) UNION SELECT username, password_hash FROM users--",
    "%",
    "_",
    "%00",
    "\x00",
    "a\x00b",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "/etc/passwd",
    "A" * 5000,
    "?" * 300,
    "*" * 40,
    "ΑΒ12345",  # Greek capitals that look like Latin
    "АВ12345",  # Cyrillic
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200d",  # zero-width
    "ﬀ①Ⅻ",  # compatibility characters NFKC changes
    "<script>alert(1)</script>",
    "{{7*7}}",
    "$(id)",
    "\r\nSet-Cookie: x=1",
]


def counts(session: Session) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Weapon, Organisation, Person)
    )


def check(r, *, allow: tuple[int, ...] = (200,)) -> None:  # type: ignore[no-untyped-def]
    assert r.status_code < 500, (r.request.url, r.status_code, r.text[:300])
    assert r.status_code in allow or 400 <= r.status_code < 500, (r.request.url, r.status_code)


def test_search_fields(client: TestClient, session: Session, officer: dict[str, str]) -> None:
    registered = client.post("/api/v1/weapons", json=weapon_body(), headers=officer)
    assert registered.status_code == 201, registered.text
    before = counts(session)
    for value in HOSTILE:
        searches = [
            ("/api/v1/weapons", {"serial": value}),
            ("/api/v1/weapons", {"serial": value, "fuzzy": "true"}),
            ("/api/v1/weapons", {"make": value, "model": value}),
            ("/api/v1/weapons", {"status": value}),
            ("/api/v1/weapons", {"category": value}),
            ("/api/v1/weapons", {"cursor": value}),
            ("/api/v1/weapons/export.csv", {"serial": value}),
            ("/api/v1/organisations", {"kind": value}),
            ("/api/v1/organisations", {"country": value}),
            ("/api/v1/organisations", {"cursor": value}),
            ("/api/v1/persons", {"identity_number": value, "identity_country": "KE", "purpose": "trace"}),
            ("/api/v1/persons", {"identity_number": "X1", "identity_country": value, "purpose": value}),
            ("/api/v1/traces", {"state": value}),
            ("/api/v1/traces", {"country": value}),
        ]
        for path, params in searches:
            r = client.get(path, params=params, headers=officer)
            check(r)
            if r.status_code == 200 and r.headers["content-type"].startswith("application/json"):
                doc = r.json()
                items = doc.get("items", doc) if isinstance(doc, dict) else doc
                # Never everything: no hostile string matches the registered weapon (an injected OR would).
                found = [i for i in items if isinstance(i, dict) and i.get("id") == registered.json()["id"]]
                assert not found, (path, params)
    assert counts(session) == before, "a search wrote a record"


def test_path_parameters(client: TestClient, officer: dict[str, str]) -> None:
    for value in HOSTILE:
        for path in ("/api/v1/weapons/{}", "/api/v1/organisations/{}", "/api/v1/weapons/{}/history"):
            check(client.get(path.format(quote(value, safe="")), headers=officer), allow=())


def test_write_fields_are_stored_as_text_or_refused(client: TestClient, officer: dict[str, str]) -> None:
    for value in HOSTILE:
        body = weapon_body()
        body["description"] = value
        body["markings"][0]["location"] = value
        check(client.post("/api/v1/weapons", json=body, headers=officer), allow=(201,))
        org = client.post(
            "/api/v1/organisations", json={"name": value, "kind": "dealer", "country": "KE"}, headers=officer
        )
        check(org, allow=(201,))
        if org.status_code == 201:
            stored = client.get(f"/api/v1/organisations/{org.json()['id']}", headers=officer).json()["name"]
            assert stored in (value, value.strip()), "stored as given (text), never interpreted"


def test_trace_fields(client: TestClient, session: Session, tmp_path: Path) -> None:
    setup_node(session, tmp_path)
    poc = login_headers(session, "poc_officer")
    for value in HOSTILE:
        body = {
            "requested_country": "UG",
            "case_reference": value,
            "illicit_nature": value,
            "legal_justification": value,
            "intended_use": value,
            "markings": [{"text": value, "position": value, "serial": value}],
            "category": "SA-ASR",
            "recovery_kind": "seized",
            "recovery_place": value,
        }
        check(client.post("/api/v1/traces", json=body, headers=poc), allow=(201,))
        for bad in ({"requested_country": value}, {"category": value}, {"recovery_kind": value}):
            check(client.post("/api/v1/traces", json={**body, **bad}, headers=poc), allow=(201,))


def test_ui_search_and_login_forms(app: FastAPI, session: Session) -> None:
    users.add_user(session, actor="test-setup", username="ui-sec", role="record_officer", password=PASSWORD)
    session.flush()
    with TestClient(app, base_url=BASE, follow_redirects=False) as browser:
        for value in HOSTILE:
            r = browser.post("/ui/login", data={"username": value, "password": value, "next": value})
            check(r, allow=(401,))
        for value in HOSTILE:
            r = browser.post("/ui/login", data={"username": "ui-sec", "password": PASSWORD, "next": value})
            assert r.status_code == 303
            assert r.headers["location"].startswith("/ui"), "the next= after login must stay on this site"
            for params in (
                {"serial": value},
                {"serial": value, "fuzzy": "true"},
                {"make": value, "status": value},
            ):
                check(browser.get("/ui/weapons", params=params))
            check(browser.get("/ui/language", params={"lang": value, "next": value}), allow=(303, 307))


# --- uploads ----------------------------------------------------------------------------------------------

GOOD_CSV = (
    b"category,make,serial,country_of_manufacture,year_of_manufacture\nSA-PIS,Glock,SEC123456,AT,2019\n"
)


@pytest.fixture
def small_uploads(engine: Engine, session: Session) -> Iterator[TestClient]:
    """The app with a 4 KiB upload limit, bound to the test transaction."""
    conn = session.bind
    assert isinstance(conn, Connection)
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    settings = dataclasses.replace(get_settings(), max_upload_bytes=4096)
    with TestClient(create_app(settings, engine=engine, session_factory=factory)) as c:
        yield c


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "filename",
    [
        "../../../../tmp/iti-evil-{tag}.csv",
        "..\\..\\iti-evil-{tag}.csv",
        "/tmp/iti-evil-{tag}.csv",  # noqa: S108 (the attack under test, not a file we write)
        "iti-evil-{tag}\x00.csv",
        "iti-evil-{tag}" + "A" * 3000 + ".csv",
        "\u202eiti-evil-{tag}vsc.exe",
        "' OR 1=1--{tag}.csv",
    ],
)
def test_upload_names_never_become_paths(small_uploads: TestClient, session: Session, filename: str) -> None:
    officer = login_headers(session, "record_officer")
    tag = uuid.uuid4().hex
    name = filename.format(tag=tag)
    var = get_settings().var_dir
    root = var.parent  # this test run's temporary folder, which holds the var dir
    before = files_under(root)
    r = small_uploads.post(
        "/api/v1/imports",
        files={"file": (name, GOOD_CSV, "text/csv")},
        data={"format": "csv"},
        headers=officer,
    )
    check(r, allow=(202,))
    created = files_under(root) - before
    assert all(var in p.parents for p in created), f"written outside the var dir: {created}"
    assert not any(tag in p.name for p in created), "the upload's own name became a file name"
    assert not list(Path("/tmp").glob(f"iti-evil-{tag}*"))  # noqa: S108 (where a traversal would land)


def test_oversized_and_malformed_uploads(small_uploads: TestClient, session: Session) -> None:
    officer = login_headers(session, "record_officer")
    var = get_settings().var_dir
    before = files_under(var)

    def post(**kwargs):  # type: ignore[no-untyped-def]
        kwargs["headers"] = {**officer, **kwargs.get("headers", {})}
        return small_uploads.post("/api/v1/imports", **kwargs)

    big = post(files={"file": ("big.csv", GOOD_CSV + b"x" * 10_000, "text/csv")})
    assert big.status_code == 413, big.text
    assert (
        post(content=b"category,make\n", headers={**officer, "content-type": "text/csv"}).status_code == 415
    )
    assert post(json={"file": "x"}).status_code == 415
    broken = post(
        content=b"--x\r\nnot a part", headers={**officer, "content-type": "multipart/form-data; boundary=x"}
    )
    assert 400 <= broken.status_code < 500
    for name, content, ctype in (
        ("a.pdf", b"%PDF-1.7\n" + b"\x00" * 100, "application/pdf"),
        ("a.exe", b"MZ\x90\x00" + b"\x00" * 100, "application/x-msdownload"),
        ("a.csv", b"\xff\xfe\x00c\x00a\x00t", "text/csv"),
        ("a.xlsx", b"PK\x03\x04" + b"\x00" * 100, "application/vnd.ms-excel"),
    ):
        r = post(files={"file": (name, content, ctype)})
        assert r.status_code in (415, 422), (name, r.status_code, r.text)
    for fmt in ("xml", "../csv", "csv' OR 1=1--", "\x00"):
        r = post(files={"file": ("a.csv", GOOD_CSV, "text/csv")}, data={"format": fmt})
        assert r.status_code == 422, (fmt, r.status_code, r.text)
    assert files_under(var) == before, "a refused upload left a file behind"


def test_malformed_and_oversized_json_bodies(
    client: TestClient, session: Session, officer: dict[str, str]
) -> None:
    before = counts(session)
    for content, ctype in (
        (b"{", "application/json"),
        (b"\xff\xfe{}", "application/json"),
        (b'{"category": "SA-PIS"' + b", " * 10 + b"}", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"a": 1e999999}', "application/json"),
        (b"category=SA-PIS", "application/x-www-form-urlencoded"),
        (b"<weapon/>", "application/xml"),
    ):
        r = client.post("/api/v1/weapons", content=content, headers={**officer, "content-type": ctype})
        assert 400 <= r.status_code < 500, (content[:40], r.status_code, r.text[:200])
    huge = weapon_body(description="x" * (2 * 1024 * 1024))
    r = client.post("/api/v1/weapons", json=huge, headers=officer)
    assert r.status_code < 500, r.status_code
    assert counts(session)[0] - before[0] <= 1
