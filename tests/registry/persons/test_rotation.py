"""Personal-data key rotation on a live registry: new writes use the new key at once, reads open either key
throughout, and the re-seal runs in committed batches that resume after a kill -9 without doing a row twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from registry import migrate
from registry.audit import checker
from registry.audit.models import AuditEntry
from registry.config import Settings
from registry.db import make_engine, make_sessionmaker
from registry.persons import crypto, rotation
from registry.persons import repository as repo
from registry.persons import service as persons
from registry.persons.crypto import DataKeys
from tests.conftest import _drop_postgres, _postgres_scratch_url

ROOT = Path(__file__).resolve().parents[3]
ACTOR = "key-admin"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'rotation.db'}" if request.param == "sqlite" else _postgres_scratch_url()
    migrate.upgrade(url)
    yield url
    if request.param == "postgresql":
        _drop_postgres(url)


def register_many(engine: Engine, keys: DataKeys, n: int, start: int = 0) -> list[uuid.UUID]:
    with Session(engine) as s, s.begin():
        return [
            persons.register_person(
                s,
                actor=ACTOR,
                keys=keys,
                name=f"Holder {i}",
                identity_number=f"ID-{i:06d}",
                identity_country="KE",
            ).id
            for i in range(start, start + n)
        ]


def resealed_total(engine: Engine) -> int:
    with Session(engine) as s:
        infos = s.execute(select(AuditEntry.body).where(AuditEntry.action == "person.resealed")).scalars()
        return sum(orjson.loads(b)["info"]["count"] for b in infos)


def key_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as s:
        return repo.count_by_key(s)


def read_all(engine: Engine, keys: DataKeys, ids: list[uuid.UUID]) -> list[str]:
    with Session(engine) as s, s.begin():
        return [
            persons.read_person(s, actor=ACTOR, keys=keys, person_id=i, purpose="rotation check").name
            for i in ids
        ]


def test_rotation_resumes_from_saved_progress_and_never_reseals_a_row_twice(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    old = DataKeys(crypto.generate_data_key())
    ids = register_many(engine, old, 30)
    keys = DataKeys(crypto.generate_data_key(), (old.current,))
    progress_file = tmp_path / "data.key.reseal.json"
    sessions = make_sessionmaker(engine)

    first = rotation.run(
        sessions, actor=ACTOR, keys=keys, progress_file=progress_file, batch=4, max_batches=3
    )
    assert (first.resealed, first.done) == (12, False)
    assert key_counts(engine) == {old.current.key_id: 18, keys.current.key_id: 12}
    assert read_all(engine, keys, ids) == [f"Holder {i}" for i in range(30)]  # reads open either key
    new = register_many(engine, keys, 1, start=100)  # a write during the rotation uses the new key
    assert key_counts(engine)[keys.current.key_id] == 13

    done = rotation.run(sessions, actor=ACTOR, keys=keys, progress_file=progress_file, batch=4)
    assert done.done
    assert done.resealed == 30
    assert key_counts(engine) == {keys.current.key_id: 31}
    assert resealed_total(engine) == 30
    # The new key alone now opens everything, and identity look-ups use the new key's digests.
    only_new = DataKeys(keys.current)
    assert read_all(engine, only_new, [*ids, *new])[-1] == "Holder 100"
    with Session(engine) as s, s.begin():
        found = persons.find_by_identity(
            s, actor=ACTOR, keys=only_new, identity_number="id 000007", identity_country="KE", purpose="check"
        )
        assert [p.id for p in found] == [ids[7]]

    # A progress file lost or older than the database (a crash before it was written) only costs a pass.
    progress_file.unlink()
    again = rotation.run(sessions, actor=ACTOR, keys=keys, progress_file=progress_file, batch=4)
    assert (again.done, again.resealed) == (True, 0)
    assert resealed_total(engine) == 30
    with Session(engine) as s, s.begin():
        assert checker.verify(s).ok
    engine.dispose()


def test_a_row_sealed_with_the_old_key_behind_the_cursor_is_caught_by_the_final_sweep(
    db_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    old = DataKeys(crypto.generate_data_key())
    register_many(engine, old, 10)
    keys = DataKeys(crypto.generate_data_key(), (old.current,))
    progress_file = tmp_path / "p.json"
    sessions = make_sessionmaker(engine)
    rotation.run(sessions, actor=ACTOR, keys=keys, progress_file=progress_file, batch=100, max_batches=1)
    # A server that loaded the keys just before the rotation still seals one row with the old key.
    late = register_many(engine, old, 5, start=50)
    done = rotation.run(sessions, actor=ACTOR, keys=keys, progress_file=progress_file, batch=100)
    assert done.done
    assert done.passes >= 1
    assert key_counts(engine) == {keys.current.key_id: 15}
    assert read_all(engine, DataKeys(keys.current), late)[0] == "Holder 50"
    engine.dispose()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_kill_9_during_the_reseal_then_resume(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'iti.db'}"
    key_file = tmp_path / "keys" / "data.key"
    env = {
        **os.environ,
        "ITI_DATABASE_URL": url,
        "ITI_VAR_DIR": str(tmp_path),
        "ITI_DATA_KEY_FILE": str(key_file),
        "ITI_AUDIT_KEY_PASSPHRASE": "test",
    }
    env.pop("ITI_DATA_KEY", None)
    migrate.upgrade(url)
    settings = Settings(
        database_url=url,
        var_dir=tmp_path,
        data_key_file=key_file,
        audit_key_file=tmp_path / "a.pem",
        audit_key_passphrase="t",
    )
    old = crypto.load_or_create_data_keys(settings)
    engine = create_engine(url)
    ids = register_many(engine, old, 300)

    rotate = _cli(env, "--json", "person", "rotate-key", "--no-reseal")
    assert rotate.returncode == 0, rotate.stderr.decode()
    keys = crypto.load_data_keys(key_file)
    assert keys.older == (old.current,)
    progress_file = rotation.progress_path(key_file)

    run = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "person", "reseal", "--batch", "10", "--pause", "0.05"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if progress_file.exists() and orjson.loads(progress_file.read_bytes())["resealed"] >= 60:
            break
        time.sleep(0.01)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(10)
    assert run.returncode == -signal.SIGKILL

    counts = key_counts(engine)
    assert 60 <= counts[keys.current.key_id] < 300  # stopped half-way
    listed = _cli(env, "--json", "person", "keys")
    assert listed.returncode == 0, listed.stderr.decode()
    rows = {k["key_id"]: (k["current"], k["rows"]) for k in orjson.loads(listed.stdout)["keys"]}
    assert rows == {
        keys.current.key_id: (True, counts[keys.current.key_id]),
        old.current.key_id: (False, counts[old.current.key_id]),
    }
    assert counts[keys.current.key_id] + counts[old.current.key_id] == 300
    assert read_all(engine, keys, ids[::25]) == [f"Holder {i}" for i in range(0, 300, 25)]

    resume = _cli(env, "--json", "person", "reseal", "--batch", "10")
    assert resume.returncode == 0, resume.stderr.decode()
    result = orjson.loads(resume.stdout)
    assert result["done"] is True
    assert result["resealed"] == 300
    assert key_counts(engine) == {keys.current.key_id: 300}
    assert resealed_total(engine) == 300  # no row was re-sealed twice across the kill
    with Session(engine) as s, s.begin():
        assert checker.verify(s).ok
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() > 300
    engine.dispose()
