"""Accounts, logins, tokens and API keys.

Secrets are never stored or logged: passwords as Argon2id hashes (argon2-cffi's defaults), tokens and API keys
(32 random bytes, nothing to brute-force) as SHA-256 hex. Audit `info` carries usernames, roles and ids only.

Every change to `users` or `api_keys` is audited with the row's snapshot in the caller's transaction, login
counters included: a failed login flushes the counter and its audit entry and then raises
`AuthenticationFailed`; the edge commits that transaction (not a rollback), or lockout never happens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.db import utcnow
from registry.errors import Conflict, NotFound, ValidationError
from registry.users import repository as repo
from registry.users.errors import AccountLocked, AuthenticationFailed
from registry.users.models import ApiKey, AuthToken, TokenKind, User
from registry.users.roles import Role, parse_role

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # hashing a megabyte-long "password" is a cheap way to burn our CPU
USERNAME_RE = re.compile(r"[a-z0-9._-]{3,64}")
API_KEY_PREFIX = "iti_"
# A key's last use is recorded (and audited) at most this often, not on every request.
LAST_USED_RESOLUTION = timedelta(hours=1)

_hasher = PasswordHasher()  # Argon2id with the library's recommended (RFC 9106 low-memory) parameters


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the API sees it. `username` is the actor to record in audit entries."""

    user_id: uuid.UUID | None
    username: str
    role: Role
    via: str  # "token", "session" or "api_key"
    api_key_id: uuid.UUID | None = None


@dataclass(frozen=True)
class IssuedToken:
    """A new token, shown once. `csrf` is set for session tokens: send it back in a header on writes."""

    token: str
    csrf: str | None
    expires_at: datetime


# --- helpers ----------------------------------------------------------------------------------------------


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _username(value: Any) -> str:
    name = value.strip().lower() if isinstance(value, str) else ""
    if not USERNAME_RE.fullmatch(name):
        raise ValidationError(
            "username must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-'", field="username"
        )
    return name


def _password(value: Any, *, username: str) -> str:
    if not isinstance(value, str) or len(value) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters", field="password")
    if len(value) > MAX_PASSWORD:
        raise ValidationError(f"password must be at most {MAX_PASSWORD} characters", field="password")
    if value.strip().lower() == username:
        raise ValidationError("password must not be the username", field="password")
    return value


def _role(value: Any) -> Role:
    role = parse_role(value)
    if role is None:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationError(f"role {value!r} is not a role; use one of: {allowed}", field="role")
    return role


def _subject(user: User) -> str:
    return audit.new_subject("user", user.id)


def _audit_user(session: Session, user: User, *, actor: str, action: str, **info: Any) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject=_subject(user),
        records=[audit.snapshot_obj(user)],
        info={"username": user.username, **info},
    )


def _locked_user(session: Session, username: str) -> User:
    user = repo.lock_user(session, _username(username))
    if user is None:
        raise NotFound(f"no user {username!r}", field="username", value=username)
    return user


# --- accounts ---------------------------------------------------------------------------------------------


def get_user(session: Session, username: str) -> User:
    user = repo.user_by_username(session, _username(username))
    if user is None:
        raise NotFound(f"no user {username!r}", field="username", value=username)
    return user


def list_users(session: Session) -> list[User]:
    return repo.list_users(session)


def add_user(session: Session, *, actor: str, username: str, role: Role | str, password: str) -> User:
    name = _username(username)
    user_role = _role(role)
    now = utcnow()
    user = User(
        id=uuid.uuid4(),
        username=name,
        role=user_role.value,
        password_hash=_hasher.hash(_password(password, username=name)),
        disabled_at=None,
        failed_logins=0,
        locked_until=None,
        password_changed_at=now,
        created_at=now,
        updated_at=now,
        version=1,
    )
    duplicate = Conflict(f"user {name!r} already exists", field="username", value=name)
    if repo.user_by_username(session, name) is not None:
        raise duplicate
    try:
        with session.begin_nested():
            repo.add(session, user)
    except IntegrityError as exc:  # lost a race with another add of the same name
        raise duplicate from exc
    _audit_user(session, user, actor=actor, action="user.created", role=user.role)
    return user


