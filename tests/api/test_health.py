from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from registry.config import get_settings


def test_healthz_is_open(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_on_a_migrated_database(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready"}


def test_readyz_on_an_empty_database_is_503_problem(tmp_path: Path) -> None:
    empty = create_app(replace(get_settings(), database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    with TestClient(empty) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "schema_not_current"
