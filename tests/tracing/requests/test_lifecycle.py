"""Every action from every state: the valid ones lead where the lifecycle says, the others are refused
naming the current state."""

from __future__ import annotations

import itertools

import pytest

from tracing.requests import lifecycle
from tracing.requests.codes import TraceState
from tracing.requests.errors import InvalidTraceTransition

S = TraceState
VALID = {
    (S.DRAFT, "send"): S.SENT,
    (S.DRAFT, "close"): S.CLOSED,
    (S.SENT, "deliver"): S.DELIVERED,
    (S.SENT, "acknowledge"): S.ACKNOWLEDGED,
    (S.DELIVERED, "acknowledge"): S.ACKNOWLEDGED,
    **{(s, a): t for s in (S.DELIVERED, S.ACKNOWLEDGED, S.DELAYED)
       for a, t in (("answer", S.ANSWERED), ("delay", S.DELAYED), ("restrict", S.RESTRICTED), ("refuse", S.REFUSED))},
    (S.RESTRICTED, "answer"): S.ANSWERED,
    (S.ANSWERED, "answer"): S.ANSWERED,  # completing a partial answer
    (S.ANSWERED, "close"): S.CLOSED,
    (S.RESTRICTED, "close"): S.CLOSED,
    (S.REFUSED, "close"): S.CLOSED,
}  # fmt: skip
ALL = list(itertools.product(list(S), list(lifecycle.ACTIONS)))


@pytest.mark.parametrize(("state", "action"), [k for k in ALL if k in VALID])
def test_valid_transition(state: S, action: str) -> None:
    assert lifecycle.check(state, action, completeness="partial") == VALID[(state, action)]


@pytest.mark.parametrize(("state", "action"), [k for k in ALL if k not in VALID])
def test_invalid_transition_names_the_current_state(state: S, action: str) -> None:
    with pytest.raises(InvalidTraceTransition) as err:
        lifecycle.check(state, action)
    assert f"that is {state.value}" in err.value.message
    assert err.value.details["current_state"] == state.value
    assert err.value.field == "state"


def test_a_full_answer_is_not_answered_again() -> None:
    with pytest.raises(InvalidTraceTransition, match="already answered in full"):
        lifecycle.check(S.ANSWERED, "answer", completeness="full")


def test_a_delayed_request_cannot_close_without_a_final_answer() -> None:
    with pytest.raises(InvalidTraceTransition, match="stays open until it is answered"):
        lifecycle.check(S.DELAYED, "close")


def test_closed_allows_nothing() -> None:
    assert lifecycle.allowed_actions(S.CLOSED) == []
    with pytest.raises(InvalidTraceTransition, match="the request is closed"):
        lifecycle.check(S.CLOSED, "answer")
