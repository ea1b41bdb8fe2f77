"""Backup and restore of a populated registry, on SQLite and PostgreSQL: the restored database is the same
database (every row of every table, the audit root, a weapon's history) and verifies; damaged archives,
wrong keys and occupied targets are refused before anything is touched."""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry import migrate
from registry.audit import service as audit
from registry.audit.signing import generate_signing_key
from registry.backup import crypto, manifest
from registry.backup import service as backups
from registry.backup.errors import NotEmpty, RestoreVerificationFailed, TamperedArchive, WrongBackupKey
from registry.demo.generator import generate
from registry.persons.crypto import DataKeys, generate_data_key
from registry.profiles import get_profile
from registry.reference.service import seed_reference_data
from tests.conftest import PG_URL, _drop_postgres, _postgres_scratch_url


def _build_migrated(url: str) -> None:
    migrate.upgrade(url)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="test-setup")
    engine.dispose()


def _build_populated(url: str) -> None:
    _build_migrated(url)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        generate(
            s,
            profile=get_profile("iti"),
            home="KE",
            weapons_count=40,
            seed=11,
            keys=DataKeys(generate_data_key()),
        )
        audit.sign_head(s, generate_signing_key(), actor="test-backup")
    engine.dispose()


# Built once per backend and module, then copied: migrating and populating is most of this module's time.
_TEMPLATES: dict[tuple[str, str], str] = {}


def _from_template(url: str, kind: str) -> None:
    backend = make_url(url).get_backend_name()
    template = _TEMPLATES.get((backend, kind))
    if template is None:
        if backend == "sqlite":
            template = f"sqlite:///{tempfile.mkdtemp(prefix='iti-backup-tmpl-')}/{kind}.db"
        else:
            template = _postgres_scratch_url()
        {"migrated": _build_migrated, "populated": _build_populated}[kind](template)
        _TEMPLATES[(backend, kind)] = template
    if backend == "sqlite":
        src = sqlite3.connect(str(make_url(template).database))
        dst = sqlite3.connect(str(make_url(url).database))
        src.backup(dst)
        dst.close()
        src.close()
    else:
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name, tmpl = make_url(url).database, make_url(template).database
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{tmpl}"'))
        admin.dispose()


