"""Personal-data key rotation while the API serves: the next write seals with the new key, rows sealed with
the old key still read, identity searches find both, and after the re-seal only the new key is needed."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from registry.config import Settings, get_settings
from registry.persons import crypto, rotation
from registry.persons.models import Person
from registry.users import service as users

BASE = "/api/v1/persons"


@pytest.fixture
def setup(
    engine: Engine, session: Session, tmp_path: Path
) -> Iterator[tuple[TestClient, dict[str, str], Settings]]:
    settings = dataclasses.replace(get_settings(), data_key_file=tmp_path / "keys" / "data.key")
    conn = session.bind
    assert isinstance(conn, Connection)
    factory = sessionmaker(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
    user = users.add_user(
        session, actor="test", username=f"rot{uuid.uuid4().hex[:8]}", role="record_officer", password="x" * 16
    )
    headers = {"Authorization": f"Bearer {users.issue_token(session, user=user).token}"}
    session.flush()
    with TestClient(create_app(settings, engine=engine, session_factory=factory)) as client:
        yield client, headers, settings


def register(client: TestClient, headers: dict[str, str], number: str) -> str:
    r = client.post(
        BASE,
        json={"name": f"Holder {number}", "identity_number": number, "identity_country": "KE"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def key_of(session: Session, person_id: str) -> str:
    session.expire_all()
    return session.execute(select(Person.key_id).where(Person.id == uuid.UUID(person_id))).scalar_one()


def test_rotation_while_serving(setup: tuple[TestClient, dict[str, str], Settings], session: Session) -> None:
    client, headers, settings = setup
    before = register(client, headers, "ROT-0001")
    old = crypto.load_data_keys(settings.data_key_file)
    assert key_of(session, before) == old.current.key_id

    new = crypto.rotate_data_keys(settings)  # what `iti person rotate-key` does
    after = register(client, headers, "ROT-0002")
    assert key_of(session, after) == new.current.key_id  # the very next write, no restart
    for pid, number in ((before, "ROT-0001"), (after, "ROT-0002")):
        r = client.get(f"{BASE}/{pid}", params={"purpose": "rotation check"}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["identity_number"] == number
        found = client.get(
            BASE,
            params={"identity_number": number, "identity_country": "KE", "purpose": "check"},
            headers=headers,
        )
        assert [p["id"] for p in found.json()["items"]] == [pid]

    assert rotation.reseal_batch(session, actor="key-admin", keys=new, after=None, limit=100) == [
        uuid.UUID(before)
    ]
    session.flush()
    only_new = crypto.DataKeys(new.current)
    row = session.get(Person, uuid.UUID(before))
    assert row is not None
    assert crypto.unseal_with(only_new, row.key_id, row.id, row.sealed)["identity_number"] == "ROT-0001"
