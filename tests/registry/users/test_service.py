"""Accounts, logins, lockout, tokens and API keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from argon2.exceptions import VerifyMismatchError
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from registry.audit import checker
from registry.audit.models import AuditEntry
from registry.db import utcnow
from registry.errors import Conflict, NotFound, ValidationError
from registry.users import service as users
from registry.users.errors import AccountLocked, AuthenticationFailed
from registry.users.models import ApiKey, AuthToken, User
from registry.users.roles import Role

ACTOR = "admin-tests"
PASSWORD = "correct horse battery"


def make_user(session: Session, name: str = "officer.one", role: Role = Role.RECORD_OFFICER) -> User:
    return users.add_user(session, actor=ACTOR, username=name, role=role, password=PASSWORD)


def audit_bodies(session: Session) -> list[bytes]:
    return list(session.execute(select(AuditEntry.body).order_by(AuditEntry.seq)).scalars())


# --- accounts ---------------------------------------------------------------------------------------------


def test_password_is_stored_as_argon2id_and_never_in_clear(session: Session) -> None:
    user = make_user(session)
    stored = session.execute(
        text("SELECT password_hash FROM users WHERE username = :name"), {"name": user.username}
    ).scalar()
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert extract_parameters(stored).type is Type.ID
    assert PasswordHasher().verify(stored, PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(stored, PASSWORD + "x")


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("ab", PASSWORD, "username"),
        ("x" * 65, PASSWORD, "username"),
        ("bad name", PASSWORD, "username"),
        ("o'brien", PASSWORD, "username"),
        ("good.name", "elevenchars", "password"),
        ("longusername1", "LongUsername1", "password"),
    ],
)
def test_add_user_rules(session: Session, username: str, password: str, field: str) -> None:
    with pytest.raises(ValidationError) as err:
        users.add_user(session, actor=ACTOR, username=username, role="auditor", password=password)
    assert err.value.field == field


def test_unknown_role_is_refused(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        users.add_user(session, actor=ACTOR, username="someone", role="root", password=PASSWORD)
    assert err.value.field == "role"


def test_duplicate_username_is_a_conflict_even_in_another_case(session: Session) -> None:
    make_user(session, "dup.user")
    with pytest.raises(Conflict) as err:
        users.add_user(session, actor=ACTOR, username="Dup.User", role="auditor", password=PASSWORD)
    assert err.value.field == "username"


def test_get_and_list_users(session: Session) -> None:
    make_user(session, "zed")
    make_user(session, "amy", Role.AUDITOR)
    assert users.get_user(session, "amy").role == "auditor"
    names = [u.username for u in users.list_users(session)]
    assert names.index("amy") < names.index("zed")
    with pytest.raises(NotFound):
        users.get_user(session, "nobody")


# --- login and lockout ------------------------------------------------------------------------------------


def test_login_succeeds_with_the_right_password(session: Session) -> None:
    user = make_user(session)
    assert users.authenticate(session, username="Officer.One ", password=PASSWORD).id == user.id


def test_wrong_password_and_unknown_user_give_the_same_error(session: Session) -> None:
    make_user(session)
    with pytest.raises(AuthenticationFailed) as wrong:
        users.authenticate(session, username="officer.one", password="not the password")
    with pytest.raises(AuthenticationFailed) as unknown:
        users.authenticate(session, username="no.such.user", password="not the password")
    assert type(wrong.value) is type(unknown.value) is AuthenticationFailed
    assert wrong.value.as_dict() == unknown.value.as_dict()


def test_disabled_user_cannot_log_in_and_gets_the_same_error(session: Session) -> None:
    make_user(session)
    users.disable_user(session, actor=ACTOR, username="officer.one")
    with pytest.raises(AuthenticationFailed) as err:
        users.authenticate(session, username="officer.one", password=PASSWORD)
    assert err.value.message == AuthenticationFailed.MESSAGE


def test_lockout_after_five_failures_then_unlock_after_fifteen_minutes(session: Session) -> None:
    make_user(session)
    t0 = utcnow()
    for i in range(4):
        with pytest.raises(AuthenticationFailed) as err:
            users.authenticate(session, username="officer.one", password=f"wrong {i}", now=t0)
        assert type(err.value) is AuthenticationFailed
    with pytest.raises(AccountLocked):
        users.authenticate(session, username="officer.one", password="wrong 5", now=t0)
    # Locked: even the right password is refused until the lock ends.
    with pytest.raises(AccountLocked) as locked:
        users.authenticate(session, username="officer.one", password=PASSWORD, now=t0 + timedelta(minutes=14))
    assert locked.value.locked_until == t0 + users.LOCKOUT
    user = users.authenticate(
        session, username="officer.one", password=PASSWORD, now=t0 + timedelta(minutes=15, seconds=1)
    )
    assert (user.failed_logins, user.locked_until) == (0, None)


def test_a_success_resets_the_failure_count(session: Session) -> None:
    make_user(session)
    t0 = utcnow()
    for _ in range(2):
        for i in range(4):
            with pytest.raises(AuthenticationFailed):
                users.authenticate(session, username="officer.one", password=f"wrong {i}", now=t0)
        users.authenticate(session, username="officer.one", password=PASSWORD, now=t0)


def test_reset_password_clears_the_lock_and_revokes_tokens(session: Session) -> None:
    user = make_user(session)
    issued = users.issue_token(session, user=user)
    for i in range(5):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(session, username="officer.one", password=f"wrong {i}")
    users.reset_password(session, actor=ACTOR, username="officer.one", password="a brand new passphrase")
    assert users.principal_for_token(session, issued.token) is None
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, username="officer.one", password=PASSWORD)
    assert users.authenticate(session, username="officer.one", password="a brand new passphrase")


def test_login_audit_entries_hold_the_username_but_no_secret(session: Session) -> None:
    user = make_user(session)
    users.authenticate(session, username="officer.one", password=PASSWORD)
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, username="officer.one", password="wrong password 1")
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, username="correct horse typed", password="wrong password 2")
    issued = users.issue_token(session, user=user, kind="session")
    key, secret = users.create_api_key(session, actor=ACTOR, name="station-1", role=Role.MARKING_OPERATOR)
    assert users.principal_for_api_key(session, secret) is not None
    actions = list(
        session.execute(
            select(AuditEntry.action).where(AuditEntry.action.like("auth.%")).order_by(AuditEntry.seq)
        ).scalars()
    )
    assert actions[-3:] == ["auth.login", "auth.login_failed", "auth.login_failed"]
    everything = b"\n".join(audit_bodies(session))
    assert b'"username":"officer.one"' in everything
    stored_hash = session.execute(select(User.password_hash).where(User.id == user.id)).scalar_one()
    for secret_text in (
        PASSWORD,
        "wrong password 1",
        "wrong password 2",
        "correct horse typed",
        stored_hash,
        issued.token,
        issued.csrf,
        secret,
        secret[4:12],
        key.key_hash,
    ):
        assert secret_text is not None
        assert secret_text.encode() not in everything


def test_audit_log_verifies_after_every_kind_of_write(session: Session) -> None:
    user = make_user(session)
    make_user(session, "second.admin", Role.ADMIN)
    users.authenticate(session, username="officer.one", password=PASSWORD)
    for i in range(5):
        with pytest.raises(AuthenticationFailed):
            users.authenticate(session, username="officer.one", password=f"wrong {i}")
    with pytest.raises(AuthenticationFailed):
        users.authenticate(session, username="officer.one", password=PASSWORD)
    users.issue_token(session, user=user)
    users.reset_password(session, actor=ACTOR, username="officer.one", password="another long passphrase")
    key, secret = users.create_api_key(session, actor=ACTOR, name="script", role="auditor")
    users.principal_for_api_key(session, secret)
    users.revoke_api_key(session, actor=ACTOR, key_id=key.id)
    users.disable_user(session, actor=ACTOR, username="officer.one")
    report = checker.verify(session)
    assert report.ok, report.first


def test_a_role_raised_by_hand_in_the_database_fails_verification(session: Session) -> None:
    user = make_user(session, "sneaky", Role.MARKING_OPERATOR)
    session.execute(update(User).where(User.id == user.id).values(role="admin"))
    report = checker.verify(session)
    assert not report.ok


# --- tokens -----------------------------------------------------------------------------------------------


def test_bearer_token_is_hashed_at_rest_and_expires(session: Session) -> None:
    user = make_user(session)
    t0 = utcnow()
    issued = users.issue_token(session, user=user, ttl=timedelta(minutes=30), now=t0)
    assert issued.csrf is None
    assert issued.expires_at == t0 + timedelta(minutes=30)
    row = session.execute(select(AuthToken).where(AuthToken.user_id == user.id)).scalar_one()
    assert row.token_hash == hashlib.sha256(issued.token.encode()).hexdigest() != issued.token
    principal = users.principal_for_token(session, issued.token, now=t0 + timedelta(minutes=29))
    assert principal == users.Principal(
        user_id=user.id, username="officer.one", role=Role.RECORD_OFFICER, via="token"
    )
    assert users.principal_for_token(session, issued.token, now=t0 + timedelta(minutes=30)) is None
    assert users.principal_for_token(session, issued.token, kind="session", now=t0) is None
    assert users.principal_for_token(session, "no such token") is None
    assert users.principal_for_token(session, "") is None


def test_revoked_token_stops_working(session: Session) -> None:
    user = make_user(session)
    issued = users.issue_token(session, user=user)
    assert users.principal_for_token(session, issued.token) is not None
    assert users.revoke_token(session, issued.token) is True
    assert users.principal_for_token(session, issued.token) is None
    assert users.revoke_token(session, issued.token) is False


def test_disabled_users_token_stops_working(session: Session) -> None:
    user = make_user(session)
    other = make_user(session, "other.one")
    issued = users.issue_token(session, user=user)
    kept = users.issue_token(session, user=other)
    users.disable_user(session, actor=ACTOR, username="officer.one")
    assert users.principal_for_token(session, issued.token) is None
    assert users.principal_for_token(session, kept.token) is not None
    with pytest.raises(AuthenticationFailed):
        users.issue_token(session, user=user)


def test_session_token_carries_a_csrf_token(session: Session) -> None:
    user = make_user(session)
    issued = users.issue_token(session, user=user, kind="session")
    assert issued.csrf is not None
    assert issued.csrf != issued.token
    principal = users.principal_for_token(session, issued.token, kind="session")
    assert principal is not None
    assert principal.via == "session"
    assert users.principal_for_token(session, issued.token) is None  # not usable as a bearer token
    assert users.check_csrf(session, issued.token, issued.csrf)
    assert not users.check_csrf(session, issued.token, issued.csrf + "x")
    assert not users.check_csrf(session, issued.token, None)
    assert not users.check_csrf(session, issued.token, issued.token)
    users.revoke_token(session, issued.token)
    assert not users.check_csrf(session, issued.token, issued.csrf)


def test_token_kind_and_lifetime_are_checked(session: Session) -> None:
    user = make_user(session)
    with pytest.raises(ValidationError):
        users.issue_token(session, user=user, kind="forever")
    with pytest.raises(ValidationError):
        users.issue_token(session, user=user, ttl=timedelta(0))


# --- API keys ---------------------------------------------------------------------------------------------


def test_api_key_is_hashed_at_rest_works_and_stops_once_revoked(session: Session) -> None:
    key, secret = users.create_api_key(session, actor=ACTOR, name="station-3", role=Role.MARKING_OPERATOR)
    assert secret.startswith("iti_")
    assert len(secret) > 40
    stored = session.execute(select(ApiKey.key_hash, ApiKey.prefix).where(ApiKey.id == key.id)).one()
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert stored.prefix == secret[:8]
    row_text = " ".join(str(v) for v in session.execute(select(ApiKey).where(ApiKey.id == key.id)).one())
    assert secret not in row_text
    principal = users.principal_for_api_key(session, secret)
    assert principal == users.Principal(
        user_id=None,
        username="api_key:station-3",
        role=Role.MARKING_OPERATOR,
        via="api_key",
        api_key_id=key.id,
    )
    assert users.principal_for_api_key(session, secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    users.revoke_api_key(session, actor=ACTOR, key_id=key.id)
    assert users.principal_for_api_key(session, secret) is None
    with pytest.raises(Conflict):
        users.revoke_api_key(session, actor=ACTOR, key_id=key.id)
    with pytest.raises(NotFound):
        users.revoke_api_key(session, actor=ACTOR, key_id=uuid.uuid4())


def test_api_key_last_use_is_recorded_at_most_hourly(session: Session) -> None:
    key, secret = users.create_api_key(session, actor=ACTOR, name="script", role=Role.AUDITOR)
    t0 = utcnow()
    users.principal_for_api_key(session, secret, now=t0)
    users.principal_for_api_key(session, secret, now=t0 + timedelta(minutes=59))
    assert key.last_used_at == t0
    users.principal_for_api_key(session, secret, now=t0 + timedelta(hours=1))
    assert key.last_used_at == t0 + timedelta(hours=1)
    used = session.execute(
        select(AuditEntry.seq).where(
            AuditEntry.action == "api_key.used", AuditEntry.subject == f"api_key:{key.id}"
        )
    ).all()
    assert len(used) == 2


def test_no_admin_api_keys(session: Session) -> None:
    with pytest.raises(ValidationError) as err:
        users.create_api_key(session, actor=ACTOR, name="god-mode", role=Role.ADMIN)
    assert err.value.field == "role"


# --- disabling --------------------------------------------------------------------------------------------


def test_disable_twice_is_a_conflict(session: Session) -> None:
    make_user(session)
    users.disable_user(session, actor=ACTOR, username="officer.one")
    with pytest.raises(Conflict):
        users.disable_user(session, actor=ACTOR, username="officer.one")


def test_the_last_active_admin_cannot_be_disabled(session: Session) -> None:
    existing = [u.username for u in users.list_users(session) if u.role == "admin" and u.disabled_at is None]
    assert not existing  # the test database starts without accounts
    make_user(session, "root.admin", Role.ADMIN)
    with pytest.raises(Conflict):
        users.disable_user(session, actor=ACTOR, username="root.admin")
    make_user(session, "second.admin", Role.ADMIN)
    users.disable_user(session, actor=ACTOR, username="root.admin")
