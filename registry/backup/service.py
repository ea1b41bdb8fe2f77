"""`iti backup` and `iti restore`: an encrypted archive of the whole database, checked end to end.

The archive is a tar stream, encrypted with `registry.backup.crypto`, holding:

    manifest.json          schema revision, rows per table, audit tree size and root, tools, payload digest
    database.sqlite3       a SQLite online-backup copy            (SQLite)
    database.pgdump        `pg_dump -Fc` of one exported snapshot (PostgreSQL)
    keys/…                 only with --include-keys: the personal-data key file and the (passphrase-
                           encrypted) audit signing key

A restore first decrypts and authenticates the whole archive into a private temporary folder (nothing is
touched until every chunk has authenticated), checks the payload against the manifest's SHA-256, refuses a
target that holds records unless forced, restores, compares the result with the manifest (rows per table,
audit tree size and root) and then runs the full audit verification with the record cross-check. Any
difference raises `RestoreVerificationFailed`.

These are operations on a whole database, not registry writes: they open their own connections and
transactions (the edge only chooses the URL, the paths and the key).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from registry import migrate
from registry.audit import checker
from registry.backup import crypto, manifest, postgres, sqlite
from registry.backup.crypto import BackupKey
from registry.backup.errors import BackupError, NotEmpty, RestoreVerificationFailed, TamperedArchive
from registry.db import make_engine

MANIFEST = "manifest.json"
PAYLOAD = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
KEY_MEMBERS = ("keys/data.key", "keys/audit-signing.pem")


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: dict[str, Any]
    seconds: float


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    upgraded_from: str | None
    entries: int
    tree_heads: int
    records: int
    keys_written: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _backend(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in PAYLOAD:
        raise BackupError(f"backups support SQLite and PostgreSQL, not {name}", field="database_url")
    return name


@contextmanager
def _private_dir(parent: Path | None) -> Iterator[Path]:
    """A 0700 folder for plaintext intermediates, removed whatever happens."""
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=".iti-backup-", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """A database that cannot be opened is the operator's to fix: say which and why, without a traceback."""
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise BackupError(f"cannot use the database {shown}: {exc.orig}", field="database_url") from None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: io.BufferedIOBase | io.BytesIO, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o600, int(time.time())
    tar.addfile(info, data)


# --- backup -----------------------------------------------------------------------------------------------


def backup(
    *,
    database_url: str,
    out: Path,
    key: BackupKey,
    include_keys: Mapping[str, Path] | None = None,
    work_dir: Path | None = None,
) -> BackupResult:
    """Write an encrypted archive of the database at `database_url` to `out` (refused if `out` exists).

    `include_keys` maps archive names from KEY_MEMBERS to key files to put in the archive as well.
    """
    started = time.monotonic()
    backend = _backend(database_url)
    if out.exists():
        raise BackupError(f"{out} exists: choose a new file name (a backup never overwrites)", field="out")
    unknown = set(include_keys or {}) - set(KEY_MEMBERS)
    if unknown:
        raise BackupError(f"unknown key member {sorted(unknown)[0]}", field="include_keys")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _database_errors(database_url), _private_dir(work_dir or out.parent) as tmp:
        payload = tmp / PAYLOAD[backend]
        if backend == "sqlite":
            sqlite.snapshot(sqlite.path_of(database_url), payload)
            engine = sqlite.engine_for(payload)
            try:
                with engine.connect() as conn:
                    doc = _manifest(conn, backend, payload, {}, include_keys)
            finally:
                engine.dispose()
        else:
            with postgres.snapshot(database_url) as (conn, snap):
                tools = postgres.dump(database_url, conn, snap, payload)
                doc = _manifest(conn, backend, payload, tools, include_keys)
        partial = out.with_name(f".{out.name}.partial")
        _write_archive(partial, key, doc, payload, include_keys or {})
        os.replace(partial, out)  # a backup killed half-way never leaves a file that looks complete
    return BackupResult(out, out.stat().st_size, doc, time.monotonic() - started)


