"""kill -9 of the sending node in the middle of a trace send (docs/reliability.md, "kill -9 during a trace send").

Kenya's node runs as real processes (`iti serve` with its delivery worker, and `iti outbox deliver`) on a
SQLite file; Uganda's node is a real server on a loopback port, reached through a fault-injecting peer
(tests/reliability/faulty_peer.py) that can hold a request or its answer, so the kill lands exactly where
wanted:

(a) the trace request is sent (queued in the outbox) and the server is killed before its worker took it;
(b) the worker's POST is in flight, held by the peer before the receiver saw it, when the server is killed;
(c) the receiver stored the message and signed its receipt, the answer is held, and the CLI is killed
    before it could record the receipt.

After each kill the sender restarts and must deliver; in the end Uganda holds each request exactly once, the
late copy of the attempt killed in (b) is refused as a duplicate, Kenya's outbox rows are delivered with the
receipts Uganda signed, and `iti audit verify` passes on both nodes.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.reliability import forked_iti
from tests.reliability.faulty_peer import FaultyPeer, route_through, sqlite_url
from tests.tracing.federation.nodes import Node, make_node
from tracing.federation import envelope
from tracing.federation.models import InboxMessage, OutboxMessage, OutboxStatus
from tracing.requests import service as traces
from tracing.requests.models import TraceRequest

TRACES = "/api/v1/traces"
SENDER_ENV = {
    "ITI_FEDERATION_TIMEOUT": "20",  # longer than any hold here: only the kill ends an attempt
    "ITI_FEDERATION_BACKOFF_BASE": "0.2",
    "ITI_FEDERATION_BACKOFF_MAX": "1",
}


@dataclass
class Nodes:
    ke: Node  # the sender's database, keys and var dir (its processes are started by the test)
    ug: Node  # the receiver, served in this process
    peer: FaultyPeer
    env: dict[str, str]  # the sender's `iti` environment
    log: str  # where the sender's processes write
    poc: dict[str, str]

    def serve(self, *, interval: float) -> BaseProcess:
        """`iti serve` with the delivery worker every `interval` seconds, once it answers /readyz."""
        env = {**self.env, "ITI_FEDERATION_DELIVERY_INTERVAL": str(interval)}
        proc = forked_iti.start(
            env, "serve", "--host", "127.0.0.1", "--port", str(self.ke.port), log=self.log
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.ke.url + "/readyz", timeout=2).status_code == 200:
                    return proc
            except httpx.TransportError:
                pass
            assert proc.is_alive(), f"iti serve ended with {proc.exitcode}; see {self.log}"
            assert time.monotonic() < deadline, "iti serve did not become ready"
            time.sleep(0.05)

    def outbox(self, mid: uuid.UUID) -> OutboxMessage:
        self.ke.engine.dispose()  # another process wrote: read afresh
        return self.ke.outbox_row(mid)


@pytest.fixture
def nodes(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nodes]:
    ke = make_node("KE", sqlite_url(tmp_path_factory, tmp_path / "ke.db"), tmp_path / "var-KE")
    ug = make_node("UG", sqlite_url(tmp_path_factory, tmp_path / "ug.db"), tmp_path / "var-UG")
    for node in (ke, ug):
        with node.tx() as session:
            seed_reference_data(session, actor="setup")
    with ke.tx() as session:
        user = users.add_user(
            session, actor="setup", username="poc-ke", role="poc_officer", password="x" * 16
        )
        poc = {"Authorization": f"Bearer {users.issue_token(session, user=user).token}"}
    ug.start()
    peer = FaultyPeer(upstream=ug.url).start()
    route_through(ke, ug, peer.url)
    env = {
        **os.environ,
        "ITI_DATABASE_URL": str(ke.settings.database_url),
        "ITI_VAR_DIR": str(ke.settings.var_dir),
        "ITI_NODE_COUNTRY": "KE",
        "ITI_FEDERATION_KEY_PASSPHRASE": ke.settings.extra["ITI_FEDERATION_KEY_PASSPHRASE"],
        **SENDER_ENV,
    }
    yield Nodes(ke, ug, peer, env, str(tmp_path / "sender.log"), poc)
    peer.stop()
    ug.stop()
    ke.engine.dispose()
    ug.engine.dispose()


def _send_trace(n: Nodes, case: str) -> tuple[str, uuid.UUID]:
    """Compose and send a trace request through the sender's API; the message id it was queued as."""
    with httpx.Client(base_url=n.ke.url, headers=n.poc, timeout=20) as api:
        draft = api.post(TRACES, json={
            "requested_country": "UG", "case_reference": case, "illicit_nature": "seized in a raid",
            "legal_justification": "Firearms Act s.4", "intended_use": "prosecution",
            "markings": [{"text": "GLOCK AUSTRIA KX 4471", "position": "frame"}], "category": "SA-PIS",
            "calibre": "9mm Luger",
        })  # fmt: skip
        assert draft.status_code == 201, draft.text
        rid = draft.json()["id"]
        sent = api.post(f"{TRACES}/{rid}/send")
        assert sent.status_code == 200, sent.text
        assert sent.json()["state"] == "sent"
    with n.ke.sessions() as session:
        mid = session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.body["case_reference"].as_string() == case)
        )
    assert mid is not None
    return rid, mid


