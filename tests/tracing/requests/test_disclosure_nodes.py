"""REQ-32 between two real nodes (own SQLite databases and keys, uvicorn on loopback, real HTTP): Kenya's
answer from Uganda is refused for another purpose; Kenya's PoC gives Uganda notice; the export waits for
Uganda's signed receipt of it, then goes through; Uganda's trace document shows the notice it received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from registry.audit.models import AuditEntry
from registry.users import service as users
from tests.tracing.federation.nodes import Node, introduce, make_node
from tests.tracing.requests.conftest import check_trace_body
from tracing.federation.models import OutboxMessage

REQUEST = {
    "requested_country": "UG", "case_reference": "KE/CID/2026/0042",
    "illicit_nature": "seized from a suspect in an armed robbery", "legal_justification": "Firearms Act s.4",
    "intended_use": "criminal investigation", "intended_use_code": "criminal_investigation",
    "markings": [{"text": "GLOCK AUSTRIA AB?2345", "position": "frame", "serial": "AB?2345"}],
    "category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm Luger", "recovery_kind": "seized",
    "recovered_on": "2026-10-01", "recovery_place": "Nairobi",
}  # fmt: skip
NOTICE = {"purpose": "prosecution", "recipient": "High Court of Kenya", "reason": "Exhibit at the trial."}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    ke = make_node("KE", f"sqlite:///{tmp_path / 'ke.db'}", tmp_path / "var-ke")
    ug = make_node("UG", f"sqlite:///{tmp_path / 'ug.db'}", tmp_path / "var-ug")
    for node in (ke, ug):
        node.start()
    introduce(ke, ug)
    yield ke, ug
    for node in (ke, ug):
        node.stop()
        node.engine.dispose()


class Poc:
    """The PoC officer of a node, speaking to its API over HTTP."""

    def __init__(self, node: Node) -> None:
        self.node = node
        with node.tx() as session:
            user = users.add_user(session, actor="setup", username=f"poc-{node.country.lower()}",
                                  role="poc_officer", password="correct horse battery staple")  # fmt: skip
            self.headers = {"Authorization": f"Bearer {users.issue_token(session, user=user).token}"}

    def __call__(self, method: str, path: str, code: int = 200, **kw: Any) -> Any:
        r = httpx.request(
            method, f"{self.node.url}/api/v1/traces{path}", headers=self.headers, timeout=20, **kw
        )
        assert r.status_code == code, f"{self.node.country} {method} {path}: {r.status_code} {r.text}"
        return r.json()


def _pump(*nodes: Node) -> None:
    for _ in range(5):
        if not sum(len(n.deliver().delivered) for n in nodes):
            return


def test_a_disclosure_waits_for_the_providing_states_receipt_of_the_notice(pair: tuple[Node, Node]) -> None:
    ke, ug = pair
    ke_poc, ug_poc = Poc(ke), Poc(ug)
    rid = ke_poc("POST", "", 201, json=REQUEST)["id"]
    ke_poc("POST", f"/{rid}/send")
    _pump(ke, ug)
    ug_poc("POST", f"/{rid}/answer", json={"completeness": "full", "text": "No record of this pistol."})
    _pump(ug, ke)

    court = {"purpose": "prosecution", "recipient": NOTICE["recipient"]}
    refused = ke_poc("GET", f"/{rid}/export", 409, params=court)
    assert (refused["field"], refused["stated_purpose"], refused["providing_state"]) == (
        "purpose", "criminal_investigation", "UG"
    )  # fmt: skip
    doc = ke_poc("POST", f"/{rid}/disclosure-notice", json=NOTICE)
    (sent,) = doc["use_limits"]["disclosure_notices"]
    assert (sent["direction"], sent["delivered_at"]) == ("sent", None)
    assert "not delivered yet" in ke_poc("GET", f"/{rid}/export", 409, params=court)["detail"]

    _pump(ke)  # UG's node verifies, stores and signs its receipt
    export = ke_poc("GET", f"/{rid}/export", params=court)
    assert export["declared_use"]["notice_message_id"] == sent["message_id"]
    (delivered,) = ke_poc("GET", f"/{rid}")["use_limits"]["disclosure_notices"]
    assert delivered["delivered_at"] is not None

    got = ug_poc("GET", f"/{rid}")
    (received,) = got["use_limits"]["disclosure_notices"]
    assert (received["direction"], received["country"], received["purpose"], received["recipient"]) == (
        "received", "KE", "prosecution", "High Court of Kenya"
    )  # fmt: skip
    assert (received["message_id"], received["reason"]) == (sent["message_id"], NOTICE["reason"])
    assert got["state"] == "answered"  # the notice moves no state
    with ug.sessions() as session:
        stmt = select(AuditEntry.actor).where(
            AuditEntry.subject == f"trace:{rid}", AuditEntry.action == "trace.disclosure_notice_received"
        )
        assert list(session.scalars(stmt)) == ["node:KE"]
    with ke.sessions() as session:  # what crossed the wire is valid under the published schema
        for message in session.scalars(select(OutboxMessage)):
            check_trace_body(message.kind, message.body)
