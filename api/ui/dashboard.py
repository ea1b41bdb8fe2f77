"""The dashboard: what each kind of user needs to see first when they sign in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.db import DbSession
from api.ui.session import UiUser
from api.ui.templating import render
from registry.audit import repository as audit_repo
from registry.codes import Status
from registry.users.roles import Permission, has_permission
from registry.weapons import repository as weapon_repo
from tracing.requests import service as traces
from tracing.requests.codes import TraceState

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui", include_in_schema=False)
def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", response_class=HTMLResponse)
def dashboard(request: Request, session: DbSession, user: UiUser) -> Response:
    ctx: dict[str, object] = {}
    role = user.role
    if has_permission(role, Permission.WEAPON_READ):
        counts = weapon_repo.count_by_status(session)
        ctx["counts"] = [(s.value, counts.get(s.value, 0)) for s in Status]
        ctx["total"] = sum(counts.values())
    if has_permission(role, Permission.EVENT_WRITE) or has_permission(role, Permission.AUDIT_READ):
        ctx["recent"] = weapon_repo.recent_events(session, limit=10)
    if has_permission(role, Permission.MARKING_WRITE):
        # Found, seized or imported weapons that still lack a unique mark (ITI 8(b), 9): the marking queue.
        ctx["pending"] = weapon_repo.pending_marking(session, limit=25)
    if has_permission(role, Permission.TRACE_WRITE):
        # The PoC's day: requests from other states waiting for this state, and every overdue request.
        traces.refresh_deliveries(session)
        waiting = [
            s.value
            for s in (TraceState.SENT, TraceState.DELIVERED, TraceState.ACKNOWLEDGED, TraceState.DELAYED)
        ]
        ctx["inbox"] = [
            t for t in traces.search(session, direction="incoming", limit=200) if t.state in waiting
        ][:25]
        ctx["overdue"] = traces.overdue(session)
    if has_permission(role, Permission.AUDIT_READ) or has_permission(role, Permission.AUDIT_SIGN):
        ctx["head"] = audit_repo.latest_tree_head(session)
        ctx["log_size"] = audit_repo.entry_count(session)
    return render(request, "dashboard.html", ctx)
