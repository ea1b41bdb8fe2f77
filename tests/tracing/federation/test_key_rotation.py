"""Federation key rotation by message, between real nodes over HTTP: a node announces its new key in a
`federation.key_rotation` message signed by the old key; every peer state gets it through the outbox (one
that is down, when it returns); peers accept the new key at once and the old one for the grace period only.
Refused announcements change nothing and are logged, each for its own reason."""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.audit.models import AuditEntry
from registry.audit.signing import save_signing_key
from registry.config import get_settings
from registry.db import new_id, utcnow
from tests.tracing.federation.nodes import Node, introduce, sign_as, validators
from tests.tracing.federation.sqlite_nodes import NodeFactory, set_clock, sqlite_node
from tests.tracing.federation.test_nodes import MESSAGES, audit_clean
from tracing.federation import envelope, inbox, keys, service
from tracing.federation import repository as repo
from tracing.federation.config import federation_config
from tracing.federation.models import InboxMessage, OutboxStatus
from tracing.federation.service import KEY_ROTATION_GRACE

new_node = sqlite_node  # real nodes on SQLite files; every exchanged envelope checked against the schema


@pytest.fixture
def pair(new_node: NodeFactory) -> tuple[Node, Node]:
    a, b = new_node("KE"), new_node("UG")
    introduce(a, b)
    return a, b


def post(node: Node, data: bytes) -> httpx.Response:
    with httpx.Client(base_url=node.url, timeout=10) as client:
        return client.post(MESSAGES, content=data, headers={"Content-Type": "application/json"})


def directory(node: Node, country: str) -> dict[str, datetime | None]:
    """The keys `node` lists for `country`, with their removal time (None: active)."""
    with node.sessions() as session:
        return {
            p.key_id: p.removed_at
            for p in service.list_peers(session, include_removed=True)
            if p.country == country
        }


def audit_actions(node: Node, action: str) -> list[dict[str, Any]]:
    """The `info` of each audit entry with this action (the entry body is the hashed canonical JSON)."""
    with node.sessions() as session:
        bodies = session.scalars(select(AuditEntry.body).where(AuditEntry.action == action))
        return [orjson.loads(body)["info"] for body in bodies]


def announcement(
    key: envelope.Signer, body: dict[str, Any], *, sent_at: datetime | None = None, **fields: Any
) -> envelope.Envelope:
    values: dict[str, Any] = {
        "id": new_id(),
        "kind": envelope.KEY_ROTATION,
        "from_country": "KE",
        "to_country": "UG",
        "body": body,
        "sent_at": sent_at or utcnow(),
    }
    values.update(fields)
    return envelope.sign(key, **values)


def _add_second_kenyan_office(node: Node) -> Ed25519PrivateKey:
    """A second PoC of Kenya in `node`'s directory (another office, its own key); its private key."""
    other_office = Ed25519PrivateKey.generate()
    with node.tx() as session:
        service.add_peer(
            session,
            actor="poc",
            data=service.PeerInput(
                country="KE",
                url="https://backup.ke.example",
                poc_name="Backup PoC",
                contact="backup@ke.example",
                public_key=envelope.b64url(envelope.public_bytes(other_office)),
                priority=1,
            ),
        )
    return other_office


def rejections(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "federation.inbox.rejected" in r.getMessage()]


def refused(response: httpx.Response, status: int, code: str, field: str, text: str) -> None:
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.status_code, problem["code"], problem.get("field")) == (status, code, field), problem
    assert text in problem["detail"], problem["detail"]


@pytest.fixture(autouse=True)
def _logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tracing.federation")


