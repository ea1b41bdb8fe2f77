"""The fixed weapon paths of the API contract (issue 3), on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.api.conftest import login_headers, weapon_body
from tests.factories import unique_serial

PROBLEM = "application/problem+json"
EXPORT = {
    "type": "exported",
    "to_country": "UG",
    "documents": [
        {"kind": "export_licence", "number": "EL-1", "issued_on": "2024-01-01", "expires_on": "2030-01-01"}
    ],
}


def register(client: TestClient, headers: dict[str, str], **kw: object) -> dict:
    r = client.post("/api/v1/weapons", json=weapon_body(**kw), headers=headers)  # type: ignore[arg-type]
    assert r.status_code == 201, r.text
    return r.json()


def test_register_answers_201_with_location_and_document(client: TestClient, officer: dict[str, str]) -> None:
    serial = unique_serial()
    r = client.post("/api/v1/weapons", json=weapon_body(serial), headers=officer)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert r.headers["location"] == f"/api/v1/weapons/{doc['id']}"
    assert doc["serial"] == serial
    assert doc["status"] == "active"
    assert doc["registered_by"] == "officer-api"
    assert {m["kind"] for m in doc["markings"]} == {"manufacture", "import"}
    assert doc["warnings"] == []


def test_register_returns_warnings(client: TestClient, officer: dict[str, str]) -> None:
    doc = register(client, officer, year_of_manufacture=None)
    assert [w["field"] for w in doc["warnings"]] == ["year_of_manufacture"]


def test_duplicate_is_409_naming_serial(client: TestClient, officer: dict[str, str]) -> None:
    serial = unique_serial()
    first = register(client, officer, serial=serial)
    r = client.post("/api/v1/weapons", json=weapon_body(serial), headers=officer)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == 409
    assert body["code"] == "duplicate_marking"
    assert body["field"] == "serial"
    assert body["existing_weapon_id"] == first["id"]


def test_unknown_category_is_422_naming_category(client: TestClient, officer: dict[str, str]) -> None:
    r = client.post("/api/v1/weapons", json=weapon_body(category="SA-RAYGUN"), headers=officer)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "category"
    assert r.json()["errors"][0]["code"] == "unknown_reference"


def test_schema_errors_are_422_problems_naming_the_fields(
    client: TestClient, officer: dict[str, str]
) -> None:
    body = weapon_body()
    del body["make"]
    body["markings"][0]["text"] = 17
    body["colour"] = "red"
    r = client.post("/api/v1/weapons", json=body, headers=officer)
    assert r.status_code == 422
    assert r.headers["content-type"] == PROBLEM
    assert {e["field"] for e in r.json()["errors"]} == {"make", "markings[0].text", "colour"}


def test_malformed_json_is_400_problem(client: TestClient, officer: dict[str, str]) -> None:
    headers = officer | {"Content-Type": "application/json"}
    r = client.post("/api/v1/weapons", content=b'{"category": "SA-PIS",', headers=headers)
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["field"] == "body"


def test_non_object_bodies_are_client_errors(client: TestClient, officer: dict[str, str]) -> None:
    for content in (b"[]", b"null", b'"x"', b"\xff\xfe"):
        r = client.post(
            "/api/v1/weapons", content=content, headers=officer | {"Content-Type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (content, r.status_code)
        assert r.headers["content-type"] == PROBLEM


def test_get_by_id(client: TestClient, officer: dict[str, str]) -> None:
    doc = register(client, officer)
    r = client.get(f"/api/v1/weapons/{doc['id']}", headers=officer)
    assert r.status_code == 200
    got = r.json()
    assert got["id"] == doc["id"]
    assert got["status"] == "active"
    assert len(got["markings"]) == 2


def test_get_unknown_is_404_and_bad_id_is_422(client: TestClient, officer: dict[str, str]) -> None:
    r = client.get(f"/api/v1/weapons/{uuid.uuid4()}", headers=officer)
    assert r.status_code == 404
    assert r.json()["field"] == "weapon_id"
    r = client.get("/api/v1/weapons/not-an-id", headers=officer)
    assert r.status_code == 422
    assert r.json()["field"] == "weapon_id"


def test_search_by_serial_ignores_case_and_spaces(client: TestClient, officer: dict[str, str]) -> None:
    serial = unique_serial("AB")
    doc = register(client, officer, serial=serial)
    messy = f" {serial[:4].lower()} {serial[4:8]}-{serial[8:]} "
    r = client.get("/api/v1/weapons", params={"serial": messy}, headers=officer)
    assert r.status_code == 200
    assert [w["id"] for w in r.json()["items"]] == [doc["id"]]
    assert r.json()["next"] is None


def test_search_by_serial_combines_with_make_model_and_status(
    client: TestClient, officer: dict[str, str]
) -> None:
    serial = unique_serial("CF")
    doc = register(client, officer, serial=serial)

    def found(**params: str) -> list[str]:
        r = client.get("/api/v1/weapons", params={"serial": serial, **params}, headers=officer)
        assert r.status_code == 200, r.text
        return [w["id"] for w in r.json()["items"]]

    assert found(make="glock", model="17", status="active") == [doc["id"]]
    assert found(make="Beretta") == []
    assert found(model="19") == []
    assert found(status="stolen") == []
    stolen = client.post(f"/api/v1/weapons/{doc['id']}/events", json={"type": "stolen"}, headers=officer)
    assert stolen.status_code == 201, stolen.text
    assert found(status="stolen") == [doc["id"]]


def test_mark_shared_by_many_weapons_narrowed_by_model(client: TestClient, officer: dict[str, str]) -> None:
    """Every weapon_body carries the import mark "IMP KE 2021": the model filter applies in the query, so
    the weapons of that model are found however many others share the mark."""
    model = f"M{uuid.uuid4().hex[:8]}"
    ids = sorted(register(client, officer, model=model)["id"] for _ in range(2))
    for _ in range(3):
        register(client, officer)
    r = client.get("/api/v1/weapons", params={"serial": "imp ke 2021", "model": model}, headers=officer)
    assert r.status_code == 200, r.text
    assert sorted(w["id"] for w in r.json()["items"]) == ids


def test_search_pages_with_a_cursor(client: TestClient, officer: dict[str, str]) -> None:
    model = f"M{uuid.uuid4().hex[:8]}"
    ids = sorted(register(client, officer, model=model)["id"] for _ in range(3))
    r = client.get("/api/v1/weapons", params={"model": model, "limit": 2}, headers=officer)
    page = r.json()
    assert [w["id"] for w in page["items"]] == ids[:2]
    assert page["next"]
    r = client.get(page["next"], headers=officer)
    assert [w["id"] for w in r.json()["items"]] == ids[2:]
    assert r.json()["next"] is None


def _walk(client: TestClient, headers: dict[str, str], params: dict[str, object]) -> list[str]:
    """Every page of a search, following the `next` links."""
    r = client.get("/api/v1/weapons", params=params, headers=headers)  # type: ignore[arg-type]
    ids: list[str] = []
    while True:
        assert r.status_code == 200, r.text
        ids += [w["id"] for w in r.json()["items"]]
        if not r.json()["next"]:
            return ids
        r = client.get(r.json()["next"], headers=headers)


def test_search_by_make_pages_a_common_and_a_rare_spelling(
    client: TestClient, officer: dict[str, str]
) -> None:
    rare = f"Zbrojovka {uuid.uuid4().hex[:8]}"  # no manufacturer code: found by the spelling alone
    makes = ["Glock", "Glock Ges.m.b.H.", rare, "GLOCK", rare]
    ids: dict[str, list[str]] = {make: [] for make in makes}
    for make in makes * 2:
        ids[make].append(register(client, officer, make=make)["id"])
    glocks = sorted(ids["Glock"] + ids["Glock Ges.m.b.H."] + ids["GLOCK"])
    for limit in (1, 2, 500):
        found = _walk(client, officer, {"make": "glock", "limit": limit})
        assert found == sorted(set(found))  # id order, each weapon once, across the pages
        assert [i for i in found if i in glocks] == glocks
        assert _walk(client, officer, {"make": rare.upper(), "limit": limit}) == sorted(ids[rare])
        assert _walk(client, officer, {"make": "glock ges.m.b.h.", "limit": limit}) == sorted(
            ids["Glock Ges.m.b.H."]
        )
        r = client.get("/api/v1/weapons", params={"make": rare, "status": "stolen"}, headers=officer)
        assert r.json()["items"] == []


def test_search_rejects_unknown_status(client: TestClient, officer: dict[str, str]) -> None:
    r = client.get("/api/v1/weapons", params={"status": "misplaced"}, headers=officer)
    assert r.status_code == 422
    assert r.json()["field"] == "status"


def test_fuzzy_search_ranks_candidates_with_reasons(client: TestClient, officer: dict[str, str]) -> None:
    """More in tests/tracing/matching (each tolerance) and tests/api/test_traces.py."""
    wid = register(client, officer, serial="FZ8055721")["id"]
    r = client.get("/api/v1/weapons", params={"serial": "fz-B0?5712", "fuzzy": "true"}, headers=officer)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["query"] == "FZB0?5712"
    assert [c["id"] for c in page["items"]] == [wid]
    match = page["items"][0]["match"]
    assert not match["exact"]
    assert 0 < match["score"] < 1
    assert "'B' read for '8'" in match["reason"]
    assert "unreadable" in match["reason"]
    assert "transposed" in match["reason"]
    missing = client.get("/api/v1/weapons", params={"fuzzy": "true"}, headers=officer)
    assert missing.status_code == 422
    assert missing.json()["field"] == "serial"


def test_fuzzy_search_is_ranked_by_the_described_weapon(client: TestClient, officer: dict[str, str]) -> None:
    glock = register(client, officer, serial="FD7300451")["id"]
    beretta = register(client, officer, serial="FD7300452", make="Beretta", model="92FS")["id"]
    params = {"serial": "FD730045?", "fuzzy": "true"}
    for make, model, first in (("Beretta", "92 FS", beretta), ("glock", "17", glock)):
        r = client.get("/api/v1/weapons", params={**params, "make": make, "model": model}, headers=officer)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert items[0]["id"] == first
        assert {c["id"] for c in items} == {glock, beretta}  # ranked, not filtered
        assert items[0]["match"]["agreed"] == ["make", "model"]
        assert items[0]["match"]["rank_score"] > items[1]["match"]["rank_score"]
    r = client.get("/api/v1/weapons", params={"serial": "FD7300451", "calibre": "9x19"}, headers=officer)
    assert r.status_code == 422
    assert r.json()["field"] == "calibre"


def test_stolen_then_exported_is_409_naming_the_status(client: TestClient, officer: dict[str, str]) -> None:
    wid = register(client, officer)["id"]
    r = client.post(
        f"/api/v1/weapons/{wid}/events", json={"type": "stolen", "notes": "burglary"}, headers=officer
    )
    assert r.status_code == 201, r.text
    assert r.json()["weapon"]["status"] == "stolen"
    assert r.json()["event"]["recorded_by"] == "officer-api"
    r = client.post(f"/api/v1/weapons/{wid}/events", json=EXPORT, headers=officer)
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["current_status"] == "stolen"
    assert "stolen" in body["detail"]
    assert body["field"] == "type"


def test_history_is_oldest_first(client: TestClient, officer: dict[str, str]) -> None:
    wid = register(client, officer)["id"]
    for event in ({"type": "stolen"}, {"type": "found", "location": "Kisumu"}):
        assert client.post(f"/api/v1/weapons/{wid}/events", json=event, headers=officer).status_code == 201
    r = client.get(f"/api/v1/weapons/{wid}/history", headers=officer)
    assert r.status_code == 200
    events = r.json()["events"]
    assert [e["type"] for e in events] == ["imported", "stolen", "found"]
    assert [e["seq"] for e in events] == [1, 2, 3]


def test_event_on_unknown_weapon_is_404(client: TestClient, officer: dict[str, str]) -> None:
    r = client.post(f"/api/v1/weapons/{uuid.uuid4()}/events", json={"type": "stolen"}, headers=officer)
    assert r.status_code == 404


def test_failed_write_records_nothing(client: TestClient, officer: dict[str, str]) -> None:
    wid = register(client, officer)["id"]
    bad = EXPORT | {"documents": []}
    assert client.post(f"/api/v1/weapons/{wid}/events", json=bad, headers=officer).status_code == 422
    events = client.get(f"/api/v1/weapons/{wid}/history", headers=officer).json()["events"]
    assert [e["type"] for e in events] == ["imported"]


def test_marking_operator_cannot_register(client: TestClient, session: Session) -> None:
    headers = login_headers(session, "marking_operator")
    r = client.post("/api/v1/weapons", json=weapon_body(), headers=headers)
    assert r.status_code == 403
    assert r.headers["content-type"] == PROBLEM
    assert "weapon.write" in r.json()["detail"]
    assert client.get("/api/v1/weapons", params={"serial": "X1"}, headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (
            {"type": "seized", "data": {"transit_countries": 5, "criminal_offence": True}},
            "data.transit_countries",
        ),
        ({"type": "seized", "data": {"transit_countries": None, "criminal_offence": True}}, None),
        ({"type": "found", "data": {"illicit": True, "illicit_grounds": 7}}, "data.illicit_grounds"),
        ({"type": "found", "data": {"mark_condition": ["x"]}}, "data.mark_condition"),
        ({"type": "exported", "to_country": "UG", "documents": ["x"]}, "documents[0]"),
        ({"type": "stolen", "occurred_at": "2024-01-01T00:00:00"}, "occurred_at"),
    ],
)
def test_wrong_shapes_are_client_errors(
    client: TestClient, officer: dict[str, str], event: dict, field: str | None
) -> None:
    wid = register(client, officer)["id"]
    r = client.post(f"/api/v1/weapons/{wid}/events", json=event, headers=officer)
    if field is None:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 422, r.text
        assert r.json()["field"] == field
