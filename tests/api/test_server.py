"""The app behind a real uvicorn on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers, weapon_body


@pytest.fixture
def server_url(app: FastAPI) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


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
