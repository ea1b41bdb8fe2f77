"""The app behind a real uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers, weapon_body
from tests.live_server import live_server


@pytest.fixture
def server_url(app: FastAPI) -> Iterator[str]:
    with live_server(app) as base:
        yield base


def test_over_real_http(server_url: str, session: Session) -> None:
    headers = login_headers(session, "record_officer")
    with httpx.Client(base_url=server_url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert http.get("/api/v1/weapons").status_code == 401
        created = http.post("/api/v1/weapons", json=weapon_body(), headers=headers)
        assert created.status_code == 201, created.text
        got = http.get(created.headers["location"], headers=headers)
        assert got.status_code == 200
        assert got.json()["id"] == created.json()["id"]
