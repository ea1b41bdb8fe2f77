"""Browser-style clients for the web UI: HTTPS base URL (the session cookie is `Secure`), signed in through
the login form itself, never by planting a session."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry.users import service as users
from tests.api.conftest import PASSWORD

BASE = "https://testserver"


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


SignIn = Callable[[str], TestClient]


@pytest.fixture
def sign_in(app: FastAPI, session: Session) -> Iterator[SignIn]:
    """sign_in(role) -> a client whose cookies hold a session of a new user with that role."""
    clients: list[TestClient] = []

    def make(role: str) -> TestClient:
        name = f"ui-{role.replace('_', '-')}-{len(clients)}"
        users.add_user(session, actor="test-setup", username=name, role=role, password=PASSWORD)
        session.flush()
        client = TestClient(app, base_url=BASE, follow_redirects=False)
        client.__enter__()
        clients.append(client)
        r = client.post("/ui/login", data={"username": name, "password": PASSWORD, "next": "/ui/"})
        assert r.status_code == 303, r.text
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
