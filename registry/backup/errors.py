"""Backup and restore errors. The CLI maps them to exit codes; each message says what to do next."""

from __future__ import annotations

from registry.errors import Conflict, RegistryError, ValidationError


class BackupError(RegistryError):
    """A backup or restore that could not be done (a tool failed, a path is unusable)."""

    code = "backup"


class BackupKeyError(ValidationError):
    """A missing or malformed backup key file."""

    code = "backup_key"


class WrongBackupKey(ValidationError):
    """The archive was encrypted with another backup key."""

    code = "backup_wrong_key"


class TamperedArchive(RegistryError):
    """The archive does not authenticate: altered, truncated, or not an archive at all."""

    code = "backup_tampered"


class NotEmpty(Conflict):
    """The target database already holds records; restoring over it needs --force."""

    code = "backup_target_not_empty"


class RestoreVerificationFailed(RegistryError):
    """The restored database does not verify (audit log or manifest): it must not be used."""

    code = "backup_restore_unverified"
