"""The web UI under `/ui`: server-rendered pages for officers, readable without JavaScript.

`install(app)` mounts the pages and the static files, and makes errors on `/ui` pages answer as HTML pages
(the JSON API keeps its problem+json): no session → the login page; a role without the permission → 403 with
an explanation; a form without its CSRF token → 403, nothing recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.ui import admin, audit, dashboard, i18n, imports, login, reports, traces, weapons
from api.ui.i18n import _
from api.ui.session import CsrfFailed, LoginRequired, PageForbidden, login_url
from api.ui.templating import render
from registry.errors import NotFound, RegistryError, ValidationError

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _is_ui(request: Request) -> bool:
    return request.url.path == "/ui" or request.url.path.startswith("/ui/")


def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(login_url(exc.next_path), status_code=303)


def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    detail = _(
        "Your role (%(role)s) does not allow this page: it needs %(permission)s.",
        role=i18n.label(exc.principal.role),
        permission=exc.permission.value,
    )
    ctx = {"title": _("Not allowed"), "detail": detail}
    return render(request, "error.html", ctx, status_code=403, principal=exc.principal)


def _csrf_failed(request: Request, exc: Exception) -> Response:
    detail = _(
        "The form had expired or did not come from this site. Nothing was recorded: open the page again."
    )
    return render(request, "error.html", {"title": _("Form refused"), "detail": detail}, status_code=403)


def _html_or(original: Handler) -> Handler:
    """On a `/ui` page, an error page in HTML; elsewhere the API's own handler."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not _is_ui(request):
            result = original(request, exc)
            return await result if isinstance(result, Awaitable) else result
        if isinstance(exc, NotFound):
            return render(
                request, "error.html", {"title": _("Not found"), "detail": str(exc)}, status_code=404
            )
        if isinstance(exc, StarletteHTTPException):
            title = _("Not found") if exc.status_code == 404 else _("Request refused")
            return render(
                request,
                "error.html",
                {"title": title, "detail": str(exc.detail)},
                status_code=exc.status_code,
            )
        if isinstance(exc, RequestValidationError):
            fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors())
            detail = _("The address is not valid (%(fields)s).", fields=fields)
            return render(
                request, "error.html", {"title": _("Invalid request"), "detail": detail}, status_code=422
            )
        if isinstance(exc, RegistryError):
            status = 422 if isinstance(exc, ValidationError) else 409
            return render(
                request, "error.html", {"title": _("Not done"), "detail": str(exc)}, status_code=status
            )
        # The database is unavailable or busy: the API's answer (503, Retry-After), as a page.
        result = original(request, exc)
        api_response = await result if isinstance(result, Awaitable) else result
        if api_response.status_code == 422:  # a value the database refused (api/errors.py: unstorable_value)
            detail = _("A value cannot be stored: text must not contain control characters such as NUL.")
            return render(request, "error.html", {"title": _("Not done"), "detail": detail}, status_code=422)
        detail = _(
            "The registry's database is busy or unavailable. Nothing was recorded: try again in a moment."
        )
        page = render(
            request,
            "error.html",
            {"title": _("Try again"), "detail": detail},
            status_code=api_response.status_code,
        )
        if retry := api_response.headers.get("retry-after"):
            page.headers["Retry-After"] = retry
        return page

    return handler


def install(app: FastAPI) -> None:
    app.add_middleware(i18n.LanguageMiddleware)
    app.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "static"), name="ui-static")
    for module in (login, dashboard, weapons, traces, imports, reports, audit, admin):
        app.include_router(module.router)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageForbidden, _forbidden)
    app.add_exception_handler(CsrfFailed, _csrf_failed)
    for exc_type in (RegistryError, RequestValidationError, StarletteHTTPException, DBAPIError, PoolTimeout):
        app.add_exception_handler(exc_type, _html_or(app.exception_handlers[exc_type]))
