"""The fast path of `GET /api/v1/weapons/{id}` and the exact serial search (api/weapons/fast_reads.py) on an
app that owns its SQLite file, as `iti serve` runs it: it answers the same bytes the routes' Pydantic models
write, for many weapons of many shapes, and leaves every other case (no or unknown credentials, a missing
weapon, malformed input, fuzzy or filtered searches) to the routes and their problem+json answers."""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.app import create_app
from api.weapons.fast_reads import FastReads
from api.weapons.schemas import MarkingOut, WeaponDocument, WeaponOut, WeaponPage
from registry import migrate
from registry.config import get_settings
from registry.db import make_engine
from registry.reference.service import seed_reference_data
from registry.users import service as users
from registry.weapons import read_model
from registry.weapons import repository as weapon_repo
from registry.weapons import service as weapons
from tests.api.conftest import weapon_body
from tests.factories import unique_serial

WEAPONS = 40


@dataclasses.dataclass
class Node:
    client: TestClient
    app: FastAPI
    engine: Engine  # a separate engine on the same file, for the reference answers
    officer: dict[str, str]
    api_key: dict[str, str]
    ids: list[str]
    serials: list[str]


def fast_path(app: FastAPI) -> FastReads:
    layer: Any = app.middleware_stack
    while not isinstance(layer, FastReads):
        layer = layer.app
    return layer


def varied_body(rng: random.Random, i: int) -> dict[str, Any]:
    """Weapons of several shapes: with and without model, year, marks; polymer frames with a carrier; a
    serial shared by two weapons of different makes; non-ASCII text."""
    serial = unique_serial("F")
    body = weapon_body(serial)
    if i % 5 == 1:
        body["model"] = None
        body["year_of_manufacture"] = None
    if i % 5 == 2:
        body["frame_material"] = "polymer"
        body["mark_carrier"] = "Plaque d'acier intégrée — №7"
    if i % 5 == 3:
        body["markings"].append({"text": f"ARSENAL {serial}-B", "kind": "proof", "component": "slide"})
    if i % 7 == 4:
        body["event"] = {
            "type": "found",
            "location": "Nairobi",
            "data": {"illicit": True, "illicit_grounds": ["not_marked"]},
        }
        body["markings"] = []
        body["serial"] = serial
    body["description"] = rng.choice(["", "blue grip", "Ünïcödé ✓"])
    return body


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    url = f"sqlite:///{tmp_path / 'fast.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
        user = users.add_user(
            s, actor="test-setup", username="fast-officer", role="record_officer", password="x" * 12
        )
        token = users.issue_token(s, user=user).token
        _, key = users.create_api_key(s, actor="test-setup", name="fast-key", role="auditor")
    app = create_app(dataclasses.replace(get_settings(), database_url=url))  # owns its engine, as `iti serve`
    with TestClient(app) as client:
        officer = {"Authorization": f"Bearer {token}"}
        rng = random.Random(7)
        ids, serials = [], []
        for i in range(WEAPONS):
            r = client.post("/api/v1/weapons", json=varied_body(rng, i), headers=officer)
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
            serials.append(r.json()["serial"] or r.json()["markings"][0]["serial"])
        # A second weapon with the same serial (another make): the search answers both, in id order.
        twin = weapon_body(serials[0], make="Beretta")
        assert client.post("/api/v1/weapons", json=twin, headers=officer).status_code == 201
        yield Node(client, app, engine, officer, {"X-API-Key": key}, ids, serials)
    engine.dispose()


def reference_document(engine: Engine, weapon_id: str) -> bytes:
    """What the route answered before the fast path: ORM rows through the Pydantic models."""
    with Session(engine) as s:
        w, st = weapons.get(s, uuid.UUID(weapon_id))
        marks = weapon_repo.markings_of(s, w.id)
        doc = WeaponDocument(**WeaponOut.of(w, st).model_dump(), markings=[MarkingOut.of(m) for m in marks])
    return doc.model_dump_json().encode()


def reference_search(engine: Engine, serial: str) -> bytes:
    with Session(engine) as s:
        found = weapons.find_by_mark(s, serial)
        return (
            WeaponPage(items=[WeaponOut.of(w, st) for w, st in found], next=None).model_dump_json().encode()
        )


def test_fast_answers_equal_the_models_for_every_weapon(node: Node) -> None:
    fast = fast_path(node.app)
    before = fast.answered
    for weapon_id in node.ids:
        for headers in (node.officer, node.api_key):
            r = node.client.get(f"/api/v1/weapons/{weapon_id}", headers=headers)
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/json"
            assert r.content == reference_document(node.engine, weapon_id)
            WeaponDocument.model_validate_json(r.content)
    for serial in node.serials:
        r = node.client.get("/api/v1/weapons", params={"serial": serial.lower()}, headers=node.officer)
        assert r.status_code == 200
        assert r.content == reference_search(node.engine, serial)
        page = WeaponPage.model_validate_json(r.content)
        assert serial in {w.serial for w in page.items} | {serial}
    twin = node.client.get("/api/v1/weapons", params={"serial": node.serials[0]}, headers=node.officer).json()
    assert len(twin["items"]) == 2
    assert [w["id"] for w in twin["items"]] == sorted(w["id"] for w in twin["items"])
    # The fast path answered every one of those but the API key's first use: the route checked the key
    # against the database and cached it (the officer's token was cached by the registrations).
    assert fast.answered - before == 2 * len(node.ids) + len(node.serials) + 1 - 1


