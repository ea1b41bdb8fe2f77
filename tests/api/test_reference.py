"""Reference tables over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("table", ["categories", "manufacturers", "models", "calibres", "components"])
def test_each_table_is_served(client: TestClient, officer: dict[str, str], table: str) -> None:
    r = client.get(f"/api/v1/reference/{table}", headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["table"] == table
    assert r.json()["items"]


def test_categories_hold_the_pistol(client: TestClient, officer: dict[str, str]) -> None:
    items = client.get("/api/v1/reference/categories", headers=officer).json()["items"]
    assert "SA-PIS" in [c["code"] for c in items]


def test_unknown_table_is_422(client: TestClient, officer: dict[str, str]) -> None:
    r = client.get("/api/v1/reference/weapons", headers=officer)
    assert r.status_code == 422
    assert r.json()["field"] == "table"
