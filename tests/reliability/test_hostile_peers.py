"""Hostile and broken peers (docs/reliability.md): a peer that answers slowly, stalls, drops or resets the
connection, answers garbage, a forged or unsigned receipt or a flood of bytes. Our node (KE) sends through a
fault-injecting peer (tests/reliability/faulty_peer.py) that stands in front of a real node (UG): each attempt
ends within the deadline with its reason recorded, the message stays in the outbox and is retried with
backoff, and once the fake behaves the real node holds the message exactly once. The node's own API stays
responsive while its delivery worker fights the bad peer. Inbound: a flood gets 429 with Retry-After while
other peers and officers are served, and an oversized message 413 without being read.

Real servers throughout: uvicorn on loopback ports, SQLite databases, real HTTP.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from registry.db import new_id, utcnow
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.factories import register_weapon
from tests.reliability.faulty_peer import FaultyPeer, route_through, sqlite_url
from tests.tracing.federation.nodes import Node, calls, make_node, sign_as
from tracing.federation import envelope
from tracing.federation.models import OutboxStatus
from tracing.federation.transport import MAX_RESPONSE_BYTES, DeliveryLoop

DEADLINE = 1.0  # ITI_FEDERATION_TIMEOUT of our node in these drills (10 s in production)
BASE, CAP = 0.2, 1.0  # backoff base and cap of our node here (5 s and 900 s in production)
FLOOD_LIMIT = 10
SERIAL = "HP4471902"
MESSAGES = "/federation/v1/messages"


@dataclass
class World:
    ke: Node  # our node, sending through the faulty peer
    ug: Node  # the real receiving node behind it
    peer: FaultyPeer
    officer: dict[str, str]
    weapon_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("hostile")
    ug = make_node("UG", sqlite_url(tmp_path_factory, tmp / "ug.db"), tmp / "var-UG")
    ke = make_node(
        "KE",
        sqlite_url(tmp_path_factory, tmp / "ke.db"),
        tmp / "var-KE",
        ITI_FEDERATION_TIMEOUT=str(DEADLINE),
        ITI_FEDERATION_BACKOFF_BASE=str(BASE),
        ITI_FEDERATION_BACKOFF_MAX=str(CAP),
        ITI_RATE_LIMIT_ENABLED="true",
        ITI_RATE_LIMIT_FEDERATION=f"{FLOOD_LIMIT}/60",
    )
    with ke.tx() as session:
        seed_reference_data(session, actor="setup")
        weapon_id = str(register_weapon(session, serial=SERIAL).weapon.id)
        user = users.add_user(
            session, actor="setup", username="officer", role="record_officer", password="x" * 16
        )
        officer = {"Authorization": f"Bearer {users.issue_token(session, user=user).token}"}
    peer = FaultyPeer(upstream=ug.url).start()
    route_through(ke, ug, peer.url)
    ke.start()
    ug.start()
    yield World(ke, ug, peer, officer, weapon_id)
    ke.stop()
    ug.stop()
    peer.stop()
    ke.engine.dispose()
    ug.engine.dispose()


def _send(w: World, n: int = 0) -> uuid.UUID:
    return w.ke.send(w.ug, {"drill": n}, kind="test.reply")


def _deliver_until_delivered(w: World, mid: uuid.UUID, tries: int = 3) -> None:
    """The peer behaves again: the message goes through (a few tries: a loaded machine may be slow once)."""
    for _ in range(tries):
        if w.ke.deliver([mid]).delivered == [mid]:
            return
    raise AssertionError(w.ke.outbox_row(mid).last_error)


# (mode, what the recorded error says). Each is one attempt against the fake, then good behaviour.
FAULTS = [
    ("slow", "deadline"),  # answers (and stores) after the deadline
    ("hang", "deadline"),  # headers, then silence
    ("trickle", "deadline"),  # a body byte every 0.2 s: never a read timeout, still the deadline
    ("trickle_headers", "deadline"),  # the same inside the headers
    ("drop", "no HTTP answer"),  # FIN mid-request
    ("reset", "no HTTP answer"),  # RST mid-request
    ("garbage", "HTTP 200: answer is not a JSON object"),
    ("proxy_413", "HTTP 413: answer is not a JSON object"),  # not the protocol's refusal: not final
    ("forged_receipt", "receipt does not verify"),
    ("unsigned_receipt", "receipt does not verify"),
    ("huge", f"longer than {MAX_RESPONSE_BYTES} bytes"),
    ("huge_declared", f"the limit is {MAX_RESPONSE_BYTES}"),
]


@pytest.mark.parametrize(("mode", "reason"), FAULTS, ids=[m for m, _ in FAULTS])
def test_a_broken_peer_costs_one_bounded_attempt_and_the_message_is_delivered_once_it_behaves(
    world: World, mode: str, reason: str
) -> None:
    w = world
    w.peer.mode = mode
    mid = _send(w)
    seen_before = len(w.peer.seen)
    started = time.monotonic()
    report = w.ke.deliver([mid])
    elapsed = time.monotonic() - started
    assert report.retrying == [mid]
    assert len(w.peer.seen) == seen_before + 1  # the fake was really asked
    # Time: never beyond the deadline (plus the two short transactions around the attempt).
    assert elapsed < DEADLINE + 0.75, f"{mode}: the attempt took {elapsed:.2f} s"
    if reason == "deadline":
        assert elapsed >= DEADLINE * 0.9
    row = w.ke.outbox_row(mid)
    assert row.status == OutboxStatus.PENDING.value  # kept, never dropped nor failed
    assert row.attempts == 1
    assert reason in (row.last_error or ""), row.last_error
    assert row.last_attempt_at is not None
    assert row.next_attempt_at is not None
    delay = (row.next_attempt_at - row.last_attempt_at).total_seconds()
    assert BASE <= delay <= BASE * 1.2 + 0.01  # first retry after the backoff base (+ up to 20 % jitter)
    if mode.startswith("huge"):
        # The fake offered 256 MB; what it got into the socket before we hung up is the cap plus what the
        # kernel's buffers on both ends absorbed.
        assert w.peer.seen[-1].answered_bytes < 24 * 1024 * 1024

    w.peer.mode = "proxy"
    _deliver_until_delivered(w, mid)
    w.peer.wait_idle()  # e.g. the slow fake forwarding the first attempt late
    assert w.ug.inbox_count(mid) == 1
    assert calls("UG", mid) == 1  # dispatched once, however many attempts reached the node
    row = w.ke.outbox_row(mid)
    assert row.status == OutboxStatus.DELIVERED.value
    assert row.receipt is not None
    assert row.receipt["key_id"] == w.ug.key_id()  # the real node's own receipt, passed through


def test_retries_follow_the_backoff_schedule_and_wait_until_due(world: World) -> None:
    w = world
    w.peer.mode = "reset"
    mid = _send(w)
    delays = []
    for _ in range(4):
        assert w.ke.deliver([mid]).retrying == [mid]
        row = w.ke.outbox_row(mid)
        delays.append((row.next_attempt_at - row.last_attempt_at).total_seconds())
    expected = [min(BASE * 2**i, CAP) for i in range(4)]  # 0.2, 0.4, 0.8, 1.0 (capped)
    for got, want in zip(delays, expected, strict=True):
        assert want <= got <= want * 1.2 + 0.01, (delays, expected)
    # Not due yet: a pass of the worker leaves it alone (the fake sees nothing).
    seen = len(w.peer.seen)
    assert mid not in w.ke.deliver().retrying
    assert len(w.peer.seen) == seen
    assert w.ke.outbox_row(mid).attempts == 4
    w.peer.mode = "proxy"
    _deliver_until_delivered(w, mid)
    assert w.ug.inbox_count(mid) == 1


def test_a_stalling_peer_costs_one_deadline_per_pass_not_one_per_message(world: World) -> None:
    w = world
    w.peer.mode = "hang"
    mids = [_send(w, n) for n in range(5)]
    started = time.monotonic()
    report = w.ke.deliver(mids)
    elapsed = time.monotonic() - started
    assert sorted(report.retrying) == sorted(mids)
    assert elapsed < 2 * DEADLINE, f"{elapsed:.2f} s for one pass"
    attempts = sorted(w.ke.outbox_row(m).attempts for m in mids)
    assert attempts == [0, 0, 0, 0, 1]  # the first one found the peer stalling; the rest wait their turn
    w.peer.mode = "proxy"
    assert sorted(w.ke.deliver(mids).delivered) == sorted(mids)
    assert [w.ug.inbox_count(m) for m in mids] == [1] * 5


def test_the_node_answers_its_officers_while_its_worker_fights_a_trickling_peer(world: World) -> None:
    w = world
    w.peer.mode = "trickle"
    mids = [_send(w, n) for n in range(3)]
    loop = DeliveryLoop(w.ke.sessions, w.ke.settings, interval=0.05)  # the worker `iti serve` runs
    seen = len(w.peer.seen)
    latencies: list[float] = []
    loop.start()
    try:
        with httpx.Client(base_url=w.ke.url, headers=w.officer, timeout=10) as http:
            until = time.monotonic() + 2.5
            while time.monotonic() < until:
                for path in ("/healthz", f"/api/v1/weapons?serial={SERIAL}"):
                    t = time.monotonic()
                    r = http.get(path)
                    latencies.append(time.monotonic() - t)
                    assert r.status_code == 200, r.text
                    if path != "/healthz":
                        assert r.json()["items"][0]["id"] == w.weapon_id
                time.sleep(0.05)
        fought = len(w.peer.seen) - seen
        assert fought >= 2  # the worker really was stuck in trickles, one deadline at a time
        assert max(latencies) < 1.0, f"slowest answer {max(latencies):.2f} s"
        w.peer.mode = "proxy"
        deadline = time.monotonic() + 10  # retries are due within the backoff cap (1 s here)
        while any(w.ke.outbox_row(m).status != OutboxStatus.DELIVERED.value for m in mids):
            assert time.monotonic() < deadline, [w.ke.outbox_row(m).last_error for m in mids]
            time.sleep(0.05)
    finally:
        stopping = time.monotonic()
        loop.stop()
        assert time.monotonic() - stopping < DEADLINE + 1  # stop waits for one bounded attempt at most
    assert [w.ug.inbox_count(m) for m in mids] == [1] * 3


# --- inbound ----------------------------------------------------------------------------------------------


def _client_from(address: str) -> httpx.Client:
    """A client whose connections come from another loopback address (a different peer to the limits)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def _signed_from_ug(w: World) -> bytes:
    return sign_as(
        w.ug, id=new_id(), kind="test.reply", from_country="UG", to_country="KE", body={}, sent_at=utcnow()
    ).to_json()


