"""Offline station rules at the service level: a conflict is kept until an officer applies or rejects it,
a re-sent batch records nothing, a bundle loads once, and a batch names the station it was checked out to.
The central registry is the test database (SQLite and PostgreSQL); the station is its own SQLite."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hardware.marking.connect import open_machine
from hardware.marking.simulator import SimMachine
from hardware.stations import offline
from hardware.stations.camera import SimulatedCamera
from hardware.stations.workflow import Station, run
from registry import migrate
from registry.db import make_engine
from registry.errors import Conflict, ValidationError
from registry.history.inputs import EventInput
from registry.profiles import ITI
from registry.reference.service import seed_reference_data
from registry.weapons import repository as repo
from tests.factories import HOME, import_marking, record, register_weapon, unique_serial


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("station") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    eng = make_engine(f"sqlite:///{path}")
    with Session(eng) as s, s.begin():
        seed_reference_data(s, actor="setup")
    eng.dispose()
    return path


@pytest.fixture
def station_db(template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "station.db"
    shutil.copy(template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


def _checkout(session: Session, n: int = 3) -> tuple[list[uuid.UUID], dict[str, Any]]:
    site = f"Depot {unique_serial('')}"
    ids = [
        register_weapon(session, event=EventInput(type="imported", to_country=HOME, location=site)).weapon.id
        for _ in range(n)
    ]
    return ids, offline.checkout(session, station="KE-TRK-02", location=site, actor="officer")


def _mark_offline(station: Engine, bundle: dict[str, Any]) -> dict[str, Any]:
    bundle = offline.orjson.loads(offline.dumps(bundle))  # as read back from the file
    with Session(station) as s, s.begin():
        co = offline.load_bundle(s, bundle=bundle, actor="op").checkout
        sim = SimMachine(mark_seconds=0.0)
        with open_machine("keyence-sim", sim=sim, reply_timeout=0.5) as conn:
            for wid in co.baseline:
                out = run(
                    s,
                    weapon_id=uuid.UUID(wid),
                    machine=conn.machine,
                    verifier=SimulatedCamera(sim),
                    station=Station("KE-TRK-02", "op.ekal", "keyence-sim", mark_timeout=1.0),
                    profile=ITI,
                    actor="station:KE-TRK-02",
                    home_country=HOME,
                )
                assert out.ok, out.message
        return offline.pending_events(s)


def _receive(session: Session, batch: dict[str, Any]) -> offline.Received:
    return offline.receive(session, batch=batch, actor="api_key:trk", profile=ITI, home_country=HOME)


def test_a_conflict_waits_for_an_officer_who_applies_it(session: Session, station_db: Engine) -> None:
    ids, bundle = _checkout(session)
    batch = _mark_offline(station_db, bundle)
    assert len(batch["events"]) == 3
    record(session, ids[0], EventInput(type="marked"), marking=import_marking())

    got = _receive(session, batch)
    assert [a.offline_event_id for a in got.answers] == [uuid.UUID(e["id"]) for e in batch["events"]]
    by = {a.weapon_id: a for a in got.answers}
    assert by[ids[0]].status == "conflict"
    assert "1 → 2 events: marked (officer-test" in by[ids[0]].reason
    assert [by[w].status for w in ids[1:]] == ["applied", "applied"]
    assert [e.type for e in repo.events_of(session, ids[0])] == ["imported", "marked"]  # not overwritten

    again = _receive(session, batch)
    assert all(a.duplicate for a in again.answers)
    assert [len(repo.events_of(session, w)) for w in ids] == [2, 2, 2]

    row = offline.repo.sync_event(session, by[ids[0]].offline_event_id)
    assert row is not None
    with pytest.raises(ValidationError):
        offline.resolve(session, sync_id=row.id, apply=True, actor="chief", reason=" ", profile=ITI)
    done = offline.resolve(
        session, sync_id=row.id, apply=True, actor="chief", reason="both marks seen on the frame", profile=ITI
    )
    assert done.status == "applied"
    events = repo.events_of(session, ids[0])
    assert [e.type for e in events] == ["imported", "marked", "marked"]
    assert events[-1].data["offline"]["station"] == "KE-TRK-02"
    assert "decided by chief: both marks seen" in row.reason
    with pytest.raises(Conflict):
        offline.resolve(session, sync_id=row.id, apply=False, actor="chief", reason="again", profile=ITI)


def test_a_rejected_conflict_records_nothing(session: Session, station_db: Engine) -> None:
    ids, bundle = _checkout(session, 1)
    batch = _mark_offline(station_db, bundle)
    record(session, ids[0], EventInput(type="marked"), marking=import_marking())
    (answer,) = _receive(session, batch).answers
    row = offline.repo.sync_event(session, answer.offline_event_id)
    assert row is not None
    out = offline.resolve(
        session, sync_id=row.id, apply=False, actor="chief", reason="wrong frame", profile=ITI
    )
    assert out.status == "rejected"
    assert len(repo.events_of(session, ids[0])) == 2


def test_bundles_load_once_and_batches_name_their_station(session: Session, station_db: Engine) -> None:
    _, bundle = _checkout(session, 1)
    batch = _mark_offline(station_db, bundle)
    with Session(station_db) as s, s.begin(), pytest.raises(Conflict):
        offline.load_bundle(s, bundle=offline.orjson.loads(offline.dumps(bundle)), actor="op")
    with pytest.raises(ValidationError) as exc:
        _receive(session, {**batch, "station": "KE-OTHER"})
    assert exc.value.field == "station"

    def stray(weapon_id: uuid.UUID) -> dict[str, Any]:
        return {
            **batch,
            "events": [{**batch["events"][0], "id": str(uuid.uuid4()), "weapon_id": str(weapon_id)}],
        }

    (answer,) = _receive(session, stray(uuid.uuid4())).answers
    assert (answer.status, answer.reason[:10]) == ("rejected", "no weapon ")
    other = register_weapon(session).weapon.id
    (answer,) = _receive(session, stray(other)).answers
    assert answer.status == "rejected"
    assert "not checked out" in answer.reason
    assert len(repo.events_of(session, other)) == 1


def test_a_malformed_offline_event_is_rejected_not_a_crash(session: Session, station_db: Engine) -> None:
    ids, bundle = _checkout(session, 1)
    batch = _mark_offline(station_db, bundle)
    (ev,) = batch["events"]
    bad = {**batch, "events": [{**ev, "marking": "a string", "id": str(uuid.uuid4())}]}
    (answer,) = _receive(session, bad).answers
    assert answer.status == "rejected"
    assert "malformed" in answer.reason
    with pytest.raises(ValidationError):
        _receive(session, {**batch, "events": [{**ev, "occurred_at": "2026-11-24T10:00:00"}]})
    assert len(repo.events_of(session, ids[0])) == 1
