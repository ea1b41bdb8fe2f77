"""Browser sessions for the web UI: an HttpOnly session cookie, a CSRF token on every form, role checks.

The session token and its CSRF token come from `registry.users.service.issue_token(kind="session")`; only
their hashes are stored. The CSRF token also lives in its own HttpOnly cookie so pages can put it in forms
(synchroniser token: a forged cross-site form cannot know it, and the server checks it against the stored
hash, not against the cookie). Both cookies are `SameSite=Strict`, `Secure` unless configured otherwise, and
are replaced at every login, so a session id planted before login is worthless (no session fixation).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request, Response
from sqlalchemy.orm import Session

from api.db import DbSession
from registry.config import Settings
from registry.users import service as users
from registry.users.models import TokenKind
from registry.users.roles import Permission, has_permission
from registry.users.service import IssuedToken, Principal

SESSION_COOKIE = "iti_session"
CSRF_COOKIE = "iti_csrf"
CSRF_FIELD = "csrf_token"
SESSION_TTL = timedelta(hours=8)  # one working day; a new login after that, never silently extended


class LoginRequired(Exception):
    """No live session: the page answers with a redirect to the login form, then back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):
    """A signed-in user whose role lacks the permission: the page answers 403 with an explanation."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        super().__init__(permission.value)
        self.principal = principal
        self.permission = permission


class CsrfFailed(Exception):
    """A form post without the session's CSRF token: refused with 403, nothing recorded."""


def _next_path(request: Request) -> str:
    path = request.url.path
    return path + (f"?{request.url.query}" if request.url.query else "")


def login_url(next_path: str) -> str:
    return "/ui/login?next=" + quote(next_path, safe="/")


def safe_next(value: str | None) -> str:
    """Only a local UI path may be a redirect target (no open redirect to another site)."""
    if value and value.startswith("/ui") and not value.startswith("//") and "\\" not in value:
        return value
    return "/ui/"


def current_user(request: Request, session: DbSession) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    principal = users.principal_for_token(session, token, kind=TokenKind.SESSION) if token else None
    if principal is None:
        raise LoginRequired(_next_path(request))
    request.state.principal = principal
    return principal


UiUser = Annotated[Principal, Depends(current_user)]


def page_requires(permission: Permission) -> Callable[..., Principal]:
    """A dependency: the signed-in user if their role holds `permission` (else a 403 page)."""

    def dependency(principal: UiUser) -> Principal:
        if not has_permission(principal.role, permission):
            raise PageForbidden(principal, permission)
        return principal

    dependency.__name__ = f"page_requires_{permission.name.lower()}"
    return dependency


def csrf_token(request: Request) -> str:
    return request.cookies.get(CSRF_COOKIE, "")


def check_csrf(request: Request, session: Session, submitted: str | None) -> None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not users.check_csrf(session, token, submitted):
        raise CsrfFailed()


def set_session_cookies(response: Response, issued: IssuedToken, settings: Settings) -> None:
    max_age = int(SESSION_TTL.total_seconds())
    for name, value in ((SESSION_COOKIE, issued.token), (CSRF_COOKIE, issued.csrf or "")):
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path="/",
            secure=settings.cookie_secure,
            httponly=True,
            samesite="strict",
        )


def clear_session_cookies(response: Response, settings: Settings) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name, path="/", secure=settings.cookie_secure, httponly=True, samesite="strict"
        )
