"""Errors of authentication and account management (no HTTP: the API maps them to 401/423)."""

from __future__ import annotations

from datetime import datetime

from registry.errors import RegistryError


class AuthenticationFailed(RegistryError):
    """Wrong username or password, or a disabled account: one message for all, so a caller cannot probe
    which usernames exist.

    The failed attempt has been flushed (failure counter, audit entry) before this is raised: the edge must
    COMMIT the transaction, not roll it back, or lockout never happens.
    """

    code = "authentication_failed"
    MESSAGE = "wrong username or password"

    def __init__(self, message: str = MESSAGE, **details: object) -> None:
        super().__init__(message, **details)


class AccountLocked(AuthenticationFailed):
    """Too many failed logins in a row; refused until `locked_until` whatever the password."""

    code = "account_locked"

    def __init__(self, locked_until: datetime) -> None:
        super().__init__(
            f"too many failed logins: the account is locked until {locked_until.isoformat(timespec='seconds')}",
            locked_until=locked_until.isoformat(),
        )
        self.locked_until = locked_until