@pytest.fixture(scope="module", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    for (backend, _kind), url in _TEMPLATES.items():
        if backend == "postgresql":
            _drop_postgres(url)
    _TEMPLATES.clear()


def _migrate(url: str) -> None:
    _from_template(url, "migrated")


def _populate(url: str) -> None:
    _from_template(url, "populated")


class Dbs:
    """Scratch database URLs of one backend, created on demand and dropped at the end."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.backend, self.tmp, self.made = backend, tmp, []  # type: ignore[var-annotated]

    def new(self) -> str:
        if self.backend == "sqlite":
            url = f"sqlite:///{self.tmp / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            url = _postgres_scratch_url()
        self.made.append(url)
        return url

    def close(self) -> None:
        for url in self.made if self.backend == "postgresql" else []:
            _drop_postgres(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def dbs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dbs]:
    d = Dbs(request.param, tmp_path)
    yield d
    d.close()


@pytest.fixture
def sqlite_dbs(tmp_path: Path) -> Dbs:
    """For checks that do not depend on the backend (the archive alone): SQLite only, PostgreSQL databases
    cost seconds each to create and drop."""
    return Dbs("sqlite", tmp_path)


@pytest.fixture(scope="module")
def key() -> crypto.BackupKey:
    return crypto.BackupKey(os.urandom(32))


def contents(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: two databases are the same database if these are equal."""
    engine = create_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted(tuple(repr(v) for v in r) for r in rows)
    engine.dispose()
    return out


def history_of_one_weapon(url: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        wid = conn.execute(
            text("SELECT weapon_id FROM events GROUP BY weapon_id ORDER BY count(*) DESC, weapon_id LIMIT 1")
        ).scalar_one()
        rows = conn.execute(
            text("SELECT seq, type, occurred_at, data FROM events WHERE weapon_id = :w ORDER BY seq"),
            {"w": wid},
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_restore_into_an_empty_database_gives_the_same_database_and_verifies(
    dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    source, target = dbs.new(), dbs.new()
    _populate(source)
    archive = tmp_path / "registry.iti-backup"
    made = backups.backup(database_url=source, out=archive, key=key)

    doc = made.manifest
    assert doc["backend"] == dbs.backend
    assert doc["schema_revision"] == migrate.head_revision()
    assert doc["tables"]["weapons"] == 40
    assert doc["tables"]["persons"] > 0
    assert doc["audit"]["tree_size"] == doc["tables"]["audit_entries"] > 40
    assert archive.stat().st_mode & 0o777 == 0o600
    assert b"weapons" not in archive.read_bytes()  # nothing in clear, not even table names

    done = backups.restore(database_url=target, archive=archive, key=key)
    assert done.entries == doc["audit"]["tree_size"]
    assert done.tree_heads == 1
    assert done.records > 40
    assert contents(target) == contents(source)
    assert history_of_one_weapon(target) == history_of_one_weapon(source)
    assert len(history_of_one_weapon(target)) >= 2
    engine = create_engine(target)
    with engine.connect() as conn:
        assert manifest.audit_state(conn)["root"] == doc["audit"]["root"]
    engine.dispose()


def test_manifest_is_read_only_after_the_whole_archive_authenticates(
    sqlite_dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    source = sqlite_dbs.new()
    _migrate(source)
    archive = tmp_path / "a.iti-backup"
    backups.backup(database_url=source, out=archive, key=key)
    assert backups.read_manifest(archive=archive, key=key)["format"] == manifest.FORMAT
    data = bytearray(archive.read_bytes())
    data[-5] ^= 0x40
    archive.write_bytes(bytes(data))
    with pytest.raises(TamperedArchive):
        backups.read_manifest(archive=archive, key=key)


def test_a_tampered_archive_is_refused_and_the_target_left_untouched(
    dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    """One flipped byte in the middle (every other kind of damage is in test_crypto.py)."""
    source, target = dbs.new(), dbs.new()
    _migrate(source)
    archive = tmp_path / "t.iti-backup"
    backups.backup(database_url=source, out=archive, key=key)
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 1
    archive.write_bytes(bytes(data))
    with pytest.raises(TamperedArchive, match="nothing was restored"):
        backups.restore(database_url=target, archive=archive, key=key)
    if dbs.backend == "sqlite":
        assert not Path(target.removeprefix("sqlite:///")).exists()
    else:
        assert contents(target) == {}


def test_a_wrong_key_is_refused_naming_both_key_ids(
    sqlite_dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    source, target = sqlite_dbs.new(), sqlite_dbs.new()
    _migrate(source)
    archive = tmp_path / "k.iti-backup"
    backups.backup(database_url=source, out=archive, key=key)
    other = crypto.BackupKey(os.urandom(32))
    with pytest.raises(WrongBackupKey, match=key.key_id.hex()):
        backups.restore(database_url=target, archive=archive, key=other)


def test_a_database_with_records_is_only_replaced_with_force(
    dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    source, target = dbs.new(), dbs.new()
    _populate(source)
    _migrate(target)
    engine = create_engine(target)
    with Session(engine) as s, s.begin():
        audit.sign_head(s, generate_signing_key(), actor="someone-elses-registry")  # a record of its own
    engine.dispose()
    before = contents(target)
    archive = tmp_path / "f.iti-backup"
    backups.backup(database_url=source, out=archive, key=key)
    with pytest.raises(NotEmpty, match="--force"):
        backups.restore(database_url=target, archive=archive, key=key)
    assert contents(target) == before
    backups.restore(database_url=target, archive=archive, key=key, force=True)
    assert contents(target) == contents(source)


def test_a_restore_that_does_not_verify_fails_loudly(dbs: Dbs, key: crypto.BackupKey, tmp_path: Path) -> None:
    """A backup is faithful, so a database altered behind the registry's back restores altered — and the
    automatic verification refuses to call it good."""
    source, target = dbs.new(), dbs.new()
    _populate(source)
    engine = create_engine(source)
    with engine.begin() as conn:
        conn.execute(text("UPDATE organisations SET name = 'Renamed behind the log' WHERE kind = 'dealer'"))
    engine.dispose()
    archive = tmp_path / "v.iti-backup"
    backups.backup(database_url=source, out=archive, key=key)
    with pytest.raises(RestoreVerificationFailed, match="do not use it"):
        backups.restore(database_url=target, archive=archive, key=key)


def test_backup_never_overwrites_and_key_files_travel_only_when_asked(
    sqlite_dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    source = sqlite_dbs.new()
    _migrate(source)
    data_key = tmp_path / "keys" / "data.key"
    data_key.parent.mkdir()
    data_key.write_bytes(b'{"format": "placeholder"}')
    plain, with_keys = tmp_path / "plain.iti-backup", tmp_path / "keys.iti-backup"
    backups.backup(database_url=source, out=plain, key=key)
    with pytest.raises(Exception, match="exists"):
        backups.backup(database_url=source, out=plain, key=key)
    backups.backup(database_url=source, out=with_keys, key=key, include_keys={"keys/data.key": data_key})
    assert backups.read_manifest(archive=plain, key=key)["keys_included"] == []
    assert backups.read_manifest(archive=with_keys, key=key)["keys_included"] == ["keys/data.key"]

    target, dest = sqlite_dbs.new(), tmp_path / "restored" / "data.key"
    done = backups.restore(
        database_url=target, archive=with_keys, key=key, restore_keys={"keys/data.key": dest}
    )
    assert done.keys_written == [str(dest)]
    assert dest.read_bytes() == data_key.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o600


def test_backups_taken_while_the_registry_is_written_are_consistent(
    dbs: Dbs, key: crypto.BackupKey, tmp_path: Path
) -> None:
    """Officers keep registering holders (each an audited write of its own) while backups are taken: every
    archive restores to a database whose rows, audit root and record digests agree with each other."""
    import threading

    from registry.persons import service as persons

    source = dbs.new()
    _populate(source)
    stop, written, errors = threading.Event(), [0], []  # type: ignore[var-annotated]
    data_keys = DataKeys(generate_data_key())

    def officer() -> None:
        engine = create_engine(source, connect_args={"timeout": 30} if dbs.backend == "sqlite" else {})
        try:
            while not stop.is_set():
                with Session(engine) as s, s.begin():
                    persons.register_person(
                        s,
                        actor="officer",
                        keys=data_keys,
                        name="Concurrent Holder",
                        identity_number=f"C-{written[0]:06d}",
                        identity_country="KE",
                    )
                written[0] += 1
        except Exception as exc:  # surfaced below: a writer failing would make the test meaningless
            errors.append(exc)
        finally:
            engine.dispose()

    thread = threading.Thread(target=officer)
    thread.start()
    archives = []
    try:
        for i in range(3):
            time.sleep(0.3)
            archive = tmp_path / f"live-{i}.iti-backup"
            backups.backup(database_url=source, out=archive, key=key)
            archives.append(archive)
    finally:
        stop.set()
        thread.join(30)
    assert not errors
    assert written[0] > 0
    persons_seen = []
    for archive in archives:
        target = dbs.new()
        done = backups.restore(database_url=target, archive=archive, key=key)  # raises if inconsistent
        persons_seen.append(done.manifest["tables"]["persons"])
    assert persons_seen == sorted(persons_seen)
    assert persons_seen[-1] > persons_seen[0]  # the writes really ran between the backups
