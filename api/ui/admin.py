"""User administration for admins: list accounts, add one with a role, disable one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.db import DbSession
from api.ui.forms import form_data, registry_errors
from api.ui.i18n import _
from api.ui.session import CSRF_FIELD, check_csrf, page_requires
from api.ui.templating import render
from registry.errors import RegistryError
from registry.users import service as users
from registry.users.roles import PERMISSIONS, Permission, Role
from registry.users.service import Principal

router = APIRouter(prefix="/ui/admin", include_in_schema=False)
Admin = Annotated[Principal, Depends(page_requires(Permission.USER_ADMIN))]
Form = Annotated[dict[str, Any], Depends(form_data)]


def _page(
    request: Request, session: Session, values: dict[str, Any], errors: dict[str, str], flash: str = ""
) -> Response:
    ctx = {
        "users": users.list_users(session),
        "roles": [(r.value, r.value.replace("_", " ")) for r in Role],
        "matrix": {r.value: sorted(p.value for p in PERMISSIONS[r]) for r in Role},
        "values": values,
        "errors": errors,
        "flash": flash,
    }
    return render(request, "admin/users.html", ctx, status_code=422 if errors else 200)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: DbSession, who: Admin, done: str = "") -> Response:
    flash = {"added": _("Account added."), "disabled": _("Account disabled and its sessions revoked.")}.get(
        done, ""
    )
    return _page(request, session, {}, {}, flash)


@router.post("/users", response_class=HTMLResponse)
def add_user(request: Request, form: Form, session: DbSession, who: Admin) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    try:
        with session.begin_nested():
            users.add_user(
                session,
                actor=who.username,
                username=form.get("username", ""),
                role=form.get("role", ""),
                password=form.get("password", ""),
            )
    except RegistryError as exc:
        values = {k: v for k, v in form.items() if k != "password"}
        return _page(request, session, values, registry_errors(exc))
    return RedirectResponse("/ui/admin/users?done=added", status_code=303)


@router.post("/users/{username}/disable", response_class=HTMLResponse)
def disable_user(request: Request, username: str, form: Form, session: DbSession, who: Admin) -> Response:
    check_csrf(request, session, form.get(CSRF_FIELD))
    try:
        with session.begin_nested():
            users.disable_user(session, actor=who.username, username=username)
    except RegistryError as exc:
        return _page(request, session, {}, registry_errors(exc))
    return RedirectResponse("/ui/admin/users?done=disabled", status_code=303)