def disable_user(session: Session, *, actor: str, username: str) -> User:
    """Disable an account for good (its history stays) and revoke its tokens at once."""
    user = _locked_user(session, username)
    if user.disabled_at is not None:
        raise Conflict(f"user {user.username!r} is already disabled", field="username")
    if user.role == Role.ADMIN and repo.count_active_admins(session) <= 1:
        raise Conflict("the last active admin cannot be disabled: add another admin first", field="username")
    now = utcnow()
    user.disabled_at = now
    user.updated_at = now
    user.version += 1
    session.flush()
    revoked = repo.revoke_tokens_of(session, user.id, now)
    _audit_user(session, user, actor=actor, action="user.disabled", revoked_tokens=revoked)
    return user


def reset_password(session: Session, *, actor: str, username: str, password: str) -> User:
    """Set a new password, clear any lockout and revoke every token issued under the old one."""
    user = _locked_user(session, username)
    new_hash = _hasher.hash(_password(password, username=user.username))
    now = utcnow()
    user.password_hash = new_hash
    user.password_changed_at = now
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = now
    user.version += 1
    session.flush()
    revoked = repo.revoke_tokens_of(session, user.id, now)
    _audit_user(session, user, actor=actor, action="user.password_reset", revoked_tokens=revoked)
    return user


# --- login ------------------------------------------------------------------------------------------------


def authenticate(session: Session, *, username: str, password: str, now: datetime | None = None) -> User:
    """Check a username and password. Raises `AuthenticationFailed` (one message whatever was wrong) or
    `AccountLocked`; both are raised after the attempt is flushed and audited: commit, do not roll back."""
    now = now or utcnow()
    name = username.strip().lower() if isinstance(username, str) else ""
    pw = password if isinstance(password, str) and len(password) <= MAX_PASSWORD else ""
    user = repo.lock_user(session, name) if USERNAME_RE.fullmatch(name) else None
    if user is None:
        _verify(_dummy_hash(), pw)  # spend the same time as for a real account
        # What was typed as a username is not recorded: people type their password there by mistake.
        audit.record(session, actor="anonymous", action="auth.login_failed", info={"reason": "unknown_user"})
        raise AuthenticationFailed()
    if user.locked_until is not None and user.locked_until > now:
        _audit_user(session, user, actor=user.username, action="auth.login_failed", reason="locked")
        raise AccountLocked(user.locked_until)
    ok = bool(pw) and _verify(user.password_hash, pw)
    if user.disabled_at is not None:
        _audit_user(session, user, actor=user.username, action="auth.login_failed", reason="disabled")
        raise AuthenticationFailed()
    if not ok:
        _count_failure(session, user, now)
    user.failed_logins = 0
    user.locked_until = None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(pw)
    session.flush()
    _audit_user(session, user, actor=user.username, action="auth.login")
    return user


def _count_failure(session: Session, user: User, now: datetime) -> None:
    if user.locked_until is not None:  # an expired lock: start counting afresh
        user.failed_logins = 0
        user.locked_until = None
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = now + LOCKOUT
    session.flush()
    _audit_user(
        session,
        user,
        actor=user.username,
        action="auth.login_failed",
        reason="wrong_password",
        failed_logins=user.failed_logins,
    )
    if user.locked_until is not None:
        raise AccountLocked(user.locked_until)
    raise AuthenticationFailed()


# --- tokens -----------------------------------------------------------------------------------------------


def issue_token(
    session: Session,
    *,
    user: User,
    kind: str = TokenKind.BEARER,
    ttl: timedelta = timedelta(minutes=30),
    now: datetime | None = None,
) -> IssuedToken:
    """A new bearer token (API clients) or session token (browser cookie, with a CSRF token)."""
    try:
        token_kind = TokenKind(kind)
    except ValueError:
        raise ValidationError(f"token kind {kind!r} is not bearer or session", field="kind") from None
    if ttl <= timedelta(0):
        raise ValidationError("a token's lifetime must be positive", field="ttl")
    if user.disabled_at is not None:
        raise AuthenticationFailed()
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32) if token_kind is TokenKind.SESSION else None
    row = AuthToken(
        id=uuid.uuid4(),
        user_id=user.id,
        token_hash=_sha256(token),
        kind=token_kind.value,
        created_at=now,
        expires_at=now + ttl,
        revoked_at=None,
        csrf_hash=_sha256(csrf) if csrf is not None else None,
    )
    repo.add(session, row)
    return IssuedToken(token=token, csrf=csrf, expires_at=row.expires_at)


