"""Clock-skew drill between two real nodes over HTTP (docs/reliability.md, "Clock skew").

A node's clock is put off in two ways, neither touching the machine's clock: the sender's, through the `now`
of the outbox's claim step (the time it signs as `sent_at`), and the receiver's, through the drill knob
ITI_FEDERATION_CLOCK_OFFSET of a restarted server. Within the tolerance (envelope.MAX_CLOCK_SKEW, 5 minutes
either way) messages are accepted; beyond it the receiver refuses with a problem+json naming the skew, its
direction and the tolerance, logs it, and the sender's outbox keeps the message with that reason until the
clocks agree again."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import timedelta

import httpx
import orjson
import pytest

from registry.db import utcnow
from tests.tracing.federation.nodes import Node, introduce
from tests.tracing.federation.sqlite_nodes import NodeFactory, set_clock, sqlite_node
from tracing.federation import envelope, inbox, outbox
from tracing.federation.models import OutboxStatus
from tracing.federation.transport import http_sender

new_node = sqlite_node

TOLERANCE = envelope.MAX_CLOCK_SKEW
# "Just" within or beyond: far more than a loopback round trip takes, even on a loaded CI machine (seen: 1.3 s).
MARGIN = timedelta(seconds=10)


@pytest.fixture
def pair(new_node: NodeFactory) -> tuple[Node, Node]:
    a, b = new_node("KE"), new_node("UG")
    introduce(a, b)
    return a, b


def attempt(sender: Node, message_id: uuid.UUID, offset: timedelta) -> outbox.Outcome:
    """One delivery attempt by `sender` with its clock `offset` off, over real HTTP: claim (signs with
    `sent_at` = its clock), send, record."""
    with sender.tx() as session:
        claimed = outbox.claim(session, sender.settings, message_id, now=utcnow() + offset)
    assert claimed is not None
    with httpx.Client(timeout=10) as client:
        outcome = http_sender(client)(claimed)
    with sender.tx() as session:
        outbox.record(session, sender.settings, claimed, outcome, now=utcnow() + offset)
    return outcome


def stated_skew(detail: str) -> float:
    found = re.search(r"is ([0-9.]+) s (ahead of|behind) this node's clock", detail)
    assert found is not None, detail
    return float(found[1])


def test_skew_within_the_tolerance_does_not_break_acceptance(pair: tuple[Node, Node]) -> None:
    a, b = pair
    for side in (1, -1):  # sender ahead, sender behind
        mid = a.send(b, {"side": side})
        outcome = attempt(a, mid, side * (TOLERANCE - MARGIN))
        assert outcome.status == 202, outcome.body
        row = a.outbox_row(mid)
        assert row.status == OutboxStatus.DELIVERED.value
        assert row.receipt is not None
        # The receipt carries the receiver's clock, the envelope the sender's: they are the skew apart.
        received = envelope.parse_time(row.receipt["received_at"], field="received_at")
        sent = envelope.parse_time(orjson.loads(row.envelope or "{}")["sent_at"], field="sent_at")
        assert abs((sent - received) - side * (TOLERANCE - MARGIN)) < MARGIN
    assert b.inbox_count() == 2


def test_skew_beyond_the_tolerance_is_a_clear_error_on_both_sides(
    pair: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="tracing.federation")
    a, b = pair
    for side, direction in ((1, "ahead of"), (-1, "behind")):
        mid = a.send(b, {"side": direction})
        outcome = attempt(a, mid, side * (TOLERANCE + MARGIN))
        # The receiver's answer names the skew, its direction and the tolerance.
        problem = outcome.body
        assert (outcome.status, problem["code"], problem["field"]) == (401, envelope.CLOCK_SKEW, "sent_at")
        assert f"{direction} this node's clock" in problem["detail"]
        assert f"the tolerance is {TOLERANCE.total_seconds():.0f} s either way" in problem["detail"]
        assert (
            abs(stated_skew(problem["detail"]) - (TOLERANCE + MARGIN).total_seconds())
            < MARGIN.total_seconds()
        )
        # The sender's outbox keeps the message and says why.
        row = a.outbox_row(mid)
        assert row.status == OutboxStatus.PENDING.value
        assert (row.last_error or "").startswith(f"HTTP 401 {envelope.CLOCK_SKEW}: clock skew: sent_at")
        assert f"{direction} this node's clock" in (row.last_error or "")
        # The receiver logged the refusal with the message's id.
        assert any(
            "reason=clock_skew" in r.getMessage()
            and direction in r.getMessage()
            and str(mid) in r.getMessage()
            for r in caplog.records
        )
        # Clocks agree again (NTP fixed): the next attempt is signed anew and delivered, once.
        assert a.deliver([mid]).delivered == [mid]
    assert b.inbox_count() == 2


def test_a_receiver_with_a_wrong_clock_refuses_until_it_is_fixed(new_node: NodeFactory) -> None:
    """The receiving node's clock is off (the drill knob on a restarted server): the same rule from its side."""
    a = new_node("KE")
    b = new_node("UG", **{inbox.CLOCK_OFFSET: str((TOLERANCE + MARGIN).total_seconds())})
    introduce(a, b)
    mid = a.send(b, {"n": 1})
    assert a.deliver().retrying == [mid]
    error = a.outbox_row(mid).last_error or ""
    assert "clock_skew" in error
    assert "behind this node's clock" in error  # B runs ahead, so A's time looks behind
    set_clock(b, TOLERANCE - MARGIN)  # still off, but within the tolerance
    assert a.deliver([mid]).delivered == [mid]
    assert b.inbox_count(mid) == 1
