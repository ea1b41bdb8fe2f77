"""Two and three real nodes (own databases, own keys, uvicorn on loopback ports, real HTTP): a message is
dispatched exactly once however often it is delivered, survives a receiver that is down and a sender that
restarts, and forged or replayed messages are refused with nothing dispatched."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.audit.checker import verify as audit_verify
from registry.db import make_engine, new_id, utcnow
from registry.users import service as users
from tests.conftest import _drop_postgres, _postgres_scratch_url
from tests.tracing.federation.nodes import (
    DELIVERED,
    Node,
    calls,
    check_exchanged_messages,
    check_schema,
    forget_keys,
    introduce,
    make_node,
    sign_as,
)
from tracing.federation import envelope, outbox, service
from tracing.federation import repository as repo
from tracing.federation.models import OutboxStatus
from tracing.federation.transport import http_sender

MESSAGES = "/api/v1/federation/messages"
NodeFactory = Callable[..., Node]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def new_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NodeFactory]:
    made: list[Node] = []
    scratch: list[str] = []

    def factory(country: str, *, start: bool = True, **extra: str) -> Node:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / (country + '.db')}"
        else:
            url = _postgres_scratch_url()
            scratch.append(url)
        node = make_node(country, url, tmp_path / f"var-{country}", **extra)
        made.append(node)
        if start:
            node.start()
        return node

    yield factory
    for node in made:
        node.stop()
    try:
        exchanged = sum(check_exchanged_messages(node) for node in made)
        assert exchanged > 0 or len(made) < 2 or request.node.name.startswith("test_our_key")
    finally:
        for node in made:
            node.engine.dispose()
    for url in scratch:
        _drop_postgres(url)


@pytest.fixture
def pair(new_node: NodeFactory) -> tuple[Node, Node]:
    a, b = new_node("KE"), new_node("UG")
    introduce(a, b)
    return a, b


def audit_clean(node: Node) -> None:
    with node.sessions() as session:
        report = audit_verify(session)
    assert report.ok, [p.message for p in report.problems]


def test_a_message_is_delivered_once_with_a_signed_receipt_and_answered_in_the_same_transaction(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    mid = a.send(b, {"question": "where did rifle AB123 come from?"})
    report = a.deliver()
    assert report.delivered == [mid]
    row = a.outbox_row(mid)
    assert row.status == OutboxStatus.DELIVERED.value
    assert row.delivered_to == b.url + MESSAGES
    assert row.receipt is not None
    assert row.receipt["from_country"] == "UG"
    assert row.receipt["message_id"] == str(mid)
    assert b.inbox_count(mid) == 1
    assert calls("UG", mid) == 1
    # B's handler queued a reply in the transaction that stored the message; B delivers it to A.
    with b.sessions() as session:
        (reply,) = outbox.list_outbox(session, to_country="KE")
    assert reply.in_reply_to == mid
    assert b.deliver().delivered == [reply.id]
    assert calls("KE", reply.id) == 1
    assert DELIVERED.count(mid) == 1  # the delivered hook ran once, in the marking transaction
    # A hook that fails does not undo the delivery.
    boom = a.send(b, {"explode": True}, kind="test.reply")
    assert a.deliver().delivered == [boom]
    assert a.outbox_row(boom).status == OutboxStatus.DELIVERED.value
    # Nothing left to do, and both audit logs cover every federation row written.
    assert a.deliver().delivered == []
    audit_clean(a)
    audit_clean(b)


def test_a_retried_delivery_after_a_lost_acknowledgement_is_not_dispatched_twice(
    pair: tuple[Node, Node],
) -> None:
    """The sender crashes after B stored the message but before it recorded the receipt."""
    a, b = pair
    mid = a.send(b, {"n": 1})
    with a.tx() as session:
        attempt = outbox.claim(session, a.settings, mid)
    assert attempt is not None
    with httpx.Client(timeout=5) as client:
        outcome = http_sender(client)(attempt)
    assert outcome.status == 202  # ... and the sender "crashes" here: no record()
    assert a.outbox_row(mid).status == OutboxStatus.PENDING.value
    forget_keys()
    report = a.deliver([mid])  # re-signed with a new time and nonce; B knows the id
    assert report.delivered == [mid]
    assert a.outbox_row(mid).receipt == outcome.body["receipt"]  # the original receipt came back
    assert calls("UG", mid) == 1
    assert b.inbox_count(mid) == 1


def test_the_receiver_is_down_at_first_and_gets_the_message_when_it_returns(new_node: NodeFactory) -> None:
    a = new_node("KE")
    b = new_node("UG", start=False)
    introduce(a, b)
    mid = a.send(b, {"n": 2})
    report = a.deliver()
    assert report.retrying == [mid]
    row = a.outbox_row(mid)
    assert row.status == OutboxStatus.PENDING.value
    assert row.attempts == 1
    assert "ConnectError" in (row.last_error or "")
    assert row.next_attempt_at > utcnow()  # backed off: not due again at once
    assert a.deliver().retrying == []
    # The sending node restarts: new engine, keys decrypted again; the message is still queued.
    a.stop()
    a.engine.dispose()
    a.engine = make_engine(a.settings.database_url)
    forget_keys()
    a.start()
    b.start()
    assert a.deliver([mid]).delivered == [mid]
    assert a.outbox_row(mid).attempts == 2
    assert calls("UG", mid) == 1
    audit_clean(a)


def test_concurrent_deliveries_of_the_same_message_dispatch_it_once(pair: tuple[Node, Node]) -> None:
    a, b = pair
    mid = a.send(b, {"n": 3})
    with a.tx() as session:
        attempt = outbox.claim(session, a.settings, mid)
    assert attempt is not None
    statuses: list[int] = []

    def post() -> None:
        with httpx.Client(timeout=10) as client:
            statuses.append(client.post(attempt.url, content=attempt.data).status_code)

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [202, 409, 409, 409]
    assert calls("UG", mid) == 1
    assert b.inbox_count(mid) == 1


def test_two_workers_racing_for_one_message_claim_it_once(pair: tuple[Node, Node]) -> None:
    """The claim is a compare-and-set on the attempt counter: a worker that read the message before another
    claimed it cannot claim the same attempt again."""
    a, b = pair
    mid = a.send(b, {"n": 4})
    with a.tx() as session:
        assert outbox.claim(session, a.settings, mid) is not None
    with a.tx() as session:
        late = repo.claim(session, mid, attempts=0, values={"attempts": 1, "last_attempt_at": utcnow()})
    assert late is False
    assert a.outbox_row(mid).attempts == 1


def test_forged_replayed_and_misdirected_messages_are_refused_over_http(
    new_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracing.federation")
    caplog.set_level(logging.INFO, logger="api.federation")
    a, b, c = new_node("KE"), new_node("UG"), new_node("TZ")
    introduce(a, b)
    introduce(a, c)
    mid = a.send(b, {"n": 5})
    assert a.deliver().delivered == [mid]
    accepted = a.outbox_row(mid).envelope
    assert accepted is not None
    before = b.inbox_count()
    now = utcnow()

    def fresh(**over: object) -> bytes:
        fields: dict[str, object] = {
            "id": new_id(),
            "kind": "test.echo",
            "from_country": "KE",
            "to_country": "UG",
            "body": {"x": 1},
            "sent_at": now,
        }
        fields.update(over)
        return sign_as(a, **fields).to_json()  # type: ignore[arg-type]

    def stranger(country: str = "KE") -> envelope.Envelope:
        return envelope.sign(
            Ed25519PrivateKey.generate(),
            id=new_id(),
            kind="test.echo",
            from_country=country,
            to_country="UG",
            body={},
            sent_at=now,
        )

    forged_raw = dict(stranger().raw)
    forged_raw["key_id"] = a.key_id()
    tampered = orjson.loads(fresh())
    tampered["body"] = {"x": 2}
    unsigned = orjson.loads(fresh())
    del unsigned["signature"]
    replayed_nonce = orjson.loads(accepted)["nonce"]
    cases: list[tuple[str, bytes, int, str]] = [
        ("replay of the accepted message", accepted.encode(), 409, envelope.DUPLICATE),
        ("forged signature under A's key id", orjson.dumps(forged_raw), 401, envelope.BAD_SIGNATURE),
        ("tampered body", orjson.dumps(tampered), 401, envelope.BAD_SIGNATURE),
        ("unsigned", orjson.dumps(unsigned), 400, envelope.MALFORMED),
        ("unknown key", stranger().to_json(), 401, envelope.UNKNOWN_KEY),
        ("unknown sender", stranger("RW").to_json(), 401, envelope.UNKNOWN_SENDER),
        ("addressed to TZ", fresh(to_country="TZ"), 400, envelope.WRONG_RECIPIENT),
        ("stale", fresh(sent_at=now - timedelta(minutes=10)), 401, envelope.CLOCK_SKEW),
        ("from the future", fresh(sent_at=now + timedelta(minutes=10)), 401, envelope.CLOCK_SKEW),
        ("replayed nonce", fresh(nonce=replayed_nonce), 409, envelope.REPLAYED_NONCE),
        ("message id reused for other content", fresh(id=mid, body={"other": True}), 409, envelope.ID_REUSED),
        ("unsupported kind", fresh(kind="test.unknown"), 400, "unsupported_kind"),
        ("oversized", b'{"pad": "' + b"x" * envelope.MAX_MESSAGE_BYTES + b'"}', 413, envelope.OVERSIZED),
        ("not JSON", b"{oops", 400, envelope.MALFORMED),
    ]
    wrong = []
    with httpx.Client(base_url=b.url, timeout=10) as client:
        for name, data, want_status, want_code in cases:
            r = client.post(MESSAGES, content=data, headers={"Content-Type": "application/json"})
            got = (r.status_code, r.json().get("code"), r.headers["content-type"])
            if got != (want_status, want_code, "application/problem+json"):
                wrong.append(f"{name}: {got}")
    assert not wrong, wrong
    logged = [r.getMessage() for r in caplog.records if "federation.inbox.rejected" in r.getMessage()]
    for name, _data, _status, code in cases:
        if code != envelope.DUPLICATE:  # a duplicate is answered, not refused: it is logged as such
            assert any(f"reason={code}" in line for line in logged), f"{name}: no log line with reason={code}"
    assert b.inbox_count() == before
    assert calls("UG", mid) == 1
    # The same message went to the right node: C refuses what was addressed to B.
    with httpx.Client(base_url=c.url, timeout=10) as client:
        r = client.post(MESSAGES, content=fresh(to_country="UG"))
    assert (r.status_code, r.json()["code"]) == (400, envelope.WRONG_RECIPIENT)


def test_a_refusal_by_the_receiver_marks_the_message_failed_and_an_officer_can_retry(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    with a.tx() as session:
        mid = outbox.enqueue(session, to_country="UG", kind="test.unhandled", body={})
    report = a.deliver()
    assert report.failed == [mid]
    row = a.outbox_row(mid)
    assert row.status == OutboxStatus.FAILED.value
    assert "unsupported_kind" in (row.last_error or "")
    with a.tx() as session:
        outbox.retry(session, actor="officer", message_id=mid)
    assert a.outbox_row(mid).status == OutboxStatus.PENDING.value
    assert b.inbox_count(mid) == 0


def test_a_handler_refusal_is_permanent_and_rolls_back_what_the_handler_wrote(
    pair: tuple[Node, Node],
) -> None:
    a, b = pair
    mid = a.send(b, {"request_id": "nope"}, kind="test.refuse")
    assert a.deliver().failed == [mid]
    row = a.outbox_row(mid)
    assert "422 refused_by_handler" in (row.last_error or "")
    assert "request_id" in (row.last_error or "")
    assert calls("UG", mid) == 1  # called once, then rolled back
    assert b.inbox_count(mid) == 0
    with b.sessions() as session:
        assert outbox.list_outbox(session) == []


def test_our_key_not_yet_in_their_directory_is_retried_not_dropped(new_node: NodeFactory) -> None:
    a, b = new_node("KE"), new_node("UG")
    # A knows B, B does not know A yet.
    with a.tx() as session:
        service.import_directory(session, actor="t", document=b.entry_document(), fingerprint=b.key_id())
    mid = a.send(b, {"n": 6})
    assert a.deliver().retrying == [mid]
    assert "unknown_sender" in (a.outbox_row(mid).last_error or "")
    with b.tx() as session:
        service.import_directory(session, actor="t", document=a.entry_document(), fingerprint=a.key_id())
    assert a.deliver([mid]).delivered == [mid]
    assert calls("UG", mid) == 1


def test_three_nodes_discover_each_other_through_their_public_entries(new_node: NodeFactory) -> None:
    nodes = [new_node("KE"), new_node("UG"), new_node("TZ")]
    for me in nodes:
        for other in nodes:
            if other is me:
                continue
            entry = httpx.get(other.url + "/api/v1/federation/node", timeout=5).json()
            check_schema("directory_entry", entry)
            check_schema("directory", other.entry_document())
            checked = envelope.verify_entry(entry)  # self-signed: proves the node holds the key
            assert checked.key_id == other.key_id()
            with me.tx() as session:
                service.add_peer(
                    session,
                    actor="t",
                    data=service.PeerInput(
                        country=checked.country,
                        url=checked.url,
                        public_key=envelope.b64url(checked.public_key),
                        poc_name=checked.poc_name,
                        contact=checked.contact,
                    ),
                )
    sent: list[tuple[Node, uuid.UUID]] = []
    for i, src in enumerate(nodes):
        dst = nodes[(i + 1) % 3]
        sent.append((dst, src.send(dst, {"hop": i}, kind="test.reply")))
    for src in nodes:
        assert len(src.deliver().delivered) == 1
    for dst, mid in sent:
        assert calls(dst.country, mid) == 1


def test_the_background_loop_delivers_without_a_command(new_node: NodeFactory) -> None:
    a = new_node("KE", ITI_FEDERATION_DELIVERY_INTERVAL="0.1")
    b = new_node("UG")
    introduce(a, b)
    mid = a.send(b, {"n": 7})
    deadline = utcnow() + timedelta(seconds=15)
    while a.outbox_row(mid).status != OutboxStatus.DELIVERED.value:
        assert utcnow() < deadline, a.outbox_row(mid).last_error
        threading.Event().wait(0.05)
    assert calls("UG", mid) == 1


def test_poc_views_of_outbox_and_inbox_over_http(pair: tuple[Node, Node]) -> None:
    a, b = pair
    mid = a.send(b, {"n": 8})
    a.deliver()
    with b.tx() as session:
        officer = users.add_user(
            session, actor="t", username="poc-ug", role="poc_officer", password="correct horse battery staple"
        )
        token = users.issue_token(session, user=officer).token
        clerk = users.add_user(
            session,
            actor="t",
            username="marker-ug",
            role="marking_operator",
            password="correct horse battery staple",
        )
        clerk_token = users.issue_token(session, user=clerk).token
        boss = users.add_user(
            session, actor="t", username="admin-ug", role="admin", password="correct horse battery staple"
        )
        admin_token = users.issue_token(session, user=boss).token
    with httpx.Client(base_url=b.url, timeout=10) as client:
        assert client.get("/api/v1/federation/inbox").status_code == 401
        denied = client.get("/api/v1/federation/inbox", headers={"Authorization": f"Bearer {clerk_token}"})
        assert denied.status_code == 403
        auth = {"Authorization": f"Bearer {token}"}
        listed = client.get("/api/v1/federation/inbox", headers=auth).json()
        assert [m["id"] for m in listed] == [str(mid)]
        one = client.get(f"/api/v1/federation/inbox/{mid}", headers=auth).json()
        assert one["envelope"]["body"] == {"n": 8}
        assert one["receipt"]["message_id"] == str(mid)
        replies = client.get("/api/v1/federation/outbox", headers=auth, params={"to_country": "KE"}).json()
        assert [r["in_reply_to"] for r in replies] == [str(mid)]
        assert (
            client.get("/api/v1/federation/outbox", headers=auth, params={"status": "bogus"}).status_code
            == 422
        )
        assert client.get(f"/api/v1/federation/outbox/{uuid.uuid4()}", headers=auth).status_code == 404
        node = client.get("/api/v1/federation/node").json()  # open, like /healthz
        assert (node["country"], node["url"]) == ("UG", b.url)
        # The directory over the API: officers read it, only an admin changes it.
        key = envelope.b64url(envelope.public_bytes(Ed25519PrivateKey.generate()))
        peer = {
            "country": "TZA",
            "url": "https://tz.example",
            "public_key": key,
            "poc_name": "PoC TZ",
            "contact": "x",
        }
        assert client.post("/api/v1/federation/peers", json=peer, headers=auth).status_code == 403
        admin = {"Authorization": f"Bearer {admin_token}"}
        added = client.post("/api/v1/federation/peers", json=peer, headers=admin)
        assert added.status_code == 201, added.text
        assert added.json()["country"] == "TZ"
        assert client.post("/api/v1/federation/peers", json=peer, headers=admin).status_code == 409
        listed_peers = client.get("/api/v1/federation/peers", headers=auth).json()
        assert sorted(p["country"] for p in listed_peers) == ["KE", "TZ"]
        gone = client.delete(f"/api/v1/federation/peers/{added.json()['id']}", headers=admin)
        assert gone.json()["removed_at"] is not None
        assert [p["country"] for p in client.get("/api/v1/federation/peers", headers=auth).json()] == ["KE"]


def test_key_rotation_hands_over_to_peers_without_a_new_fingerprint(pair: tuple[Node, Node]) -> None:
    a, b = pair
    old_kid = a.key_id()
    with a.tx() as session:
        handover = service.rotate_node_key(session, a.settings, actor="officer")
    check_schema("directory", handover)
    new_kid = a.key_id()
    assert new_kid != old_kid
    assert handover["key_id"] == old_kid  # signed by the old key, which B trusts
    mid = a.send(b, {"n": 9})
    assert a.deliver().retrying == [mid]  # B does not know the new key yet
    assert "unknown_key" in (a.outbox_row(mid).last_error or "")
    forget_keys()
    with b.tx() as session:
        result = service.import_directory(session, actor="poc", document=handover)  # no fingerprint needed
        assert [p.key_id for p in result.added] == [new_kid]
        service.remove_peer(session, actor="poc", ref=old_kid)
    assert a.deliver([mid]).delivered == [mid]
    assert calls("UG", mid) == 1
    audit_clean(a)


def test_the_wire_path_of_the_issue_is_the_same_endpoint(pair: tuple[Node, Node]) -> None:
    a, b = pair
    message = sign_as(
        a, id=new_id(), kind="test.reply", from_country="KE", to_country="UG", body={"w": 1}, sent_at=utcnow()
    )
    with httpx.Client(base_url=b.url, timeout=10) as client:
        first = client.post("/federation/v1/messages", content=message.to_json())
        again = client.post(MESSAGES, content=message.to_json())
    assert first.status_code == 202, first.text
    assert (again.status_code, again.json()["code"]) == (409, envelope.DUPLICATE)
    assert again.json()["receipt"] == first.json()["receipt"]
    assert calls("UG", message.id) == 1