def _manifest(
    conn: Any, backend: str, payload: Path, tools: dict[str, str], include_keys: Mapping[str, Path] | None
) -> dict[str, Any]:
    info = {"name": payload.name, "size": payload.stat().st_size, "sha256": _sha256(payload)}
    doc = manifest.build(conn, backend=backend, payload=info, tools=tools)
    doc["keys_included"] = sorted(include_keys or {})
    return doc


def _write_archive(
    path: Path, key: BackupKey, doc: dict[str, Any], payload: Path, keys: Mapping[str, Path]
) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw:
        writer = crypto.EncryptingWriter(raw, key)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            body = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
            _add(tar, MANIFEST, io.BytesIO(body), len(body))
            with payload.open("rb") as fh:
                _add(tar, payload.name, fh, payload.stat().st_size)
            for name, source in sorted(keys.items()):
                data = source.read_bytes()
                _add(tar, name, io.BytesIO(data), len(data))
        writer.close()
        raw.flush()
        os.fsync(raw.fileno())


# --- reading an archive -----------------------------------------------------------------------------------


@contextmanager
def _opened(
    archive: Path, key: BackupKey, work_dir: Path | None
) -> Iterator[tuple[dict[str, Any], tarfile.TarFile, Path]]:
    """Decrypt and authenticate the whole archive, then yield its manifest, its tar and a private folder."""
    with _private_dir(work_dir) as tmp:
        plain = tmp / "archive.tar"
        try:
            with archive.open("rb") as src, plain.open("wb") as out:
                crypto.decrypt_stream(src, key, out)
        except OSError as exc:
            raise BackupError(f"cannot read {archive}: {exc.strerror}", field="archive") from None
        try:
            tar = tarfile.open(plain, "r:")  # noqa: SIM115 - closed by the `with tar` below
        except tarfile.TarError as exc:
            raise TamperedArchive(f"the archive authenticates but holds no valid tar ({exc})") from None
        with tar:
            doc = _read_manifest(tar)
            yield doc, tar, tmp


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    member = tar.extractfile(MANIFEST)
    if member is None:
        raise TamperedArchive("the archive holds no manifest")
    doc = orjson.loads(member.read())
    if doc.get("format") != manifest.FORMAT:
        raise BackupError(
            f"unsupported archive format {doc.get('format')!r} (this version reads {manifest.FORMAT})"
        )
    return doc


def _extract(tar: tarfile.TarFile, name: str, dest: Path) -> None:
    member = tar.extractfile(name)  # by exact name: nothing in the archive chooses a path on disk
    if member is None:
        raise TamperedArchive(f"the archive does not hold {name}")
    with dest.open("wb") as out:
        shutil.copyfileobj(member, out, 1 << 20)


def read_manifest(*, archive: Path, key: BackupKey, work_dir: Path | None = None) -> dict[str, Any]:
    """The manifest of an archive, after authenticating every chunk of it."""
    with _opened(archive, key, work_dir) as (doc, _tar, _tmp):
        return doc


# --- restore ----------------------------------------------------------------------------------------------


def restore(
    *,
    database_url: str,
    archive: Path,
    key: BackupKey,
    force: bool = False,
    restore_keys: Mapping[str, Path] | None = None,
    work_dir: Path | None = None,
) -> RestoreResult:
    """Restore `archive` into `database_url`, then prove the result (see the module docstring)."""
    with _database_errors(database_url):
        return _restore(database_url, archive, key, force, restore_keys or {}, work_dir)


