"""Reads on a real hot standby, writes on the primary, read-your-writes, and falling back to the primary when
the standby lags or stops. The app is the real one (`create_app`) configured with `ITI_DATABASE_URL` and
`ITI_DATABASE_REPLICA_URLS` equivalents; where each read went is read on the very connection it used
(`pg_is_in_recovery()`, `inet_server_port()`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from api.app import create_app
from registry.db_routing import ReadRouting, Route, format_lsn
from tests.api.conftest import weapon_body
from tests.factories import unique_serial
from tests.registry.replicas.cluster import Pair
from tests.registry.replicas.conftest import PASSWORD, bearer, settings_for

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Seen:
    """Where one read went, as the server that answered it says."""

    principal: str | None
    route: Route
    in_recovery: bool
    port: int


class Served:
    """Wraps the app's real `connect_for_read` to ask each connection it hands out which server it is on."""

    def __init__(self, routing: ReadRouting) -> None:
        self.reads: list[Seen] = []
        original = routing.connect_for_read

        def connect(principal: str | None) -> tuple[Connection, Route]:
            conn, route = original(principal)
            in_recovery, port = conn.exec_driver_sql("SELECT pg_is_in_recovery(), inet_server_port()").one()
            self.reads.append(Seen(principal, route, in_recovery, port))
            return conn, route

        routing.connect_for_read = connect  # type: ignore[method-assign]

    @property
    def last(self) -> Seen:
        return self.reads[-1]


@dataclass
class Node:
    client: TestClient
    routing: ReadRouting
    served: Served


@pytest.fixture(scope="module")
def officers(pair: Pair) -> dict[str, dict[str, str]]:
    url = pair.primary.url()
    return {"a": bearer(url, "officer-a"), "b": bearer(url, "officer-b")}


def _node(pair: Pair, **settings: Any) -> Iterator[Node]:
    app = create_app(settings_for(pair.primary.url(), pair.standby.url(), **settings))
    routing = app.state.ctx.routing
    assert isinstance(routing, ReadRouting)
    with TestClient(app) as client:
        yield Node(client, routing, Served(routing))
    routing.dispose()


@pytest.fixture
def node(pair: Pair) -> Iterator[Node]:
    # Lag bound generous: these tests pause replay on purpose and must not trip it.
    yield from _node(pair, replica_max_lag_seconds=300.0, replica_check_seconds=0.0)


def _register(node: Node, who: dict[str, str]) -> dict[str, Any]:
    serial = unique_serial("R")
    r = node.client.post("/api/v1/weapons", json=weapon_body(serial), headers=who)
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "serial": serial}


def test_reads_are_served_by_the_standby(pair: Pair, node: Node, officers: dict[str, dict[str, str]]) -> None:
    w = _register(node, officers["a"])
    pair.wait_replayed()
    node.routing.health(refresh=True)

    for path in (f"/api/v1/weapons/{w['id']}", f"/api/v1/weapons/{w['id']}/history"):
        r = node.client.get(path, headers=officers["b"])
        assert r.status_code == 200, r.text
        assert node.served.last.in_recovery is True, node.routing.health()
        assert node.served.last.port == pair.standby.port
    r = node.client.get("/api/v1/weapons", params={"serial": w["serial"]}, headers=officers["b"])
    assert [x["id"] for x in r.json()["items"]] == [w["id"]]
    assert (node.served.last.in_recovery, node.served.last.port) == (True, pair.standby.port)
    # Fuzzy search too: with its last character unreadable (`?`) the serial still finds it, on the standby.
    misread = w["serial"][:-1] + "?"
    r = node.client.get("/api/v1/weapons", params={"serial": misread, "fuzzy": "true"}, headers=officers["b"])
    assert r.status_code == 200, r.text
    assert w["id"] in [x["id"] for x in r.json()["items"]]
    assert (node.served.last.in_recovery, node.served.last.port) == (True, pair.standby.port)

    # The writer too, once the standby has replayed past their write: the mark is forgotten.
    assert node.routing.pending_lsn("officer-a") is None
    assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["a"]).status_code == 200
    assert node.served.last.route.name != "primary"
    assert node.served.last.in_recovery is True


def test_writes_go_to_the_primary_and_reads_cannot_write(
    pair: Pair, node: Node, officers: dict[str, dict[str, str]]
) -> None:
    (before,) = pair.primary.sql("SELECT pg_current_wal_lsn()::text")[0]
    w = _register(node, officers["a"])
    assert pair.primary.sql(f"SELECT 1 FROM weapons WHERE id = '{w['id']}'", database="iti") == [(1,)]
    mark = node.routing.pending_lsn("officer-a")
    assert mark is not None
    assert pair.primary.sql(f"SELECT '{before}'::pg_lsn < '{format_lsn(mark)}'::pg_lsn")[0][0] is True

    # A read session is read-only wherever it lands: on the standby and on the primary (fallback) alike.
    pair.standby.sql("SELECT pg_wal_replay_pause()")
    try:
        _register(node, officers["a"])  # officer-a's reads now need the primary
        node.routing.health(refresh=True)
        for principal, server in ((None, node.routing.names[0]), ("officer-a", "primary")):
            conn, route = node.routing.connect_for_read(principal)
            assert route.name == server
            with conn, pytest.raises(DBAPIError, match="read-only transaction"):
                conn.exec_driver_sql("CREATE TABLE must_not_exist (i int)")
    finally:
        pair.standby.sql("SELECT pg_wal_replay_resume()")


