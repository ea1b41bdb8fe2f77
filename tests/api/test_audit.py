"""The audit log over HTTP: sign a head, prove an entry's inclusion and the log's consistency, verify."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry.audit.verify import verify_consistency, verify_inclusion
from tests.api.conftest import login_headers

BASE = "/api/v1/audit"


def sign(client: TestClient, admin: dict[str, str]) -> dict[str, object]:
    r = client.post(f"{BASE}/heads", headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def test_signed_head_is_listed_and_proofs_verify(client: TestClient, session: Session) -> None:
    admin = login_headers(session, "admin")
    auditor = login_headers(session, "auditor")
    old = sign(client, admin)
    login_headers(session, "record_officer")  # more entries
    new = sign(client, admin)
    heads = client.get(f"{BASE}/heads", headers=auditor).json()["items"]
    assert [h["id"] for h in heads][-2:] == [old["id"], new["id"]]

    seq = int(str(new["tree_size"])) - 1
    r = client.get(f"{BASE}/entries/{seq}/proof", params={"head": new["id"]}, headers=auditor)
    assert r.status_code == 200, r.text
    p = r.json()
    assert p["root_hash"] == new["root_hash"]
    path = [bytes.fromhex(h) for h in p["path"]]
    root = bytes.fromhex(p["root_hash"])
    assert verify_inclusion(bytes.fromhex(p["leaf_hash"]), p["seq"], p["tree_size"], path, root)

    r = client.get(f"{BASE}/consistency", params={"old": old["id"], "new": new["id"]}, headers=auditor)
    assert r.status_code == 200, r.text
    c = r.json()
    assert verify_consistency(
        c["old_size"],
        c["new_size"],
        bytes.fromhex(c["old_root"]),
        bytes.fromhex(c["new_root"]),
        [bytes.fromhex(h) for h in c["path"]],
    )


def test_proof_beyond_the_head_is_422_and_unknown_head_404(client: TestClient, session: Session) -> None:
    admin = login_headers(session, "admin")
    auditor = login_headers(session, "auditor")
    head = sign(client, admin)
    r = client.get(f"{BASE}/entries/{head['tree_size']}/proof", params={"head": head["id"]}, headers=auditor)
    assert r.status_code == 422
    assert r.json()["field"] == "seq"
    r = client.get(f"{BASE}/entries/0/proof", params={"head": 2**31 - 1}, headers=auditor)
    assert r.status_code == 404


def test_verify_reports_ok(client: TestClient, session: Session) -> None:
    auditor = login_headers(session, "auditor")
    r = client.post(f"{BASE}/verify", params={"records": "false"}, headers=auditor)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["ok"] is True, body["problems"]
    assert body["entries"] > 0
    assert body["records"] == 0