def test_a_flood_from_one_peer_gets_429_while_other_peers_and_officers_are_served(world: World) -> None:
    w = world
    url = w.ke.url + MESSAGES
    with _client_from("127.0.0.3") as flooder, _client_from("127.0.0.2") as other:
        answers = [flooder.post(url, content=_signed_from_ug(w)).status_code for _ in range(FLOOD_LIMIT)]
        assert answers == [202] * FLOOD_LIMIT  # valid messages, accepted up to the limit
        started = time.monotonic()
        refused = [flooder.post(url, content=_signed_from_ug(w)) for _ in range(10)]
        assert time.monotonic() - started < 5
        for r in refused:
            assert r.status_code == 429, r.text
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["code"] == "rate_limited"
        # Another peer's message, an officer's search and the health check go through meanwhile.
        assert other.post(url, content=_signed_from_ug(w)).status_code == 202
    assert httpx.get(w.ke.url + "/healthz", timeout=5).status_code == 200
    r = httpx.get(w.ke.url + "/api/v1/weapons", params={"serial": SERIAL}, headers=w.officer, timeout=5)
    assert r.status_code == 200
    assert [item["id"] for item in r.json()["items"]] == [w.weapon_id]


def _raw_post(address: str, port: int, headers: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(address, 0))
    sock.sendall(
        (
            f"POST {MESSAGES} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{headers}\r\n"
        ).encode()
    )
    return sock