def test_read_your_writes_while_the_standby_is_behind(
    pair: Pair, node: Node, officers: dict[str, dict[str, str]]
) -> None:
    pair.standby.sql("SELECT pg_wal_replay_pause()")
    try:
        w = _register(node, officers["a"])
        node.routing.health(refresh=True)
        assert node.routing.health()[0].ok  # paused, not broken: the standby is still used for others

        # The writer reads their own write at once, from the primary ...
        r = node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["a"])
        assert r.status_code == 200, r.text
        assert node.served.last.in_recovery is False
        assert node.served.last.port == pair.primary.port
        assert node.served.last.route.reason.startswith("read-your-writes")
        # ... which it needed: another officer, on the standby, does not see it yet.
        assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["b"]).status_code == 404
        assert node.served.last.in_recovery is True
    finally:
        pair.standby.sql("SELECT pg_wal_replay_resume()")

    pair.wait_replayed()
    node.routing.health(refresh=True)
    assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["a"]).status_code == 200
    assert node.served.last.in_recovery is True
    assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["b"]).status_code == 200


def test_ui_pages_read_from_the_standby_and_the_writer_sees_their_write(
    pair: Pair, node: Node, officers: dict[str, dict[str, str]]
) -> None:
    """The weapon page and search in the browser UI take the same routes; read-your-writes follows the
    officer across the API and the UI (the mark is the user's name, not the credential)."""
    with TestClient(node.client.app, base_url="https://testserver", follow_redirects=False) as browser:
        r = browser.post("/ui/login", data={"username": "officer-a", "password": PASSWORD, "next": "/ui/"})
        assert r.status_code == 303, r.text
        pair.standby.sql("SELECT pg_wal_replay_pause()")
        try:
            w = _register(node, officers["a"])  # written through the API ...
            node.routing.health(refresh=True)
            page = browser.get(f"/ui/weapons/{w['id']}")  # ... read back in the UI, from the primary
            assert page.status_code == 200
            assert w["serial"] in page.text
            assert (node.served.last.principal, node.served.last.in_recovery) == ("officer-a", False)
        finally:
            pair.standby.sql("SELECT pg_wal_replay_resume()")
        pair.wait_replayed()
        node.routing.health(refresh=True)
        page = browser.get("/ui/weapons", params={"serial": w["serial"]})
        assert page.status_code == 200
        assert w["id"] in page.text
        assert (node.served.last.in_recovery, node.served.last.port) == (True, pair.standby.port)


def test_a_standby_lagging_beyond_the_bound_is_skipped(
    pair: Pair, officers: dict[str, dict[str, str]]
) -> None:
    nodes = _node(pair, replica_max_lag_seconds=0.5, replica_check_seconds=0.0)
    node = next(nodes)
    old = _register(node, officers["a"])
    pair.wait_replayed()
    pair.standby.sql("SELECT pg_wal_replay_pause()")
    try:
        _register(node, officers["a"])  # WAL the standby receives but does not replay
        time.sleep(1.0)
        r = node.client.get(f"/api/v1/weapons/{old['id']}", headers=officers["b"])
        assert r.status_code == 200
        assert node.served.last.in_recovery is False
        assert node.served.last.route.reason == "no healthy replica"
        assert node.routing.health()[0].reason.startswith("lag ")
    finally:
        pair.standby.sql("SELECT pg_wal_replay_resume()")
        next(nodes, None)


def test_a_stopped_standby_makes_reads_fall_back(pair: Pair, officers: dict[str, dict[str, str]]) -> None:
    # Health answers cached for an hour: the fallback must come from the failed connection itself.
    nodes = _node(pair, replica_max_lag_seconds=300.0, replica_check_seconds=3600.0)
    node = next(nodes)
    try:
        w = _register(node, officers["a"])
        pair.wait_replayed()
        node.routing.health(refresh=True)
        assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["b"]).status_code == 200
        assert node.served.last.in_recovery is True  # a pooled connection to the standby now exists

        pair.standby.stop("fast")
        r = node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["b"])
        assert r.status_code == 200, r.text
        assert node.served.last.in_recovery is False
        assert node.served.last.route.reason == f"replica {node.routing.names[0]} unreachable"
        assert not node.routing.health()[0].ok
        assert node.routing.health(refresh=True)[0].reason.startswith("unreachable")
        r = node.client.get("/api/v1/weapons", params={"serial": w["serial"]}, headers=officers["b"])
        assert [x["id"] for x in r.json()["items"]] == [w["id"]]
        assert node.served.last.port == pair.primary.port
    finally:
        if not pair.standby.running():
            pair.standby.start()
        pair.wait_streaming()

    node.routing.health(refresh=True)
    assert node.client.get(f"/api/v1/weapons/{w['id']}", headers=officers["b"]).status_code == 200
    assert node.served.last.in_recovery is True
    next(nodes, None)
