"""The app against the real test databases (SQLite and PostgreSQL), bound to the test's rolled-back
transaction: each request's session is a savepoint on the `session` fixture's connection. Auth is never
overridden; users and tokens come from the users service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from registry.config import get_settings
from registry.users import service as users
from tests.factories import unique_serial

PASSWORD = "correct horse battery staple"


@pytest.fixture
def app(engine: Engine, session: Session) -> FastAPI:
    conn = session.bind
    assert isinstance(conn, Connection)
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    return create_app(get_settings(), engine=engine, session_factory=factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def login_headers(session: Session, role: str, username: str | None = None) -> dict[str, str]:
    user = users.add_user(
        session,
        actor="test-setup",
        username=username or f"u{unique_serial()}".lower(),
        role=role,
        password=PASSWORD,
    )
    issued = users.issue_token(session, user=user)
    session.flush()
    return {"Authorization": f"Bearer {issued.token}"}


@pytest.fixture
def officer(session: Session) -> dict[str, str]:
    return login_headers(session, "record_officer", "officer-api")


def weapon_body(serial: str | None = None, **overrides: Any) -> dict[str, Any]:
    serial = serial or unique_serial()
    body: dict[str, Any] = {
        "category": "SA-PIS",
        "make": "Glock",
        "model": "17",
        "calibre": "9mm Luger",
        "year_of_manufacture": 2020,
        "markings": [
            {
                "text": f"GLOCK AUSTRIA {serial}",
                "kind": "manufacture",
                "component": "frame",
                "manufacturer": "GLOCK",
                "country": "AT",
                "serial": serial,
                "year": 2020,
            },
            {"text": "IMP KE 2021", "kind": "import", "component": "frame", "country": "KE", "year": 2021},
        ],
        "event": {"type": "imported", "to_country": "KE"},
    }
    body.update(overrides)
    return body