def test_a_rotation_reaches_every_peer_through_the_outbox_and_the_new_key_takes_over(
    new_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = new_node("KE"), new_node("UG")
    c = new_node("TZ", start=False)  # down: it gets the announcement when it comes back
    introduce(a, b)
    introduce(a, c)
    # B also lists a second PoC of Kenya (another office, its own key): a rotation does not touch it.
    other_office = _add_second_kenyan_office(b)
    old_kid = a.key_id()
    old_key = keys.load_node_key(a.settings).current
    in_flight = sign_as(
        a,
        id=new_id(),
        kind="test.reply",
        from_country="KE",
        to_country="UG",
        body={"signed": "before the rotation"},
        sent_at=utcnow(),
    )

    with a.tx() as session:
        rotation = service.rotate_key(session, a.settings, actor="officer")
    new_kid = rotation.key_id
    assert rotation.old_key_id == old_kid != new_kid == a.key_id()
    assert set(rotation.announced) == {"UG", "TZ"}
    to_b, to_c = rotation.announced["UG"], rotation.announced["TZ"]
    report = a.deliver()
    assert report.delivered == [to_b]
    assert to_c in report.retrying
    assert "ConnectError" in (a.outbox_row(to_c).last_error or "")
    sent = orjson.loads(a.outbox_row(to_b).envelope or "")
    assert (sent["key_id"], sent["body"]["old_key_id"], sent["body"]["new_key_id"]) == (
        old_kid,
        old_kid,
        new_kid,
    )

    # B: the Kenyan PoC now has the new key; the old one is accepted until the end of the grace period.
    on_b = directory(b, "KE")
    assert on_b[new_kid] is None
    assert on_b[old_kid] is not None
    assert abs(on_b[old_kid] - (rotation.effective_at + KEY_ROTATION_GRACE)) < timedelta(seconds=5)
    other_kid = envelope.key_id(envelope.public_bytes(other_office))
    assert on_b[other_kid] is None
    (rotated,) = audit_actions(b, "federation.peer_key_rotated")
    assert (rotated["old_key_id"], rotated["key_id"], rotated["message_id"]) == (old_kid, new_kid, str(to_b))

    # A message signed by the old key just before the rotation still verifies during the grace period.
    assert post(b, in_flight.to_json()).status_code == 202
    # A trace message sent now is signed by the new key and accepted; B's answer goes to the new key's entry
    # (A's receipt, signed by the new key, verifies there).
    mid = a.send(b, {"question": "where did rifle AB123 come from?"})
    assert a.deliver([mid]).delivered == [mid]
    with b.sessions() as session:
        stored = session.get(InboxMessage, mid)
        assert stored is not None
        assert stored.key_id == new_kid
    assert len(b.deliver().delivered) == 1

    # A day later (B's clock moved past the grace period): the old key is refused as an unknown key, the new
    # one accepted at the same time, so it is the key that is refused, not the time.
    set_clock(b, KEY_ROTATION_GRACE + timedelta(minutes=10))
    later = utcnow() + KEY_ROTATION_GRACE + timedelta(minutes=10)
    forged = envelope.sign(
        old_key,
        id=new_id(),
        kind="test.reply",
        from_country="KE",
        to_country="UG",
        body={"signed": "after the grace period"},
        sent_at=later,
    )
    refused(post(b, forged.to_json()), 401, envelope.UNKNOWN_KEY, "key_id", old_kid)
    fresh = sign_as(
        a, id=new_id(), kind="test.reply", from_country="KE", to_country="UG", body={}, sent_at=later
    )
    assert post(b, fresh.to_json()).status_code == 202
    assert any("reason=unknown_key" in line and old_kid in line for line in rejections(caplog))

    # C comes back: the outbox's next attempt delivers the announcement, still signed by the retired key.
    c.start()
    assert a.deliver([to_c]).delivered == [to_c]
    assert a.outbox_row(to_c).attempts == 2
    with c.sessions() as session:
        got = session.get(InboxMessage, to_c)
        assert got is not None
        assert got.key_id == old_kid
    assert directory(c, "KE")[new_kid] is None
    to_c_after = a.send(c, {"question": "and for Tanzania?"})
    assert a.deliver([to_c_after]).delivered == [to_c_after]
    for node in (a, b, c):
        audit_clean(node)


def test_a_rotation_with_a_bad_proof_of_possession_is_refused_and_logged(
    pair: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    before = directory(b, "KE")
    new = Ed25519PrivateKey.generate()
    now = utcnow()
    body = envelope.key_rotation_body(new, country="KE", old_key_id=a.key_id(), effective_at=now)
    # Someone else's public key, announced as ours: the proof is made by another key.
    by_other = dict(
        body,
        proof=envelope.key_rotation_body(
            Ed25519PrivateKey.generate(), country="KE", old_key_id=a.key_id(), effective_at=now
        )["proof"],
    )
    # The new key's genuine proof, but for replacing another key: the statement binds the old key id.
    other_statement = dict(
        body,
        proof=envelope.key_rotation_body(new, country="KE", old_key_id="0123456789abcdef", effective_at=now)[
            "proof"
        ],
    )
    for forged in (by_other, other_statement):
        response = post(b, announcement(keys.load_node_key(a.settings), forged).to_json())
        refused(response, 422, "refused_by_handler", "body.proof", "proof of possession does not verify")
    assert directory(b, "KE") == before
    assert audit_actions(b, "federation.peer_key_rotated") == []
    logged = [line for line in rejections(caplog) if "proof of possession" in line]
    assert len(logged) == 2
    assert all("reason=refused_by_handler" in line for line in logged)
    # The genuine announcement is accepted: the refusals were about the proof.
    assert post(b, announcement(keys.load_node_key(a.settings), body).to_json()).status_code == 202
    assert directory(b, "KE")[envelope.key_id(envelope.public_bytes(new))] is None


def test_a_rotation_signed_by_a_key_not_in_the_directory_is_refused_and_logged(
    pair: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    stranger, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    stranger_kid = envelope.key_id(envelope.public_bytes(stranger))
    # A second Kenyan PoC B does know: it may not replace the first PoC's key either.
    other_office = _add_second_kenyan_office(b)
    before = directory(b, "KE")
    now = utcnow()
    own = envelope.key_rotation_body(new, country="KE", old_key_id=stranger_kid, effective_at=now)
    of_a = envelope.key_rotation_body(new, country="KE", old_key_id=a.key_id(), effective_at=now)
    refused(post(b, announcement(stranger, own).to_json()), 401, envelope.UNKNOWN_KEY, "key_id", stranger_kid)
    refused(
        post(b, announcement(stranger, of_a).to_json()), 401, envelope.UNKNOWN_KEY, "key_id", stranger_kid
    )
    refused(
        post(b, announcement(other_office, of_a).to_json()),
        422,
        "refused_by_handler",
        "key_id",
        "must be signed by that key",
    )
    assert directory(b, "KE") == before
    assert audit_actions(b, "federation.peer_key_rotated") == []
    logged = rejections(caplog)
    assert sum(f"reason={envelope.UNKNOWN_KEY}" in line and stranger_kid in line for line in logged) == 2
    assert any(
        "reason=refused_by_handler" in line and "must be signed by that key" in line for line in logged
    )
    # The genuine announcement, signed by the key it retires, is accepted.
    assert post(b, announcement(keys.load_node_key(a.settings), of_a).to_json()).status_code == 202


def test_a_replayed_rotation_is_refused_and_logged(
    pair: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    with a.tx() as session:
        rotation = service.rotate_key(session, a.settings, actor="officer")
    (message_id,) = rotation.announced.values()
    assert a.deliver().delivered == [message_id]
    accepted = a.outbox_row(message_id).envelope or ""
    after = directory(b, "KE")
    stored = b.inbox_count()
    raw = orjson.loads(accepted)
    # Verbatim: the message id is known; answered with the original receipt, nothing done again.
    again = post(b, accepted.encode())
    assert (again.status_code, again.json()["code"]) == (409, envelope.DUPLICATE)
    assert again.json()["receipt"] == a.outbox_row(message_id).receipt
    # Under a new id with the captured nonce (only the old key's holder can sign that): the nonce is known.
    ring = keys.load_node_key(a.settings)  # signs an announcement with the retired key its body names
    same_nonce = announcement(ring, raw["body"], nonce=raw["nonce"])
    assert same_nonce.key_id == rotation.old_key_id
    refused(post(b, same_nonce.to_json()), 409, envelope.REPLAYED_NONCE, "nonce", "replay")
    # Fresh id and nonce: the old key was replaced, it announces nothing any more (neither the same key ...
    refused(
        post(b, announcement(ring, raw["body"]).to_json()),
        422,
        "refused_by_handler",
        "key_id",
        "already replaced",
    )
    # ... nor another one, although its signatures still verify during the grace period).
    other = envelope.key_rotation_body(
        Ed25519PrivateKey.generate(), country="KE", old_key_id=rotation.old_key_id, effective_at=utcnow()
    )
    refused(
        post(b, announcement(ring, other).to_json()), 422, "refused_by_handler", "key_id", "already replaced"
    )
    assert directory(b, "KE") == after
    assert b.inbox_count() == stored
    assert len(audit_actions(b, "federation.peer_key_rotated")) == 1
    logged = rejections(caplog)
    assert any(f"reason={envelope.REPLAYED_NONCE}" in line for line in logged)
    assert sum("reason=refused_by_handler" in line and "already replaced" in line for line in logged) == 2
    audit_clean(b)


def test_a_rotation_for_another_state_is_refused_and_logged(
    pair: tuple[Node, Node], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = pair
    tanzania = Ed25519PrivateKey.generate()
    tz_kid = envelope.key_id(envelope.public_bytes(tanzania))
    with b.tx() as session:
        service.add_peer(
            session,
            actor="poc",
            data=service.PeerInput(
                country="TZ",
                url="https://iti.tz.example",
                poc_name="PoC TZ",
                contact="poc@tz.example",
                public_key=envelope.b64url(envelope.public_bytes(tanzania)),
            ),
        )
    before = {"KE": directory(b, "KE"), "TZ": directory(b, "TZ")}
    new = Ed25519PrivateKey.generate()
    # Kenya's key announcing a key for Tanzania: for its own key id, or for Tanzania's.
    for old_kid in (a.key_id(), tz_kid):
        body = envelope.key_rotation_body(new, country="TZ", old_key_id=old_kid, effective_at=utcnow())
        response = post(b, announcement(keys.load_node_key(a.settings), body).to_json())
        refused(response, 422, "refused_by_handler", "body.country", "KE sent a key for TZ")
    assert {"KE": directory(b, "KE"), "TZ": directory(b, "TZ")} == before
    assert audit_actions(b, "federation.peer_key_rotated") == []
    logged = [line for line in rejections(caplog) if "KE sent a key for TZ" in line]
    assert len(logged) == 2
    # For its own state, the same key and proof are accepted.
    body = envelope.key_rotation_body(new, country="KE", old_key_id=a.key_id(), effective_at=utcnow())
    assert post(b, announcement(keys.load_node_key(a.settings), body).to_json()).status_code == 202
    assert directory(b, "TZ") == before["TZ"]


def test_the_announcement_fails_for_good_if_the_retired_key_is_gone(pair: tuple[Node, Node]) -> None:
    """Without the retired key the announcement goes out under the new one: a peer that took the hand-over by
    hand refuses it for good, an officer sees a failed message, and the delivery pass goes on."""
    a, b = pair
    with a.tx() as session:
        rotation = service.rotate_key(session, a.settings, actor="officer")
    keys.retired_path(federation_config(a.settings), rotation.old_key_id).unlink()
    keys.forget_loaded_keys()
    with b.tx() as session:
        result = service.import_directory(session, actor="poc", document=rotation.handover)
    assert [p.key_id for p in result.added] == [rotation.key_id]
    (message_id,) = rotation.announced.values()
    mid = a.send(b, {"n": 1})
    report = a.deliver()
    assert (report.failed, report.delivered) == ([message_id], [mid])
    row = a.outbox_row(message_id)
    assert row.status == OutboxStatus.FAILED.value
    assert "must be signed by that key" in (row.last_error or "")


def test_a_key_rotated_by_another_process_signs_the_next_message(tmp_path: Path) -> None:
    settings = dataclasses.replace(
        get_settings(), var_dir=tmp_path, extra={"ITI_FEDERATION_KEY_PASSPHRASE": "pass"}
    )
    first = keys.create_node_key(settings)
    assert keys.load_node_key(settings).current is first
    # `iti node rotate-key` in another process replaces the file while this one (`iti serve`) runs.
    second = Ed25519PrivateKey.generate()
    save_signing_key(second, federation_config(settings).key_file, b"pass", overwrite=True)
    ring = keys.load_node_key(settings)
    assert envelope.public_bytes(ring) == envelope.public_bytes(second)
    # After a rotation here, an announcement is signed by the key it retires, anything else by the new key.
    old, new, retired = keys.rotate_node_key(settings)
    assert envelope.public_bytes(old) == envelope.public_bytes(second)
    assert retired.name == f"federation-signing.retired-{envelope.key_id(envelope.public_bytes(old))}.pem"
    ring = keys.load_node_key(settings)
    body = envelope.key_rotation_body(
        new, country="KE", old_key_id=envelope.key_id(envelope.public_bytes(old)), effective_at=utcnow()
    )
    signed = announcement(ring, body)
    assert signed.key_id == body["old_key_id"]
    envelope.check_signature(signed.raw, envelope.public_bytes(old))
    # The published schema checks the body of this kind (the nodes' exchanges are validated against it).
    assert validators()["envelope"].is_valid(signed.raw)
    no_proof = {k: v for k, v in body.items() if k != "proof"}
    assert not validators()["envelope"].is_valid(announcement(ring, no_proof).raw)
    assert announcement(ring, body, kind="test.reply").key_id == body["new_key_id"]
    assert announcement(ring, dict(body, old_key_id="0" * 16)).key_id == body["new_key_id"]


def test_the_directory_rules_of_a_rotation_on_every_backend(session: Session, tmp_path: Path) -> None:
    """The receiving side in the caller's transaction, on SQLite and PostgreSQL (the grace period is a time
    comparison in SQL): the new key at once, the old one until the end of the grace period, then refused."""
    settings = dataclasses.replace(
        get_settings(), var_dir=tmp_path, node_country=None, extra={"ITI_FEDERATION_KEY_PASSPHRASE": "pw"}
    )
    service.init_node(
        session,
        settings,
        actor="poc",
        country="UG",
        poc_name="PoC",
        contact="poc@ug.example",
        url="https://ug.example",
    )
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_kid, new_kid = (envelope.key_id(envelope.public_bytes(k)) for k in (old, new))
    service.add_peer(
        session,
        actor="poc",
        data=service.PeerInput(
            country="KE",
            url="https://ke.example",
            poc_name="PoC KE",
            contact="poc@ke.example",
            public_key=envelope.b64url(envelope.public_bytes(old)),
            priority=2,
        ),
    )
    now = utcnow()
    body = envelope.key_rotation_body(new, country="KE", old_key_id=old_kid, effective_at=now)
    inbox.receive(session, settings, announcement(old, body, sent_at=now).to_json(), now=now)
    (active,) = repo.active_peers(session, "KE")  # where messages to Kenya go from now on
    assert (active.key_id, active.priority, active.url) == (new_kid, 2, "https://ke.example")
    end = now + KEY_ROTATION_GRACE

    def ping(key: Ed25519PrivateKey, at: datetime) -> bytes:
        return envelope.sign(
            key, id=new_id(), kind="federation.ping", from_country="KE", to_country="UG", body={}, sent_at=at
        ).to_json()

    before_end, after_end = end - timedelta(minutes=1), end + timedelta(minutes=1)
    assert {p.key_id for p in repo.trusted_peers(session, "KE", now=before_end)} == {old_kid, new_kid}
    assert {p.key_id for p in repo.trusted_peers(session, "KE", now=after_end)} == {new_kid}
    assert not inbox.receive(session, settings, ping(old, before_end), now=before_end).duplicate
    with pytest.raises(envelope.Rejected) as refused_old:
        inbox.receive(session, settings, ping(old, after_end), now=after_end)
    assert refused_old.value.reason == envelope.UNKNOWN_KEY
    assert not inbox.receive(session, settings, ping(new, after_end), now=after_end).duplicate
    # An officer can end the grace period at once (the old key turns out compromised).
    service.remove_peer(session, actor="poc", ref=old_kid)
    with pytest.raises(envelope.Rejected) as removed:
        inbox.receive(session, settings, ping(old, utcnow()))
    assert removed.value.reason == envelope.UNKNOWN_KEY
