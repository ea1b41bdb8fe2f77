"""Sign in and sign out of the web UI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.db import Context, DbSession
from api.ratelimit import RateLimited, login_limit
from api.ui import i18n
from api.ui.forms import form_data
from api.ui.i18n import _
from api.ui.session import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SESSION_TTL,
    check_csrf,
    clear_session_cookies,
    safe_next,
    set_session_cookies,
)
from api.ui.templating import render
from registry.db import WRITES
from registry.users import service as users
from registry.users.errors import AccountLocked, AuthenticationFailed
from registry.users.models import TokenKind

router = APIRouter(prefix="/ui", include_in_schema=False)
Form = Annotated[dict[str, str], Depends(form_data)]


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/") -> Response:
    return render(request, "login.html", {"next": safe_next(next)})


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, form: Form, ctx: Context) -> Response:
    username, password = form.get("username", ""), form.get("password", "")
    target = safe_next(form.get("next"))
    try:
        login_limit(request)  # attempts per client address, across user names (api/ratelimit.py)
    except RateLimited as exc:
        page = render(
            request,
            "login.html",
            {
                "next": target,
                "error": _("Too many sign-in attempts from this computer: wait a minute and try again."),
                "username": username,
            },
            status_code=429,
        )
        page.headers.update(exc.headers or {})
        return page
    # Its own transaction, committed before answering: a failed attempt is counted (lockout) even though
    # the answer is an error page.
    error: str | None = None
    status = 401
    with ctx.sessions(execution_options=WRITES) as session, session.begin():
        try:
            user = users.authenticate(session, username=username, password=password)
        except AccountLocked as exc:
            error, status = _("This account is locked after repeated failed sign-ins: %(why)s.", why=exc), 423
        except AuthenticationFailed:
            error = _("The user name or password is not right.")
        else:
            issued = users.issue_token(session, user=user, kind=TokenKind.SESSION, ttl=SESSION_TTL)
            # A session cookie brought to this login (planted or stale) is revoked, not reused.
            if old := request.cookies.get(SESSION_COOKIE):
                users.revoke_token(session, old)
    if error is not None:
        return render(
            request, "login.html", {"next": target, "error": error, "username": username}, status_code=status
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookies(response, issued, ctx.settings)
    return response


@router.post("/logout")
def logout(request: Request, form: Form, session: DbSession, ctx: Context) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    if token := request.cookies.get(SESSION_COOKIE):
        users.revoke_token(session, token)
    response = RedirectResponse("/ui/login", status_code=303)
    clear_session_cookies(response, ctx.settings)
    return response


@router.get("/language")
def choose_language(ctx: Context, lang: str = i18n.DEFAULT, next: str = "/ui/") -> Response:
    """Remember the language this browser's user chose (a year), then go back to the page they were on."""
    response = RedirectResponse(safe_next(next), status_code=303)
    if lang in i18n.LANGUAGES:
        response.set_cookie(
            i18n.LANG_COOKIE,
            lang,
            max_age=365 * 24 * 3600,
            path="/",
            secure=ctx.settings.cookie_secure,
            httponly=True,
            samesite="lax",
        )
    return response
