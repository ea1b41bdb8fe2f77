"""The audit page: the log's size, its signed tree heads, and "verify now"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.db import DbSession, reads_only
from api.ui.forms import form_data
from api.ui.session import CSRF_FIELD, check_csrf, page_requires
from api.ui.templating import render
from registry.audit import checker
from registry.audit import repository as audit_repo
from registry.users.roles import Permission
from registry.users.service import Principal

router = APIRouter(prefix="/ui/audit", include_in_schema=False)
Auditor = Annotated[Principal, Depends(page_requires(Permission.AUDIT_READ))]
Form = Annotated[dict[str, Any], Depends(form_data)]


def _page(request: Request, session: Any, report: checker.VerifyReport | None, full: bool) -> Response:
    heads = audit_repo.tree_heads(session)
    ctx = {
        "log_size": audit_repo.entry_count(session),
        "heads": list(reversed(heads))[:10],
        "head_count": len(heads),
        "report": report,
        "full": full,
    }
    return render(request, "audit.html", ctx)


@router.get("", response_class=HTMLResponse)
def audit_page(request: Request, session: DbSession, who: Auditor) -> Response:
    return _page(request, session, None, True)


@router.post("/verify", response_class=HTMLResponse)
@reads_only
def verify_now(request: Request, form: Form, session: DbSession, who: Auditor) -> Response:
    # A POST (with CSRF) although it changes nothing: it can take seconds on a large registry, and a
    # crawler or prefetch must not start it.
    check_csrf(request, session, form.get(CSRF_FIELD))
    full = form.get("records") == "true"
    report = checker.verify(session, check_records=full)
    return _page(request, session, report, full)
