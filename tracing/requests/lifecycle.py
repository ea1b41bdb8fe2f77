"""The lifecycle of a trace request as data. Pure.

    draft → sent → delivered → acknowledged → answered (full | partial) | delayed | restricted | refused → closed

The same states on both nodes: the requesting node moves its copy when the requested node's messages
arrive. A delayed request stays open and cannot be closed without a final answer (REQ-31); a partial answer
or a restriction can be followed by a fuller answer; a draft can be discarded (closed) without being sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracing.requests.codes import Direction, TraceState
from tracing.requests.errors import InvalidTraceTransition

S = TraceState
OPEN_FOR_ANSWER = frozenset({S.DELIVERED, S.ACKNOWLEDGED, S.DELAYED})


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[TraceState]
    target: TraceState
    # Which side's officer performs it; the other side's copy moves when the message arrives.
    by: Direction


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("send", frozenset({S.DRAFT}), S.SENT, Direction.OUTGOING),
        Action("deliver", frozenset({S.SENT}), S.DELIVERED, Direction.OUTGOING),
        Action("acknowledge", frozenset({S.SENT, S.DELIVERED}), S.ACKNOWLEDGED, Direction.INCOMING),
        Action("answer", OPEN_FOR_ANSWER | {S.ANSWERED, S.RESTRICTED}, S.ANSWERED, Direction.INCOMING),
        Action("delay", OPEN_FOR_ANSWER, S.DELAYED, Direction.INCOMING),
        Action("restrict", OPEN_FOR_ANSWER, S.RESTRICTED, Direction.INCOMING),
        Action("refuse", OPEN_FOR_ANSWER, S.REFUSED, Direction.INCOMING),
        Action(
            "close", frozenset({S.DRAFT, S.ANSWERED, S.RESTRICTED, S.REFUSED}), S.CLOSED, Direction.OUTGOING
        ),
    )
}

FINAL = frozenset({S.ANSWERED, S.RESTRICTED, S.REFUSED, S.CLOSED})


def allowed_actions(state: str) -> list[str]:
    return [a.name for a in ACTIONS.values() if state in a.sources]


def check(state: str, action: str, *, completeness: str | None = None) -> TraceState:
    """The state `action` leads to from `state`, or InvalidTraceTransition naming the current state."""
    act = ACTIONS[action]
    if state not in act.sources:
        allowed = ", ".join(allowed_actions(state)) or "nothing: the request is closed"
        hint = (
            " (a delayed request stays open until it is answered, restricted or refused)"
            if (state == S.DELAYED and action == "close")
            else ""
        )
        raise InvalidTraceTransition(
            f"cannot {action} a request that is {state}; allowed now: {allowed}{hint}",
            field="state",
            current_state=state,
            action=action,
        )
    if action == "answer" and state == S.ANSWERED and completeness != "partial":
        raise InvalidTraceTransition(
            "the request is already answered in full; only a partial answer can be completed",
            field="state",
            current_state=state,
            action=action,
        )
    return act.target
