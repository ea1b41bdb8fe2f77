"""The issue's proof: three national nodes (own databases, own keys, uvicorn on loopback ports, real HTTP).

Austria (A) manufactures a pistol and exports it to Kenya (B) under licence L-AT-77; Kenya records the import
with its import mark and a sale to a dealer; the pistol is seized in Uganda (C) with two serial characters
obliterated. Uganda's PoC traces to Kenya through the import mark; Kenya's PoC picks the right candidate and
answers (imported from Austria, sold to a dealer); Uganda follows up with Austria, the "next hop"; Austria
answers (exported to Kenya under L-AT-77); Uganda closes both; each node's statistics and SDG 16.4.2 show it.
Every PoC action goes through the HTTP API; messages go through the federation outbox and inbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from registry.codes import OrgKind
from registry.history.inputs import EventInput
from registry.organisations import service as orgs
from registry.profiles import ITI
from registry.reference.service import seed_reference_data
from registry.users import service as users
from registry.weapons import service as weapons
from tests.conftest import _drop_postgres, _postgres_scratch_url
from tests.factories import import_marking, manufacture_marking, weapon_input
from tests.tracing.federation.nodes import Node, check_exchanged_messages, introduce, make_node
from tests.tracing.requests.conftest import check_trace_body
from tracing.federation.models import InboxMessage, OutboxMessage

SERIAL = "GX4471"
LICENCE = "L-AT-77"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def nodes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Node]]:
    made: dict[str, Node] = {}
    scratch: list[str] = []
    for country in ("AT", "KE", "UG"):
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / (country + '.db')}"
        else:
            url = _postgres_scratch_url()
            scratch.append(url)
        made[country] = make_node(country, url, tmp_path / f"var-{country}")
        with made[country].tx() as session:
            seed_reference_data(session, actor="setup")
        made[country].start()
    introduce(made["AT"], made["KE"])
    introduce(made["AT"], made["UG"])
    introduce(made["KE"], made["UG"])
    yield made
    for node in made.values():
        node.stop()
    try:
        assert sum(check_exchanged_messages(node) for node in made.values()) > 0
        for node in made.values():
            _check_trace_bodies(node)
    finally:
        for node in made.values():
            node.engine.dispose()
        for url in scratch:
            _drop_postgres(url)


def _check_trace_bodies(node: Node) -> None:
    with node.sessions() as session:
        for sent in session.scalars(select(OutboxMessage)):
            check_trace_body(sent.kind, sent.body)
        for got in session.scalars(select(InboxMessage)):
            check_trace_body(got.kind, orjson.loads(got.envelope)["body"])


def _poc(node: Node) -> dict[str, str]:
    with node.tx() as session:
        user = users.add_user(
            session, actor="setup", username=f"poc-{node.country.lower()}", role="poc_officer",
            password="correct horse battery staple",
        )  # fmt: skip
        token = users.issue_token(session, user=user).token
    return {"Authorization": f"Bearer {token}"}


def _register(node: Node, **kw: Any) -> uuid.UUID:
    with node.tx() as session:
        return weapons.register(
            session, actor="registry", profile=ITI, home_country=node.country, **kw
        ).weapon.id


def _event(node: Node, weapon_id: uuid.UUID, event: EventInput) -> None:
    from registry.history import service as history

    with node.tx() as session:
        history.record_event(
            session,
            actor="registry",
            weapon_id=weapon_id,
            event=event,
            profile=ITI,
            home_country=node.country,
        )


class Api:
    def __init__(self, node: Node) -> None:
        self.node, self.headers = node, _poc(node)

    def __call__(self, method: str, path: str, json: Any = None, code: int = 200) -> Any:
        r = httpx.request(
            method, self.node.url + "/api/v1/traces" + path, json=json, headers=self.headers, timeout=20
        )
        assert r.status_code == code, f"{self.node.country} {method} {path}: {r.status_code} {r.text}"
        return r.json()


def _pump(*nodes: Node) -> None:
    """Deliver every queued message, until nothing is left (replies queue new ones)."""
    for _ in range(5):
        if not sum(len(n.deliver().delivered) for n in nodes):
            return


def test_a_seized_pistol_is_traced_back_to_its_manufacturer(nodes: dict[str, Node]) -> None:
    at, ke, ug = nodes["AT"], nodes["KE"], nodes["UG"]
    # Austria: manufactured, exported to Kenya under licence.
    made = _register(
        at,
        weapon=weapon_input(),
        markings=[manufacture_marking(SERIAL)],
        event=EventInput(type="manufactured"),
    )
    export_docs = [
        {"kind": "export_licence", "number": LICENCE, "issued_on": "2024-01-10", "expires_on": "2025-01-10"}
    ]
    _event(at, made, EventInput(type="exported", to_country="KE", documents=export_docs,
                                data={"final_recipient": "Nairobi Arms Ltd"}))  # fmt: skip
    # Kenya: imported from Austria with its import mark, then sold to a dealer.
    imported = _register(
        ke,
        weapon=weapon_input(),
        markings=[
            manufacture_marking(SERIAL),
            import_marking("KE", 2024, text="KE 24 IMP-5521", serial="IMP-5521"),
        ],
        event=EventInput(type="imported", from_country="AT", to_country="KE"),
    )
    register_decoy = _register(
        ke, weapon=weapon_input(), markings=[manufacture_marking("GX4479"), import_marking("KE", 2024)],
        event=EventInput(type="imported", from_country="AT", to_country="KE"),
    )  # fmt: skip
    with ke.tx() as session:
        dealer = orgs.create_organisation(
            session, actor="registry", name="Rift Valley Guns", kind=OrgKind.DEALER, country="KE"
        )
    _event(ke, imported, EventInput(type="transferred", to_org_id=dealer.id))
    # Uganda: seized, serial partly obliterated, linked to a criminal offence.
    seized = _register(
        ug,
        weapon=weapon_input(),
        markings=[],
        event=EventInput(type="seized", location="Kampala", data={
            "criminal_offence": True, "illicit": True, "illicit_grounds": ["illicit_under_national_law"],
            "mark_condition": "obliterated"}),
    )  # fmt: skip

    c_api, b_api, a_api = Api(ug), Api(ke), Api(at)
    draft = c_api("POST", "", {
        "requested_country": "KE", "case_reference": "UG/CID/2026/311",
        "illicit_nature": "seized from a robbery suspect; serial partly ground off",
        "legal_justification": "Firearms Act (Uganda) s.3", "intended_use": "prosecution",
        "intended_use_code": "prosecution",
        "markings": [
            {"text": "GLOCK AUSTRIA GX4?7?", "position": "frame, left", "kind": "manufacture", "serial": "GX4?7?"},
            {"text": "KE 24 IMP-5521", "position": "frame, right", "kind": "import"},
        ],
        "category": "SA-PIS", "make": "Glock", "model": "17", "calibre": "9mm Luger",
        "recovery_kind": "seized", "recovered_on": "2026-10-02", "recovery_place": "Kampala",
        "weapon_id": str(seized),
    }, code=201)  # fmt: skip
    rid = draft["id"]
    assert c_api("POST", f"/{rid}/send")["state"] == "sent"
    assert len(ug.deliver().delivered) == 1
    # Kenya's signed receipt came back: Uganda's list shows the request delivered before any reply.
    assert [(i["id"], i["state"]) for i in c_api("GET", "")["items"]] == [(rid, "delivered")]
    _pump(ke, ug)

    # Kenya: the request arrived, was acknowledged automatically, and the right pistol leads the candidates.
    incoming = b_api("GET", f"/{rid}")
    assert (incoming["direction"], incoming["state"]) == ("incoming", "acknowledged")
    cands = incoming["candidates"]
    assert cands[0]["weapon_id"] == str(imported)
    assert cands[0]["matched_markings"] == 2
    assert str(register_decoy) not in [c["weapon_id"] for c in cands][:1]
    assert c_api("GET", f"/{rid}")["state"] == "acknowledged"
    b_api("POST", f"/{rid}/answer", {"completeness": "full", "weapon_id": cands[0]["weapon_id"],
                                     "text": "imported from Austria in 2024, sold to a licensed dealer"})  # fmt: skip
    _pump(ke, ug)
    answered = c_api("GET", f"/{rid}")
    assert (answered["state"], answered["completeness"]) == ("answered", "full")
    chain = answered["response"]["supply_chain"]
    assert [e["event"] for e in chain["events"]] == ["imported", "transferred"]
    assert chain["events"][0]["from_country"] == "AT"
    assert chain["events"][1]["to"]["kind"] == "dealer"
    assert answered["next_hop"] == "AT"

    # Next hop: Austria.
    follow = c_api("POST", f"/{rid}/follow-up", {}, code=201)
    assert (follow["requested_country"], follow["follow_up_of"]) == ("AT", rid)
    fid = follow["id"]
    c_api("POST", f"/{fid}/send")
    _pump(ug, at)
    at_view = a_api("GET", f"/{fid}")
    assert at_view["candidates"][0]["weapon_id"] == str(made)
    a_api("POST", f"/{fid}/answer", {"completeness": "full", "weapon_id": str(made)})
    _pump(at, ug)
    origin = c_api("GET", f"/{fid}")
    assert origin["state"] == "answered"
    export = origin["response"]["supply_chain"]["events"][1]
    assert (export["event"], export["to_country"]) == ("exported", "KE")
    assert export["documents"] == [{"kind": "export_licence", "number": LICENCE, "issued_on": "2024-01-10"}]

    for trace_id in (rid, fid):
        assert (
            c_api("POST", f"/{trace_id}/close", {"note": "origin established", "origin_established": True})[
                "state"
            ]
            == "closed"
        )
    _pump(ug, ke, at)
    assert b_api("GET", f"/{rid}")["state"] == "closed"
    assert a_api("GET", f"/{fid}")["state"] == "closed"

    c_stats = c_api("GET", "/stats?year=2026")
    assert (c_stats["traces"]["total"]["sent"], c_stats["traces"]["total"]["answered"]) == (2, 2)
    assert set(c_stats["traces"]["per_partner"]) == {"KE", "AT"}
    sdg = c_stats["sdg_16_4_2"]
    assert (sdg["seized"], sdg["established"], sdg["indicator"]) == (1, 1, 1.0)
    for api, partner in ((b_api, "UG"), (a_api, "UG")):
        s = api("GET", "/stats")["traces"]
        assert (s["total"]["received"], s["total"]["answered"], s["total"]["closed"]) == (1, 1, 1)
        assert list(s["per_partner"]) == [partner]


def test_a_request_waits_for_a_node_that_is_down_and_is_refused_with_its_reason(
    nodes: dict[str, Node],
) -> None:
    ke, ug = nodes["KE"], nodes["UG"]
    c_api, b_api = Api(ug), Api(ke)
    draft = c_api("POST", "", {
        "requested_country": "KE", "case_reference": "UG/CID/2026/400", "illicit_nature": "found in a cache",
        "legal_justification": "Firearms Act (Uganda) s.3", "intended_use": "investigation",
        "markings": [{"text": "ZZ 9?1", "position": "receiver"}], "category": "SA-ASR", "calibre": "7.62x39",
    }, code=201)  # fmt: skip
    rid = draft["id"]
    ke.stop()
    c_api("POST", f"/{rid}/send")
    report = ug.deliver()
    assert report.delivered == []
    assert c_api("GET", f"/{rid}")["state"] == "sent"  # not delivered: Kenya is down
    ke.start()
    with ug.tx() as session:  # the retry is due now rather than after the backoff
        for row in session.scalars(select(OutboxMessage)):
            row.next_attempt_at = row.created_at
    _pump(ug, ke)
    incoming = b_api("GET", f"/{rid}")
    assert incoming["state"] == "acknowledged"
    assert incoming["candidates"] == []
    b_api("POST", f"/{rid}/refuse", {"grounds": ["confidentiality_not_guaranteed"],
                                     "reason": "no confidentiality undertaking on file"})  # fmt: skip
    _pump(ke, ug)
    refused = c_api("GET", f"/{rid}")
    assert refused["state"] == "refused"
    assert refused["response"]["grounds"] == ["confidentiality_not_guaranteed"]
    assert refused["response"]["reason"] == "no confidentiality undertaking on file"
    s = c_api("GET", "/stats")["traces"]["total"]
    assert (s["sent"], s["refused"], s["refused_or_restricted_by_ground"]) == (
        1,
        1,
        {"confidentiality_not_guaranteed": 1},
    )
