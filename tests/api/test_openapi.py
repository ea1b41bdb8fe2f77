from __future__ import annotations

from fastapi.testclient import TestClient

FIXED = {
    "/api/v1/weapons": {"get", "post"},
    "/api/v1/weapons/{weapon_id}": {"get"},
    "/api/v1/weapons/{weapon_id}/events": {"post"},
    "/api/v1/weapons/{weapon_id}/history": {"get"},
    "/api/v1/auth/token": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
}


def test_openapi_lists_the_fixed_paths(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["title"] == "iti-registry"
    for path, methods in FIXED.items():
        assert methods <= set(doc["paths"][path]), path
    search = doc["paths"]["/api/v1/weapons"]["get"]
    assert "fuzzy=true" in search["description"]  # ranked candidates with score and reason
    assert "application/problem+json" in search["responses"]["422"]["content"]
    assert "application/json" not in search["responses"]["422"]["content"]


def test_every_database_route_documents_503_with_retry_after(client: TestClient) -> None:
    # api.errors answers 503 + Retry-After when the database is down, restarting or (SQLite) busy; the
    # contract must say so, or a client (and the schemathesis suites) would meet an undocumented status.
    doc = client.get("/openapi.json").json()
    for path, item in doc["paths"].items():
        if not path.startswith(("/api/", "/federation/")):
            continue
        for method, op in item.items():
            unavailable = op["responses"].get("503")
            assert unavailable is not None, (method, path)
            assert "Retry-After" in unavailable["headers"], (method, path)
            assert list(unavailable["content"]) == ["application/problem+json"], (method, path)


def test_docs_are_open(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200


def test_unknown_path_is_404_problem(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
