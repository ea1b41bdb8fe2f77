"""The permission matrix: least privilege, and docs/security.md shows exactly what the code enforces."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.users.roles import PERMISSIONS, Permission, Role, has_permission, matrix_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "security.md"


def test_every_role_has_an_entry_and_permission_values_are_dotted_lower_case() -> None:
    assert set(PERMISSIONS) == set(Role)
    for perm in Permission:
        assert perm.value == perm.value.lower()
        assert perm.value.replace(".", "").isalpha()


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        (Role.MARKING_OPERATOR, Permission.WEAPON_WRITE),
        (Role.MARKING_OPERATOR, Permission.USER_ADMIN),
        (Role.MARKING_OPERATOR, Permission.PERSON_READ),
        (Role.ADMIN, Permission.EVENT_WRITE),
        (Role.ADMIN, Permission.WEAPON_WRITE),
        (Role.ADMIN, Permission.MARKING_WRITE),
        (Role.ADMIN, Permission.PERSON_READ),
        (Role.AUDITOR, Permission.PERSON_READ),
        (Role.AUDITOR, Permission.WEAPON_WRITE),
        (Role.AUDITOR, Permission.AUDIT_SIGN),
        (Role.POC_OFFICER, Permission.WEAPON_WRITE),
        (Role.RECORD_OFFICER, Permission.USER_ADMIN),
        (Role.RECORD_OFFICER, Permission.AUDIT_SIGN),
    ],
)
def test_least_privilege_refusals(role: Role, permission: Permission) -> None:
    assert not has_permission(role, permission)


@pytest.mark.parametrize(
    ("role", "permission"),
    [
        (Role.MARKING_OPERATOR, Permission.MARKING_WRITE),
        (Role.ADMIN, Permission.USER_ADMIN),
        (Role.AUDITOR, Permission.AUDIT_READ),
        (Role.POC_OFFICER, Permission.PERSON_READ),
        (Role.POC_OFFICER, Permission.TRACE_WRITE),
        (Role.RECORD_OFFICER, Permission.EVENT_WRITE),
    ],
)
def test_grants(role: Role, permission: Permission) -> None:
    assert has_permission(role, permission)
    assert has_permission(role.value, permission)  # a role as stored in the database


def test_only_admin_administers_users_and_only_readers_of_personal_data_are_listed() -> None:
    assert {r for r in Role if has_permission(r, Permission.USER_ADMIN)} == {Role.ADMIN}
    readers = {r for r in Role if has_permission(r, Permission.PERSON_READ)}
    assert readers == {Role.RECORD_OFFICER, Role.POC_OFFICER}


def test_unknown_role_holds_nothing() -> None:
    assert not any(has_permission(r, p) for r in ("", "root", "superuser", "admins") for p in Permission)


def test_security_doc_table_equals_the_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = "<!-- matrix:start -->\n", "<!-- matrix:end -->"
    assert start in text, "docs/security.md lost its matrix markers"
    assert end in text, "docs/security.md lost its matrix markers"
    table = text.split(start, 1)[1].split(end, 1)[0]
    assert table == matrix_markdown(), (
        "docs/security.md is out of date: paste registry.users.roles.matrix_markdown() between the markers"
    )
