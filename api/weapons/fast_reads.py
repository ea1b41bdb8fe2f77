"""The fast path of the two hottest reads on a local SQLite file: `GET /api/v1/weapons/{id}` and the exact
search `GET /api/v1/weapons?serial=…`.

Why it exists: on this FastAPI (0.165) the framework alone costs more CPU per request than the whole bare
Starlette answer the issue compares with — routing walks every included router (about 20 µs to reach
/weapons), solving a route's dependencies and parameters costs about 10 µs each, and its middleware and
exit stacks another 30 µs — and the ORM session, its identity map and SQLAlchemy's per-statement work cost
more than SQLite's indexed look-ups themselves. docs/performance.md (HTTP API) has the profiles.

What it does: an ASGI middleware that answers only the plain successful case of those two requests and
hands everything else, unchanged, to the FastAPI routes (`api.weapons.router.get_weapon` and
`search_weapons`), which stay the API's definition (OpenAPI, validation, problem+json errors):

- authentication on every request, with the same credentials, order and 5-second cache as
  `api.auth.current_principal` (`api.auth.cached_principal`); a credential not in the cache (new, unknown,
  expired), or whose entry is due for its refresh, goes to the route, which checks it against the
  database and caches it;
- the same permission (`weapon.read`) checked against the caller's role; a role without it goes to the
  route, which answers 403;
- only a canonical lowercase UUID path, or a query of exactly one `serial` of at most 300 characters with
  letters or digits; anything else (fuzzy, filters, paging, odd forms) goes to the route;
- the rows of `registry.weapons.read_model` (the same SELECTs the route runs), encoded by orjson as the
  route's Pydantic models encode them (tests/api/test_weapons_fast_path.py compares the bytes for many
  weapons and validates them against the models); a missing weapon goes to the route (404 problem);
- any SQLite error goes to the route too, which maps it to its problem (503 when the database is busy).

It sits behind the per-credential rate limit (api/ratelimit.py, installed outermost by api/app.py), so
a flood is refused before it reads anything. Only when the app owns its SQLite engine in WAL mode and no read replica is configured (replicas are
PostgreSQL; injected test sessions are bound to a test transaction this path could not see). It reads in
the event loop, not a worker thread: a read of a local WAL database never waits for a writer, and its two
indexed statements take about 30 µs, less than the hand-off to a worker thread and back. A PostgreSQL read
is a network round trip and never runs here.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import uuid
from typing import Any
from urllib.parse import parse_qsl

import orjson
from sqlalchemy.pool import PoolProxiedConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import cached_principal
from api.db import AppContext
from registry.reference.service import text_key
from registry.users.roles import Permission, has_permission
from registry.weapons.read_model import SqliteReads

PREFIX = "/api/v1/weapons"
_WEAPON_PATH = re.compile(r"/api/v1/weapons/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")
SERIAL_MAX_LENGTH = 300  # as the route's `serial` query parameter
_JSON_HEADERS = [(b"content-type", b"application/json")]


def encode(doc: Any) -> bytes:
    """JSON as the API's Pydantic models write it: UUIDs as strings, UTC times with `Z`, UTF-8."""
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)


class FastReads:
    """The middleware. Decides at the first request whether the app's database allows it, and then keeps one
    connection of the app's engine for its reads: they all run in the event loop, one after another, so one
    connection serves them, its SQLite page cache stays warm (the pool hands its connections out in turn),
    and a read costs no pool checkout. A second event loop in another thread, if any, takes a connection
    from the pool for each read instead of waiting for this one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._reads: SqliteReads | None = None
        self._decided = False
        self._conn: PoolProxiedConnection | None = None
        self._own = threading.Lock()
        self.answered = 0  # requests this path answered itself (tests and profiles read it)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(PREFIX)
            or scope.get("root_path")
            or not await self._answer(scope, send)
        ):
            await self.app(scope, receive, send)

    def _enabled(self, ctx: AppContext) -> SqliteReads | None:
        if not self._decided:
            self._decided = True
            if ctx.owns_engine and ctx.routing is None and ctx.engine.dialect.name == "sqlite":
                conn = ctx.engine.raw_connection()
                mode = conn.driver_connection.execute("PRAGMA journal_mode").fetchone()
                if mode is not None and mode[0] == "wal":
                    self._conn, self._reads = conn, SqliteReads(ctx.engine.dialect)
                else:
                    conn.close()
        return self._reads

    def _read(self, ctx: AppContext, reads: SqliteReads, weapon_id: uuid.UUID | None, key: str) -> Any:
        """The document, the search page, or None for a missing weapon."""
        mine = self._own.acquire(blocking=False)
        conn = self._conn if mine and self._conn is not None else ctx.engine.raw_connection()
        try:
            dbapi: sqlite3.Connection = conn.driver_connection  # type: ignore[assignment]
            if weapon_id is not None:
                return reads.weapon_document(dbapi, weapon_id)
            return {"items": reads.weapons_by_mark(dbapi, key), "next": None}
        finally:
            if mine:
                self._own.release()
            if conn is not self._conn:
                conn.close()

    async def _answer(self, scope: Scope, send: Send) -> bool:
        """Answer the request if it is the plain successful case; False to leave it to the route."""
        path = scope["path"]
        weapon_id: uuid.UUID | None = None
        key = ""
        if path == PREFIX:
            query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
            if len(query) != 1 or query[0][0] != "serial" or len(query[0][1]) > SERIAL_MAX_LENGTH:
                return False
            key = text_key(query[0][1])
            if not key:
                return False
        elif (m := _WEAPON_PATH.fullmatch(path)) is not None:
            weapon_id = uuid.UUID(m.group(1))
        else:
            return False
        app = scope["app"]
        reads = self._enabled(app.state.ctx)
        if reads is None:
            return False
        authorization = api_key = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"x-api-key" and api_key is None:
                api_key = value.decode("latin-1")
        who = cached_principal(app, authorization=authorization, api_key=api_key)
        if who is None or not has_permission(who.role, Permission.WEAPON_READ):
            return False
        try:
            doc = self._read(app.state.ctx, reads, weapon_id, key)
        except sqlite3.Error:
            return False
        if doc is None:
            return False
        body = encode(doc)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", str(len(body)).encode()), *_JSON_HEADERS],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self.answered += 1
        return True