def _status(sock: socket.socket) -> int | None:
    """The status of the answer, or None if the connection was reset before it could be read."""
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        return None
    return int(data.split(b" ", 2)[1])


def test_an_oversized_message_gets_413_and_what_is_read_of_it_is_bounded(world: World) -> None:
    w = world
    # A little too much from an honest node: the rest is read and thrown away so it gets its 413 (and stops
    # retrying), and the connection carries on.
    too_big = b'{"pad": "' + b"x" * envelope.MAX_MESSAGE_BYTES + b'"}'
    with _client_from("127.0.0.4") as honest:
        r = honest.post(w.ke.url + MESSAGES, content=too_big)
        assert r.status_code == 413
        assert r.json()["code"] == envelope.OVERSIZED
        assert r.headers.get("connection") != "close"
        assert honest.post(w.ke.url + MESSAGES, content=_signed_from_ug(w)).status_code == 202
    # A declared 100 MB: answered at once from the headers, and the connection closed.
    sock = _raw_post("127.0.0.5", w.ke.port, "Content-Length: 100000000\r\n")
    started = time.monotonic()
    assert _status(sock) == 413
    assert time.monotonic() - started < 2
    sock.close()
    # No declared length (chunked) and no end: reading stops at the limit plus the 1 MiB drain and the
    # server hangs up, though the sender would pour 64 MB (it may see the 413 or only the reset).
    sock = _raw_post("127.0.0.6", w.ke.port, "Transfer-Encoding: chunked\r\n")
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = [0]

    def pour() -> None:
        try:
            while sent[0] < 64 * 1024 * 1024:
                sock.sendall(chunk)
                sent[0] += len(piece)
        except OSError:
            pass  # the server closed the connection: what is expected

    pourer = threading.Thread(target=pour, daemon=True)
    pourer.start()
    assert _status(sock) in (413, None)
    pourer.join(10)
    assert not pourer.is_alive()
    sock.close()
    # The limit (256 KiB) and the drain (1 MiB), plus what the sockets' buffers absorbed.
    assert sent[0] < 24 * 1024 * 1024, f"{sent[0]} bytes went in"
