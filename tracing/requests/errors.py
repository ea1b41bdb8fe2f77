"""Errors of the trace workflow. Each names the field or the state it is about."""

from __future__ import annotations

from registry.errors import Conflict, NotFound, ValidationError


class TraceNotFound(NotFound):
    """No such request on this node — also what a state that is not party to a request is told."""

    code = "trace_not_found"


class IncompleteRequest(ValidationError):
    """A request missing what ITI 17 requires (REQ-25), naming the first missing field; `missing` lists all."""

    code = "trace_incomplete"


class InvalidTraceTransition(Conflict):
    """The request's current state does not allow the action; the message names the state."""

    code = "invalid_trace_transition"


class AttachmentRejected(ValidationError):
    code = "attachment_rejected"


class NotParty(NotFound):
    """A message about a request from a state that is not party to it: answered as if it did not exist."""

    code = "trace_not_found"


class UseOutsidePurpose(Conflict):
    """Information received from another state used for a purpose other than the stated one, with no notice
    of that disclosure delivered to the providing state (ITI 21–23, Protocol 12(5), REQ-32). The details
    name the stated purpose and the providing state, so the officer knows whom to notify."""

    code = "use_outside_stated_purpose"
