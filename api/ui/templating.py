"""Jinja2 templates for the web UI, and what every page gets: the user, their menu, the CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.ui import i18n
from api.ui.i18n import N_
from api.ui.session import CSRF_FIELD, csrf_token
from registry.users.roles import Permission, has_permission
from registry.users.service import Principal

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
    )
)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the i18n extension
    # Raw lookups: with newstyle gettext, Jinja itself fills in %(name)s, escaping the values.
    gettext=lambda message: i18n.translations(i18n.current()).gettext(message),
    ngettext=lambda singular, plural, n: i18n.translations(i18n.current()).ngettext(singular, plural, n),
    newstyle=True,
)

# The menu: (label, path, permission needed; None = everyone signed in). Order is the officer's day.
MENU: tuple[tuple[str, str, Permission | None], ...] = (
    (N_("Dashboard"), "/ui/", None),
    (N_("Weapons"), "/ui/weapons", Permission.WEAPON_READ),
    (N_("Register"), "/ui/weapons/new", Permission.WEAPON_WRITE),
    (N_("Traces"), "/ui/traces", Permission.TRACE_READ),
    (N_("Imports"), "/ui/imports", Permission.IMPORT),
    (N_("Reports"), "/ui/reports", Permission.AUDIT_READ),
    (N_("Audit"), "/ui/audit", Permission.AUDIT_READ),
    (N_("Users"), "/ui/admin/users", Permission.USER_ADMIN),
)


def menu_for(principal: Principal | None) -> list[tuple[str, str]]:
    if principal is None:
        return []
    return [
        (i18n.gettext(label), path)
        for label, path, perm in MENU
        if perm is None or has_permission(principal.role, perm)
    ]


templates.env.filters["when"] = i18n.when
templates.env.filters["label"] = i18n.label
templates.env.filters["category"] = i18n.category
templates.env.filters["num"] = i18n.number
templates.env.filters["tuple_label"] = lambda code: (code, i18n.label(code))  # <option value, text>
templates.env.globals["CSRF_FIELD"] = CSRF_FIELD


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    principal: Principal | None = None,
) -> HTMLResponse:
    principal = principal or getattr(request.state, "principal", None)
    lang = i18n.current()  # set for the request by i18n.LanguageMiddleware
    page: dict[str, Any] = {
        "lang": lang,
        "rtl": lang in i18n.RTL,
        "languages": i18n.LANGUAGES,
        "user": principal,
        "menu": menu_for(principal),
        "csrf": csrf_token(request),
        "path": request.url.path,
        "can": (lambda perm: principal is not None and has_permission(principal.role, Permission(perm))),
    }
    page.update(context or {})
    response = templates.TemplateResponse(request, name, page, status_code=status_code)  # rendered here
    response.headers["Content-Language"] = lang
    # Pages show registry records: never kept by shared caches or the browser's back-forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response
