"""Jinja2 templates for the web UI, and what every page gets: the user, their menu, the CSRF token."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.ui.session import CSRF_FIELD, csrf_token
from registry.users.roles import Permission, has_permission
from registry.users.service import Principal

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# The menu: (label, path, permission needed; None = everyone signed in). Order is the officer's day.
MENU: tuple[tuple[str, str, Permission | None], ...] = (
    ("Dashboard", "/ui/", None),
    ("Weapons", "/ui/weapons", Permission.WEAPON_READ),
    ("Register", "/ui/weapons/new", Permission.WEAPON_WRITE),
    ("Imports", "/ui/imports", Permission.IMPORT),
    ("Audit", "/ui/audit", Permission.AUDIT_READ),
    ("Users", "/ui/admin/users", Permission.USER_ADMIN),
)


def menu_for(principal: Principal | None) -> list[tuple[str, str]]:
    if principal is None:
        return []
    return [
        (label, path) for label, path, perm in MENU if perm is None or has_permission(principal.role, perm)
    ]


def _when(value: datetime | date | None) -> str:
    """Times are stored in UTC and shown in UTC, with the zone named, so officers in different states agree."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _label(code: str | None) -> str:
    return (code or "").replace("_", " ")


templates.env.filters["when"] = _when
templates.env.filters["label"] = _label
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
    page: dict[str, Any] = {
        "user": principal,
        "menu": menu_for(principal),
        "csrf": csrf_token(request),
        "path": request.url.path,
        "can": (lambda perm: principal is not None and has_permission(principal.role, Permission(perm))),
    }
    page.update(context or {})
    response = templates.TemplateResponse(request, name, page, status_code=status_code)
    # Pages show registry records: never kept by shared caches or the browser's back-forward cache.
    response.headers["Cache-Control"] = "no-store"
    return response
