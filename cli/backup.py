"""`iti backup`, `iti restore`, `iti backup-keygen`: encrypted, verified backups (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import Exit, emit, fail, handle, settings
from cli.i18n import L_, _, number
from registry.backup import crypto
from registry.backup import service as backups
from registry.backup.errors import BackupKeyError, RestoreVerificationFailed, TamperedArchive
from registry.errors import RegistryError

KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        envvar="ITI_BACKUP_KEY_FILE",
        help="The backup key (make one with `iti backup-keygen`); or ITI_BACKUP_KEY_FILE",
        show_default=False,
    ),
]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
    app.command("backup-keygen")(keygen_command)


def _key(path: Path | None) -> crypto.BackupKey:
    if path is None:
        fail(
            L_("a backup key is required: --key-file PATH or ITI_BACKUP_KEY_FILE"),
            Exit.USAGE,
            {"field": "key_file"},
        )
    return crypto.load_key_file(path)


def _key_files() -> dict[str, Path]:
    s = settings()
    return {"keys/data.key": s.data_key_file, "keys/audit-signing.pem": s.audit_key_file}


def _fail_for(exc: RegistryError) -> None:
    """Tampering and a restore that does not verify are failed checks (exit 1); the rest map as usual."""
    if isinstance(exc, TamperedArchive | RestoreVerificationFailed):
        fail(exc.message, Exit.CHECK_FAILED, exc.as_dict())
    handle(exc)


def backup_command(
    out: Annotated[Path, typer.Argument(help="The archive to write (never overwritten)")],
    key_file: KeyFile = None,
    include_keys: Annotated[
        bool,
        typer.Option(
            help="Also put the personal-data key file and the (passphrase-encrypted) audit signing key in the "
            "archive. Off by default: keys are better kept apart from the data they protect"
        ),
    ] = False,
) -> None:
    """Back up the whole database (ITI_DATABASE_URL) into an encrypted archive, consistent while serving."""
    key = _key(key_file)
    wanted = {n: p for n, p in _key_files().items() if p.exists()} if include_keys else None
    try:
        result = backups.backup(database_url=settings().database_url, out=out, key=key, include_keys=wanted)
    except RegistryError as exc:
        _fail_for(exc)
    doc = result.manifest
    emit(
        {
            "archive": str(result.path),
            "bytes": result.size,
            "seconds": round(result.seconds, 3),
            "manifest": doc,
        },
        human=_(
            "[green]backed up[/] %(rows)s rows in %(tables)s tables, audit log of %(entries)s entries "
            "(root %(root)s…) to %(path)s (%(bytes)s bytes, %(seconds)s s)",
            rows=sum(doc["tables"].values()),
            tables=len(doc["tables"]),
            entries=doc["audit"]["tree_size"],
            root=doc["audit"]["root"][:16],
            path=result.path,
            bytes=number(result.size),
            seconds=number(result.seconds, digits=1),
        ),
    )


def restore_command(
    archive: Annotated[Path, typer.Argument(help="An archive written by `iti backup`")],
    key_file: KeyFile = None,
    force: Annotated[bool, typer.Option(help="Replace a target database that already holds records")] = False,
    inspect: Annotated[
        bool, typer.Option(help="Only authenticate the archive and print its manifest; restore nothing")
    ] = False,
    restore_keys: Annotated[
        bool,
        typer.Option(
            help="Also write key files held in the archive to their configured paths (never overwrites)"
        ),
    ] = False,
) -> None:
    """Restore an archive into ITI_DATABASE_URL, then verify it: manifest counts, audit root, `audit verify`."""
    key = _key(key_file)
    try:
        if inspect:
            doc = backups.read_manifest(archive=archive, key=key, work_dir=settings().var_dir / "tmp")
            emit(doc, human=_describe(doc))
            return
        result = backups.restore(
            database_url=settings().database_url,
            archive=archive,
            key=key,
            force=force,
            restore_keys=_key_files() if restore_keys else None,
            work_dir=settings().var_dir / "tmp",
        )
    except BackupKeyError as exc:
        handle(exc)
    except RegistryError as exc:
        _fail_for(exc)
    data: dict[str, Any] = {
        "restored": str(archive),
        "created_at": result.manifest["created_at"],
        "upgraded_from": result.upgraded_from,
        "audit": {
            "ok": True,
            "entries": result.entries,
            "tree_heads": result.tree_heads,
            "records": result.records,
        },
        "keys_written": result.keys_written,
        "seconds": round(result.seconds, 3),
    }
    upgraded = (
        _("; schema upgraded from %(revision)s", revision=result.upgraded_from)
        if result.upgraded_from
        else ""
    )
    emit(
        data,
        human=_("[green]restored[/] the backup of %(created)s", created=result.manifest["created_at"])
        + upgraded
        + "\n"
        + _(
            "[green]audit log verified[/]: %(entries)s entries, %(heads)s signed tree heads, "
            "%(records)s records match",
            entries=result.entries,
            heads=result.tree_heads,
            records=result.records,
        ),
    )


def _describe(doc: dict[str, Any]) -> str:
    return _(
        "%(backend)s backup of %(created)s, schema %(revision)s, %(rows)s rows, audit log %(entries)s entries "
        "(root %(root)s), keys included: %(keys)s",
        backend=doc["backend"],
        created=doc["created_at"],
        revision=doc["schema_revision"],
        rows=sum(doc["tables"].values()),
        entries=doc["audit"]["tree_size"],
        root=doc["audit"]["root"],
        keys=", ".join(doc.get("keys_included") or []) or _("none"),
    )


def keygen_command(
    path: Annotated[Path, typer.Argument(help="Where to write the new key (mode 0600; never overwritten)")],
) -> None:
    """Make a backup key. Keep copies offline: without it no archive can be restored."""
    try:
        key = crypto.generate_key_file(path)
    except RegistryError as exc:
        handle(exc)
    emit(
        {"key_file": str(path), "key_id": key.key_id.hex()},
        human=_(
            "backup key %(key)s written to %(path)s — keep a copy offline, away from the backups",
            key=key.key_id.hex(),
            path=path,
        ),
    )