def _live_token(session: Session, token: Any, kind: str, now: datetime) -> AuthToken | None:
    if not isinstance(token, str) or not token:
        return None
    row = repo.token_by_hash(session, _sha256(token))
    if row is None or row.kind != kind or row.revoked_at is not None or row.expires_at <= now:
        return None
    return row


def principal_for_token(
    session: Session, token: str, *, kind: str = TokenKind.BEARER, now: datetime | None = None
) -> Principal | None:
    """Who holds this token, or None if it is unknown, of another kind, expired, revoked, or its user is
    disabled. The role is the user's role now, not when the token was issued."""
    row = _live_token(session, token, kind, now or utcnow())
    if row is None:
        return None
    user = repo.get_user(session, row.user_id)
    role = parse_role(user.role) if user is not None else None
    if user is None or user.disabled_at is not None or role is None:
        return None
    via = "session" if row.kind == TokenKind.SESSION else "token"
    return Principal(user_id=user.id, username=user.username, role=role, via=via)


def check_csrf(session: Session, token: str, csrf: str | None, *, now: datetime | None = None) -> bool:
    """True if `csrf` is the CSRF token issued with this live session token (constant-time comparison)."""
    row = _live_token(session, token, TokenKind.SESSION, now or utcnow())
    if row is None or row.csrf_hash is None or not isinstance(csrf, str) or not csrf:
        return False
    return hmac.compare_digest(row.csrf_hash, _sha256(csrf))


def revoke_token(session: Session, token: str) -> bool:
    """Log out: revoke the token. Returns False if it was unknown or already revoked (logging out twice is
    not an error)."""
    row = repo.token_by_hash(session, _sha256(token)) if isinstance(token, str) and token else None
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.flush()
    return True


# --- API keys ---------------------------------------------------------------------------------------------


def create_api_key(session: Session, *, actor: str, name: str, role: Role | str) -> tuple[ApiKey, str]:
    """A key for a station or script, scoped to one role. The secret is returned once and never stored.

    No admin keys: user administration needs a person who logs in, not a long-lived secret in a file."""
    key_name = name.strip() if isinstance(name, str) else ""
    if not key_name or len(key_name) > 100:
        raise ValidationError("an API key needs a name of 1 to 100 characters", field="name")
    key_role = _role(role)
    if key_role is Role.ADMIN:
        raise ValidationError("API keys cannot have the admin role", field="role")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=uuid.uuid4(),
        name=key_name,
        role=key_role.value,
        prefix=secret[:8],
        key_hash=_sha256(secret),
        created_by=actor,
        created_at=utcnow(),
        revoked_at=None,
        last_used_at=None,
    )
    repo.add(session, key)
    _audit_key(session, key, actor=actor, action="api_key.created", name=key.name, role=key.role)
    return key, secret


def _audit_key(session: Session, key: ApiKey, *, actor: str, action: str, **info: Any) -> None:
    audit.record(
        session,
        actor=actor,
        action=action,
        subject=audit.new_subject("api_key", key.id),
        records=[audit.snapshot_obj(key)],
        info={"key_id": str(key.id), **info},
    )


def principal_for_api_key(session: Session, key: str, *, now: datetime | None = None) -> Principal | None:
    """Who holds this key, or None if unknown or revoked. Records the key's last use, at most hourly."""
    if not isinstance(key, str) or not key.startswith(API_KEY_PREFIX):
        return None
    row = repo.api_key_by_hash(session, _sha256(key))
    role = parse_role(row.role) if row is not None else None
    if row is None or row.revoked_at is not None or role is None:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.flush()
        _audit_key(session, row, actor=f"api_key:{row.name}", action="api_key.used")
    return Principal(
        user_id=None, username=f"api_key:{row.name}", role=role, via="api_key", api_key_id=row.id
    )


def revoke_api_key(session: Session, *, actor: str, key_id: uuid.UUID) -> ApiKey:
    key = repo.lock_api_key(session, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}", field="key_id", value=str(key_id))
    if key.revoked_at is not None:
        raise Conflict(f"API key {key_id} was already revoked", field="key_id")
    key.revoked_at = utcnow()
    session.flush()
    _audit_key(session, key, actor=actor, action="api_key.revoked")
    return key


def list_api_keys(session: Session) -> list[ApiKey]:
    return repo.list_api_keys(session)
