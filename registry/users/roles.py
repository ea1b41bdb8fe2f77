"""Roles and the permission matrix: least privilege, one role per user or API key.

The matrix is the single source of truth: `docs/security.md` prints it (a test keeps the two equal) and the
API declares one `Permission` per route.

Why the edges are where they are:
- `admin` manages accounts, signs audit tree heads and maintains reference tables, but cannot write weapon
  history (no `weapon.write`, `event.write`, `marking.write`): the person who can create accounts should not
  also be able to rewrite what they are supposed to protect.
- `auditor` reads the registry and the audit log (proofs, tree heads) and may export, but gets no
  `person.read`: verifying integrity never needs holders' names, and audit entries carry ids and digests only.
- `poc_officer` answers tracing requests, which need the holder of a weapon, hence `person.read`; it cannot
  change records.
- `marking_operator` marks weapons at a station: it reads a weapon and records a marking, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Role(StrEnum):
    RECORD_OFFICER = "record_officer"
    POC_OFFICER = "poc_officer"
    MARKING_OPERATOR = "marking_operator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    WEAPON_READ = "weapon.read"
    WEAPON_WRITE = "weapon.write"
    EVENT_WRITE = "event.write"
    MARKING_WRITE = "marking.write"
    ORG_READ = "org.read"
    ORG_WRITE = "org.write"
    PERSON_READ = "person.read"
    PERSON_WRITE = "person.write"
    IMPORT = "import"
    EXPORT = "export"
    AUDIT_READ = "audit.read"
    AUDIT_SIGN = "audit.sign"
    REFERENCE_WRITE = "reference.write"
    USER_ADMIN = "user.admin"
    TRACE_READ = "trace.read"
    TRACE_WRITE = "trace.write"


P = Permission

PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.RECORD_OFFICER: frozenset(
            {
                P.WEAPON_READ,
                P.WEAPON_WRITE,
                P.EVENT_WRITE,
                P.MARKING_WRITE,
                P.ORG_READ,
                P.ORG_WRITE,
                P.PERSON_READ,
                P.PERSON_WRITE,
                P.IMPORT,
                P.EXPORT,
                P.AUDIT_READ,
                P.REFERENCE_WRITE,
            }
        ),
        Role.POC_OFFICER: frozenset(
            {P.WEAPON_READ, P.ORG_READ, P.PERSON_READ, P.TRACE_READ, P.TRACE_WRITE, P.AUDIT_READ}
        ),
        Role.MARKING_OPERATOR: frozenset({P.WEAPON_READ, P.MARKING_WRITE}),
        Role.AUDITOR: frozenset({P.WEAPON_READ, P.ORG_READ, P.TRACE_READ, P.AUDIT_READ, P.EXPORT}),
        Role.ADMIN: frozenset({P.USER_ADMIN, P.AUDIT_SIGN, P.REFERENCE_WRITE, P.WEAPON_READ, P.ORG_READ}),
    }
)


def parse_role(value: Role | str) -> Role | None:
    try:
        return Role(str(value).strip().lower())
    except ValueError:
        return None


def has_permission(role: Role | str, permission: Permission) -> bool:
    """True if `role` holds `permission`; an unknown role holds nothing (fail closed)."""
    parsed = parse_role(role)
    return parsed is not None and permission in PERMISSIONS[parsed]


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (written into docs/security.md)."""
    roles = list(Role)
    lines = [
        "| permission | " + " | ".join(f"`{r.value}`" for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for perm in Permission:
        cells = ["✓" if perm in PERMISSIONS[r] else "" for r in roles]
        lines.append(f"| `{perm.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