def _restore(
    database_url: str,
    archive: Path,
    key: BackupKey,
    force: bool,
    restore_keys: Mapping[str, Path],
    work_dir: Path | None,
) -> RestoreResult:
    started = time.monotonic()
    backend = _backend(database_url)
    with _opened(archive, key, work_dir) as (doc, tar, tmp):
        if doc["backend"] != backend:
            raise BackupError(
                f"this archive is of a {doc['backend']} database; restore it into {doc['backend']} "
                f"(a move between backends goes through `iti export` / `iti import`)",
                field="database_url",
            )
        _check_revision_known(doc["schema_revision"])
        payload = tmp / doc["payload"]["name"]
        if doc["payload"]["name"] != PAYLOAD[backend]:
            raise TamperedArchive(f"unexpected payload {doc['payload']['name']!r}")
        _extract(tar, payload.name, payload)
        if _sha256(payload) != doc["payload"]["sha256"]:
            raise TamperedArchive("the database in the archive does not match its manifest digest")
        if not _target_empty(database_url) and not force:
            raise NotEmpty(
                "the target database already holds records: restore into an empty database, or pass --force "
                "to replace them",
                field="database_url",
            )
        if backend == "sqlite":
            sqlite.check_integrity(payload)
            sqlite.restore(payload, sqlite.path_of(database_url))
        else:
            postgres.restore(database_url, payload, clean=force)
        written = _restore_keys(tar, doc, restore_keys, tmp)
    upgraded_from, report = _verify(database_url, doc)
    return RestoreResult(
        manifest=doc,
        upgraded_from=upgraded_from,
        entries=report.entries,
        tree_heads=report.tree_heads,
        records=report.records,
        keys_written=written,
        seconds=time.monotonic() - started,
    )


def _check_revision_known(revision: str | None) -> None:
    if revision is None:
        return
    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    try:
        known = scripts.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise BackupError(
            f"the archive's schema revision {revision} is unknown to this version of iti-registry: restore "
            "it with the version that made it (see the manifest's tools) or a newer one",
            field="schema_revision",
        )


def _engine(url: str) -> Engine:
    return create_engine(url)


def _target_empty(url: str) -> bool:
    if make_url(url).get_backend_name() == "sqlite" and not sqlite.path_of(url).exists():
        return True
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return manifest.is_empty(conn)
    finally:
        engine.dispose()


def _restore_keys(
    tar: tarfile.TarFile, doc: dict[str, Any], wanted: Mapping[str, Path], tmp: Path
) -> list[str]:
    """Write the requested key files from the archive; never overwrite a different existing key."""
    written = []
    for name, dest in sorted(wanted.items()):
        if name not in doc.get("keys_included", []):
            continue
        staged = tmp / name.replace("/", "_")
        _extract(tar, name, staged)
        if dest.exists():
            if dest.read_bytes() != staged.read_bytes():
                raise BackupError(f"{dest} exists and differs from the key in the archive: not overwritten")
            continue
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(staged.read_bytes())
        written.append(str(dest))
    return written


def _verify(url: str, doc: dict[str, Any]) -> tuple[str | None, checker.VerifyReport]:
    """Compare the restored database with the manifest, bring it to the current schema, verify the audit log."""
    problems: list[str] = []
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            counts = manifest.table_counts(conn)
            state = manifest.audit_state(conn)
        for table, expected in doc["tables"].items():
            if counts.get(table) != expected:
                problems.append(
                    f"table {table}: {counts.get(table)} rows restored, {expected} in the manifest"
                )
        for name in ("tree_size", "root"):
            if state[name] != doc["audit"][name]:
                problems.append(f"audit {name}: {state[name]} restored, {doc['audit'][name]} in the manifest")
        if problems:
            raise RestoreVerificationFailed(
                "the restored database differs from the archive's manifest — do not use it: "
                + "; ".join(problems[:5]),
                problems=problems,
            )
        upgraded_from = None
        current = migrate.current_revision(engine)
        if current != migrate.head_revision():
            migrate.upgrade(url)
            upgraded_from = current
        with Session(engine) as session, session.begin():
            report = checker.verify(session, check_records=True)
    finally:
        engine.dispose()
    if not report.ok:
        first = report.first
        assert first is not None
        raise RestoreVerificationFailed(
            f"the restored database FAILS audit verification ({first.kind}: {first.message}) — do not use it",
            problems=[p.message for p in report.problems[:20]],
            seq=first.seq,
        )
    return upgraded_from, report