def _wait(event: Any, what: str, timeout: float = 20) -> None:
    assert event.wait(timeout), f"{what} did not happen"


def test_kill_9_at_each_moment_of_a_trace_send_delivers_exactly_once(nodes: Nodes) -> None:
    n = nodes

    # (a) Two requests, A and B, sent and queued; the worker's next pass is 60 s away: kill the server.
    server = n.serve(interval=60)
    rid_a, mid_a = _send_trace(n, "KE/CID/a")
    rid_b, mid_b = _send_trace(n, "KE/CID/b")
    forked_iti.kill_9(server)
    for mid in (mid_a, mid_b):  # each send and its message, whole
        row = n.outbox(mid)
        assert (row.status, row.attempts) == (OutboxStatus.PENDING.value, 0)
    assert _states(n) == {rid_a: "sent", rid_b: "sent"}
    assert n.peer.seen == []
    assert n.ug.inbox_count() == 0

    # (b) Restarted, the server's worker delivers A, then has the POST of B in flight: the peer read the
    # whole request and holds it. Kill.
    n.peer.mode, n.peer.only = "hold", str(mid_b)
    server = n.serve(interval=0.1)
    _wait(n.peer.arrived, "the worker's POST of B")
    held = n.peer.seen[-1]
    assert held.mode == "hold"
    assert orjson.loads(held.body)["id"] == str(mid_b)
    forked_iti.kill_9(server)
    n.peer.wait_idle()  # the peer saw the connection go with the process
    assert n.outbox(mid_a).status == OutboxStatus.DELIVERED.value  # (a) restarted and delivered
    assert [s.mode for s in n.peer.seen] == ["proxy", "hold"]
    row = n.outbox(mid_b)
    assert (row.status, row.attempts, row.receipt) == (OutboxStatus.PENDING.value, 1, None)
    assert n.ug.inbox_count(mid_b) == 0

    # (c) The next attempt, by the CLI: the peer forwards it (Uganda stores it and signs a receipt) and
    # holds the answer. Kill the CLI before it can record the receipt.
    n.peer.mode = "forward_then_hold"
    cli = forked_iti.start(n.env, "outbox", "deliver", str(mid_b), log=n.log)
    _wait(n.peer.forwarded, "the forward to Uganda")
    forked_iti.kill_9(cli)
    n.peer.wait_idle()
    assert n.peer.seen[-1].upstream_status == 202
    assert n.ug.inbox_count(mid_b) == 1
    row = n.outbox(mid_b)
    assert (row.status, row.attempts, row.receipt) == (OutboxStatus.PENDING.value, 2, None)

    # Restarted, peer behaving: the retry is answered 409 duplicate_message with the original receipt.
    n.peer.mode = "proxy"
    assert forked_iti.run(n.env, "outbox", "deliver", str(mid_b), log=n.log) == 0
    assert n.peer.seen[-1].upstream_status == 409
    assert n.outbox(mid_b).status == OutboxStatus.DELIVERED.value
    # The copy of attempt (b) the peer held arrives now, late: refused as a duplicate, nothing stored.
    late = httpx.post(n.ug.url + held.path, content=held.body, timeout=10)
    assert late.status_code == 409, late.text
    assert late.json()["code"] == envelope.DUPLICATE

    # Exactly once at the receiver, under the receipt the sender holds; both requests delivered.
    with n.ug.sessions() as session:
        for mid in (mid_a, mid_b):
            stored = session.get(InboxMessage, mid)
            assert stored is not None
            assert n.outbox(mid).receipt == stored.receipt
        incoming = session.scalar(
            select(func.count()).select_from(TraceRequest).where(TraceRequest.direction == "incoming")
        )
    assert incoming == 2
    assert n.ug.inbox_count() == 2
    assert _states(n) == {rid_a: "delivered", rid_b: "delivered"}
    # `iti audit verify` (with the record cross-check) on both nodes.
    ug_env = {**n.env, "ITI_DATABASE_URL": str(n.ug.settings.database_url), "ITI_NODE_COUNTRY": "UG"}
    assert forked_iti.run(n.env, "audit", "verify", log=n.log) == 0
    assert forked_iti.run(ug_env, "audit", "verify", log=n.log) == 0


def _states(n: Nodes) -> dict[str, str]:
    """The sender's outgoing requests and their states, as an officer's list shows them."""
    with n.ke.tx() as session:
        traces.refresh_deliveries(session)
        return {str(r.id): r.state for r in session.scalars(select(TraceRequest))}
