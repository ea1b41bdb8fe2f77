"""Domain errors. They carry no HTTP: `api/errors.py` and the CLI map them to responses and exit codes.

Every error names the field(s) it is about, so an edge can tell a user exactly what to fix.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base of every rule the registry enforces."""

    code = "registry_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        out.update({k: v for k, v in self.details.items() if v is not None})
        return out


class ValidationError(RegistryError):
    """Input that breaks a rule about its own content (a wrong code, a missing field)."""

    code = "invalid"


class InvalidCountry(ValidationError):
    code = "invalid_country"


class UnknownReference(ValidationError):
    """A code that is not in a reference table where only known codes are allowed."""

    code = "unknown_reference"


class OutOfScope(ValidationError):
    """The item is not a small arm or light weapon under the ITI (e.g. a mortar of 100 mm or more)."""

    code = "out_of_scope"


class MarkingRuleViolation(ValidationError):
    code = "marking_rule"


class NotFound(RegistryError):
    code = "not_found"


class Conflict(RegistryError):
    """The request is well-formed but clashes with what is recorded."""

    code = "conflict"


class DuplicateMarking(Conflict):
    code = "duplicate_marking"


class InvalidTransition(Conflict):
    """An event that the weapon's current status does not allow; the message names that status."""

    code = "invalid_transition"


class RetentionNotExpired(Conflict):
    code = "retention_not_expired"


class AppendOnlyViolation(Conflict):
    """An attempt to change or remove history, which is only ever corrected by a new event."""

    code = "append_only"


class ImportRejected(ValidationError):
    """An import file had bad rows; nothing was committed. `rejects` lists every one."""

    code = "import_rejected"

    def __init__(self, message: str, *, rejects: list[dict[str, Any]]) -> None:
        super().__init__(message, rejects=rejects)
        self.rejects = rejects


class AuditKeyError(RegistryError):
    code = "audit_key"