def test_the_route_answers_the_same_bytes_without_the_fast_path(node: Node) -> None:
    """An app on the same file with an injected engine has no fast path: its routes' bytes are the same."""
    plain = create_app(get_settings(), engine=node.engine)
    with TestClient(plain) as other:
        for weapon_id in node.ids[:10]:
            a = node.client.get(f"/api/v1/weapons/{weapon_id}", headers=node.officer)
            b = other.get(f"/api/v1/weapons/{weapon_id}", headers=node.officer)
            assert a.status_code == b.status_code == 200
            assert a.content == b.content
        for serial in node.serials[:10]:
            a = node.client.get("/api/v1/weapons", params={"serial": serial}, headers=node.officer)
            b = other.get("/api/v1/weapons", params={"serial": serial}, headers=node.officer)
            assert a.content == b.content
        assert fast_path(plain).answered == 0


def test_everything_else_is_left_to_the_routes(node: Node) -> None:
    fast = fast_path(node.app)
    weapon_id = node.ids[0]
    node.client.get(f"/api/v1/weapons/{weapon_id}", headers=node.officer)  # the token is cached now
    before = fast.answered
    get = node.client.get

    r = get(f"/api/v1/weapons/{weapon_id}")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    r = get(f"/api/v1/weapons/{weapon_id}", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    r = get(f"/api/v1/weapons/{weapon_id}", headers={"X-API-Key": "iti_p_unknown"})
    assert r.status_code == 401
    missing = uuid.uuid4()
    r = get(f"/api/v1/weapons/{missing}", headers=node.officer)
    assert r.status_code == 404
    assert r.json()["field"] == "weapon_id"
    assert r.headers["content-type"] == "application/problem+json"
    assert get("/api/v1/weapons/not-a-uuid", headers=node.officer).status_code == 422
    r = get("/api/v1/weapons", params={"serial": "--- / ---"}, headers=node.officer)
    assert r.status_code == 422
    assert r.json()["field"] == "serial"
    assert get("/api/v1/weapons", params={"serial": "x" * 301}, headers=node.officer).status_code == 422
    assert fast.answered == before  # none of those

    # Other forms the routes accept, answered by them with the same document.
    upper = get(f"/api/v1/weapons/{weapon_id.upper()}", headers=node.officer)
    assert upper.status_code == 200
    assert upper.content == reference_document(node.engine, weapon_id)
    fuzzy = get("/api/v1/weapons", params={"serial": node.serials[1], "fuzzy": "true"}, headers=node.officer)
    assert fuzzy.status_code == 200
    assert "query" in fuzzy.json()
    narrowed = get(
        "/api/v1/weapons", params={"serial": node.serials[1], "make": "Glock"}, headers=node.officer
    )
    assert narrowed.status_code == 200
    assert len(narrowed.json()["items"]) == 1
    assert get(f"/api/v1/weapons/{weapon_id}/history", headers=node.officer).status_code == 200
    assert fast.answered == before
    assert get(f"/api/v1/weapons/{weapon_id}", headers=node.officer).status_code == 200
    assert fast.answered == before + 1


def test_read_model_agrees_on_both_ways_of_running(node: Node) -> None:
    """Core on a SQLAlchemy Connection and the compiled statements on the DBAPI connection give equal rows."""
    reads = read_model.SqliteReads(node.engine.dialect)
    raw = node.engine.raw_connection()
    try:
        with node.engine.connect() as conn:
            for weapon_id in map(uuid.UUID, node.ids):
                core = read_model.weapon_document(conn, weapon_id)
                assert core is not None
                assert core == reads.weapon_document(raw.driver_connection, weapon_id)
            assert read_model.weapon_document(conn, uuid.uuid4()) is None
            for serial in node.serials:
                key = serial.upper()
                assert read_model.weapons_by_mark(conn, key) == reads.weapons_by_mark(
                    raw.driver_connection, key
                )
    finally:
        raw.close()


def test_a_user_disabled_through_the_api_is_refused_at_once(node: Node) -> None:
    """The fast path reads the route's credential cache, which disabling a user clears: the next request
    goes to the route, which refuses the token (as tests/api/test_auth_cache.py checks for the route)."""
    with Session(node.engine) as s, s.begin():
        admin = users.add_user(s, actor="test-setup", username="fast-admin", role="admin", password="x" * 12)
        admin_token = users.issue_token(s, user=admin).token
        victim = users.add_user(
            s, actor="test-setup", username="fast-gone", role="auditor", password="x" * 12
        )
        token = {"Authorization": f"Bearer {users.issue_token(s, user=victim).token}"}
    fast = fast_path(node.app)
    path = f"/api/v1/weapons/{node.ids[0]}"
    assert node.client.get(path, headers=token).status_code == 200  # the route checks it and caches it
    before = fast.answered
    assert node.client.get(path, headers=token).status_code == 200
    assert fast.answered == before + 1  # answered from the cache
    admin_headers = {"Authorization": f"Bearer {admin_token}"}
    assert node.client.post("/api/v1/users/fast-gone/disable", headers=admin_headers).status_code == 200
    r = node.client.get(path, headers=token)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert fast.answered == before + 1
