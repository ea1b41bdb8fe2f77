"""The formal answer to a trace request (ITI section V): who asked whom about what, the answer or the delay,
restriction or refusal with its reasons and ITI 22 grounds, the weapon's supply chain from the records, and
the use the information is limited to, printed as a marking on every page (ITI 21–23, REQ-32).

Works for both sides: the answer this node gave (incoming request) or the one it received (outgoing). Making
the document takes the information out of the trace workflow: it declares its purpose (and recipient), is
refused for a purpose other than the stated one without a delivered notice to the providing state
(`tracing.requests.disclosure`), and is audited with them.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from registry.audit import service as audit
from registry.errors import Conflict
from reports import pdf
from reports import repository as reports_repo
from reports.i18n import N_, Lang
from tracing.federation import repository as federation_repo
from tracing.requests import disclosure
from tracing.requests import repository as trace_repo
from tracing.requests.errors import TraceNotFound
from tracing.requests.models import TraceRequest

REPLY_ACTIONS = ("answer", "delay", "restrict", "refuse")
GROUND_TEXT = {
    "ongoing_investigation": N_("providing it would compromise an ongoing criminal investigation"),
    "confidentiality_law": N_(
        "providing it would violate national law on the protection of confidential information"
    ),
    "confidentiality_not_guaranteed": N_(
        "the requesting State cannot guarantee the confidentiality requested"
    ),
    "national_security": N_("national security reasons consistent with the Charter of the United Nations"),
}
MARKING = N_(
    "%(level)s · for %(purpose)s only · no other use or disclosure without the prior consent of the providing State (ITI 23)"
)
RESTRICTION = N_(
    "This information was provided for the stated purpose only. It, and everything derived from it, may not be "
    "used for any other purpose or disclosed to any third party without the prior consent of the State that "
    "provided it, and is kept with the confidentiality the requesting State asked for (ITI paragraphs 21 to 23)."
)


def _request(session: Session, request_id: uuid.UUID) -> TraceRequest:
    req = trace_repo.get(session, request_id)
    if req is None:
        raise TraceNotFound(f"no trace request {request_id} on this node", field="request_id")
    return req


def context(session: Session, req: TraceRequest, lang: Lang) -> dict[str, Any]:
    if not req.response:
        raise Conflict(
            f"trace request {req.id} has no answer, delay, restriction or refusal yet (it is {req.state})",
            field="state",
            current_state=req.state,
        )
    reply = [t for t in trace_repo.transitions_of(session, req.id) if t.action in REPLY_ACTIONS]
    last = reply[-1] if reply else None
    response = dict(req.response)
    answering_poc = _answering_poc(session, req)
    names = reports_repo.category_names(session)
    expected = response.get("expected_by")
    return {
        "t": req,
        "response": response,
        "outcome": response.get("outcome") or req.state,
        "completeness": response.get("completeness"),
        "weapon_found": bool(response.get("weapon_found")),
        "grounds": list(response.get("grounds") or []),
        "ground_text": {k: lang.gettext(v) for k, v in GROUND_TEXT.items()},
        "expected_by": date.fromisoformat(expected) if expected else None,
        "chain": response.get("supply_chain"),
        "replied_at": last.at if last else req.answered_at,
        "officer": last.actor if last else None,
        "answering_poc": answering_poc,
        "restriction": lang.gettext(RESTRICTION),
        "category_name": lambda code: lang.gettext(names[code]) if code in names else (code or "—"),
    }


def _answering_poc(session: Session, req: TraceRequest) -> str | None:
    """Ours when we answered; the requested State's, from the directory of peers, when it answered us."""
    if req.direction == "incoming":
        node = federation_repo.get_node(session)
        return f"{node.poc_name} · {node.contact}" if node is not None else None
    peers = federation_repo.active_peers(session, req.requested_country)
    return f"{peers[0].poc_name} · {peers[0].contact}" if peers else None


def marking(req: TraceRequest, lang: Lang) -> str:
    purpose = (
        lang.label(req.intended_use_code) if req.intended_use_code else lang.gettext("the stated purpose")
    )
    return lang.gettext(MARKING, level=lang.label(req.confidentiality).upper(), purpose=purpose)


def trace_answer_pdf(
    session: Session,
    *,
    request_id: uuid.UUID,
    actor: str,
    purpose: str | None,
    recipient: str | None = None,
    lang: str = "en",
) -> bytes:
    """The PDF of the latest reply to `request_id`, for the declared `purpose` (and `recipient`); the use is
    checked against the stated purpose and recorded in the audit log."""
    language = Lang.of(lang)
    req = _request(session, request_id)
    ctx = context(session, req, language)
    use = disclosure.check_use(session, req, purpose=purpose, recipient=recipient)
    audit.record(
        session,
        actor=actor,
        action="trace.document",
        subject=f"trace:{req.id}",
        info={"document": "answer", "lang": language.code, "state": req.state, **use.as_info()},
    )
    title = language.gettext("Reply to tracing request %(case)s", case=req.case_reference)
    return pdf.render("trace_answer.html", ctx, language, title=title, marking=marking(req, language))
