"""Organisations over HTTP: register, read with an ETag, change with If-Match, license, close."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import unique_serial

PROBLEM = "application/problem+json"
BASE = "/api/v1/organisations"


def create(client: TestClient, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {"name": f"Org {unique_serial()}", "kind": "dealer", "country": "KE", **overrides}
    r = client.post(BASE, json=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{BASE}/{r.json()['id']}"
    return r.json()


def test_register_read_and_list(client: TestClient, officer: dict[str, str]) -> None:
    org = create(client, officer, kind="manufacturer")
    r = client.get(f"{BASE}/{org['id']}", headers=officer)
    assert r.status_code == 200
    assert r.headers["etag"] == '"1"'
    assert r.json()["name"] == org["name"]
    listed = client.get(BASE, params={"kind": "manufacturer", "country": "KE"}, headers=officer).json()
    assert org["id"] in [o["id"] for o in listed["items"]]


def test_patch_with_if_match_bumps_the_version(client: TestClient, officer: dict[str, str]) -> None:
    org = create(client, officer)
    r = client.patch(
        f"{BASE}/{org['id']}", json={"address": "Nairobi"}, headers={**officer, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] == "Nairobi"
    assert r.headers["etag"] == '"2"'


def test_patch_without_if_match_is_428(client: TestClient, officer: dict[str, str]) -> None:
    org = create(client, officer)
    r = client.patch(f"{BASE}/{org['id']}", json={"address": "Mombasa"}, headers=officer)
    assert r.status_code == 428
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "If-Match"


def test_patch_with_a_stale_version_is_412(client: TestClient, officer: dict[str, str]) -> None:
    org = create(client, officer)
    url = f"{BASE}/{org['id']}"
    assert client.patch(url, json={"address": "A"}, headers={**officer, "If-Match": '"1"'}).status_code == 200
    r = client.patch(url, json={"address": "B"}, headers={**officer, "If-Match": '"1"'})
    assert r.status_code == 412
    assert r.headers["content-type"] == PROBLEM
    assert client.get(url, headers=officer).json()["address"] == "A"


def test_licence_and_close(client: TestClient, officer: dict[str, str]) -> None:
    org = create(client, officer)
    state = create(client, officer, kind="government_agency")
    lic = {
        "number": f"L-{unique_serial()}",
        "kind": "dealer",
        "issuing_country": "KE",
        "issued_on": "2024-01-01",
    }
    r = client.post(f"{BASE}/{org['id']}/licences", json=lic, headers=officer)
    assert r.status_code == 201, r.text
    assert client.post(f"{BASE}/{org['id']}/licences", json=lic, headers=officer).status_code == 409
    r = client.post(f"{BASE}/{org['id']}/close", json={"records_custodian_id": state["id"]}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["records_custodian_id"] == state["id"]
    assert r.json()["closed_at"] is not None


def test_close_into_a_private_custodian_is_409(client: TestClient, officer: dict[str, str]) -> None:
    org, other = create(client, officer), create(client, officer)
    r = client.post(f"{BASE}/{org['id']}/close", json={"records_custodian_id": other["id"]}, headers=officer)
    assert r.status_code == 409
    assert r.json()["field"] == "records_custodian_id"


def test_unknown_organisation_is_404(client: TestClient, officer: dict[str, str]) -> None:
    r = client.get(f"{BASE}/0190a3c4-0000-7000-8000-000000000000", headers=officer)
    assert r.status_code == 404
    assert r.headers["content-type"] == PROBLEM
