"""`/api/v1/federation`: the inbound endpoint for peer nodes, this node's public entry, and the PoC views.

`POST /messages` is authenticated by the message's own Ed25519 signature (tracing/federation/envelope.py),
not by a user login: the caller is a node, and the signature proves which one. `GET /node` is open like
`/healthz`: it publishes what every peer needs to know anyway (country, URL, public key). Everything else
needs a login with the permission named on the route.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.concurrency import run_in_threadpool

from api.auth import require
from api.db import Context, DbSession
from api.errors import problem, problem_responses
from api.federation.schemas import (
    Accepted,
    DeliveryOut,
    InboxDetail,
    InboxOut,
    NodeEntry,
    OutboxDetail,
    OutboxOut,
    PeerIn,
    PeerOut,
)
from api.ratelimit import federation_limit
from registry.db import WRITES
from registry.users.roles import Permission
from registry.users.service import Principal
from tracing.federation import envelope, inbox, outbox, service
from tracing.federation.config import federation_config
from tracing.federation.transport import DeliveryLoop, deliver_now

log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the outbox delivery loop with the app (ITI_FEDERATION_DELIVERY_INTERVAL seconds, 0 = off)."""
    ctx = app.state.ctx
    interval = federation_config(ctx.settings).delivery_interval
    loop = DeliveryLoop(ctx.sessions, ctx.settings, interval) if interval > 0 else None
    if loop is not None:
        loop.start()
    app.state.federation_loop = loop
    try:
        yield
    finally:
        if loop is not None:
            loop.stop()


api_router = APIRouter(prefix="/api/v1/federation", tags=["federation"])
# The wire path named in issue 4 (`POST /federation/v1/messages`), for peers configured with it: the same
# endpoint, outside the user API's version prefix.
wire_router = APIRouter(prefix="/federation/v1", tags=["federation"])

Reader = Annotated[Principal, Depends(require(Permission.TRACE_READ))]
Writer = Annotated[Principal, Depends(require(Permission.TRACE_WRITE))]
Admin = Annotated[Principal, Depends(require(Permission.USER_ADMIN))]

# Rejection reason -> HTTP status. 401: we cannot tell who sent it, or not now (stale). 409: seen before.
STATUS_BY_REASON = {
    envelope.MALFORMED: 400,
    envelope.UNSUPPORTED_VERSION: 400,
    envelope.WRONG_RECIPIENT: 400,
    inbox.UNSUPPORTED_KIND: 400,
    envelope.OVERSIZED: 413,
    envelope.UNKNOWN_SENDER: 401,
    envelope.UNKNOWN_KEY: 401,
    envelope.BAD_SIGNATURE: 401,
    envelope.CLOCK_SKEW: 401,
    envelope.REPLAYED_NONCE: 409,
    envelope.ID_REUSED: 409,
    inbox.NOT_INITIALISED: 404,
    inbox.REFUSED_BY_HANDLER: 422,
}
TITLES = {
    400: "Message refused",
    401: "Message not authenticated",
    409: "Message seen before",
    413: "Message too large",
    404: "Not a federation node",
    422: "Message refused by this node's records",
}


_RETRIES = 8


# What is read and thrown away of an oversized message so that its sender still gets the 413: a node that
# sends a little too much learns why its message is refused (and stops retrying it). A sender pouring in more
# than this is cut off: the answer closes the connection, and may be lost to a reset, which is its problem.
_DRAIN_BYTES = 1024 * 1024


async def _read_limited(request: Request, limit: int) -> tuple[bytes | None, bool]:
    """(the body, True), or (None, drained) when it exceeds `limit`: `drained` when the rest of it, at most
    `_DRAIN_BYTES`, was read and discarded, so the connection may carry on. Never buffers more than `limit`
    plus one chunk, never reads more than `limit + _DRAIN_BYTES` plus one chunk."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _DRAIN_BYTES:
        return None, False
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + _DRAIN_BYTES:
            return None, False
        if size <= limit:
            chunks.append(chunk)
    return (b"".join(chunks), True) if size <= limit else (None, True)


def _rejected(
    request: Request, exc: envelope.Rejected, headers: dict[str, str] | None = None
) -> JSONResponse:
    code = STATUS_BY_REASON.get(exc.reason, 400)
    fields = [{"field": exc.field, "code": exc.reason, "message": exc.message}] if exc.field else []
    return problem(
        request,
        status=code,
        title=TITLES.get(code, "Message refused"),
        code=exc.reason,
        detail=exc.message,
        fields=fields,
        headers=headers,
    )


INBOUND: dict[str, Any] = {
    "status_code": status.HTTP_202_ACCEPTED,
    "summary": "Inbound signed message from a peer node (authenticated by its Ed25519 signature)",
    "responses": problem_responses(400, 401, 404, 409, 413, 422, 429),
    "dependencies": [Depends(federation_limit)],  # per sending address, before the body is read
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object", "description": "docs/federation.md"}}
            },
        }
    },
}


@api_router.post("/messages", **INBOUND)
@wire_router.post("/messages", operation_id="receive_message_wire", **INBOUND)
async def receive_message(request: Request, ctx: Context) -> Any:
    data, drained = await _read_limited(request, envelope.MAX_MESSAGE_BYTES)
    if data is None:
        exc = envelope.Rejected(envelope.OVERSIZED, f"the message exceeds {envelope.MAX_MESSAGE_BYTES} bytes")
        log.warning("federation.inbox.rejected reason=%s drained=%s", exc.reason, drained)
        # Not drained: close the connection with the answer. On a kept-alive connection the server would
        # otherwise go on reading (and discarding) the rest of the body, as much as the sender cares to pour.
        return _rejected(request, exc, headers=None if drained else {"Connection": "close"})
    return await run_in_threadpool(_store, request, ctx, data)


def _store(request: Request, ctx: Any, data: bytes) -> Any:
    # The route owns its transaction. A concurrent delivery of the same message id loses the insert race
    # (IntegrityError on PostgreSQL; "database is locked" when SQLite cannot upgrade a stale read) and is
    # answered, in a fresh transaction, as the duplicate it is. Receiving is idempotent, so retrying is safe.
    for attempt in range(1, _RETRIES + 1):
        try:
            with ctx.sessions(execution_options=WRITES) as session, session.begin():
                received = inbox.receive(session, ctx.settings, data)
            break
        except envelope.Rejected as exc:
            return _rejected(request, exc)
        except (IntegrityError, OperationalError) as exc:
            if attempt == _RETRIES or (isinstance(exc, OperationalError) and "locked" not in str(exc.orig)):
                raise
            time.sleep(0.05 * attempt)
    if received.duplicate:
        return problem(
            request,
            status=409,
            title="Message seen before",
            code=envelope.DUPLICATE,
            detail="this message was already received; nothing was done again. The original receipt is attached",
            extra={"receipt": received.receipt, "message_id": str(received.message_id)},
        )
    return JSONResponse(
        Accepted(message_id=received.message_id, receipt=received.receipt).model_dump(mode="json"),
        status_code=202,
    )


@api_router.get(
    "/node",
    summary="This node's public directory entry (self-signed); open",
    responses=problem_responses(404),
)
def node_entry(session: DbSession, ctx: Context) -> NodeEntry:
    return NodeEntry(**service.node_entry(session, ctx.settings))


@api_router.get("/peers", summary="The directory of peer PoCs", responses=problem_responses(401, 403))
def list_peers(session: DbSession, who: Reader, include_removed: bool = False) -> list[PeerOut]:
    return [PeerOut.of(p) for p in service.list_peers(session, include_removed=include_removed)]


@api_router.post(
    "/peers",
    status_code=201,
    summary="Add a peer PoC to the directory",
    responses=problem_responses(401, 403, 409, 422),
)
def add_peer(body: PeerIn, session: DbSession, who: Admin) -> PeerOut:
    peer = service.add_peer(session, actor=who.username, data=service.PeerInput(**body.model_dump()))
    return PeerOut.of(peer)


@api_router.delete(
    "/peers/{peer_id}",
    summary="Remove a peer PoC (its key is kept for the record)",
    responses=problem_responses(401, 403, 404, 409),
)
def remove_peer(peer_id: uuid.UUID, session: DbSession, who: Admin) -> PeerOut:
    return PeerOut.of(service.remove_peer(session, actor=who.username, ref=str(peer_id)))


@api_router.get(
    "/outbox",
    summary="Messages to other states and their delivery",
    responses=problem_responses(401, 403, 422),
)
def list_outbox(
    session: DbSession,
    who: Reader,
    status: Annotated[str | None, Query(max_length=16)] = None,
    to_country: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[OutboxOut]:
    rows = outbox.list_outbox(session, status=status, to_country=to_country, limit=limit)
    return [OutboxOut.model_validate(r) for r in rows]


@api_router.get(
    "/outbox/{message_id}",
    summary="One outbound message with its body and receipt",
    responses=problem_responses(401, 403, 404),
)
def get_outbox(message_id: uuid.UUID, session: DbSession, who: Reader) -> OutboxDetail:
    return OutboxDetail.model_validate(outbox.get_outbox(session, message_id))


@api_router.post(
    "/outbox/{message_id}/retry",
    summary="Send a failed message again",
    responses=problem_responses(401, 403, 404, 422),
)
def retry_outbox(message_id: uuid.UUID, session: DbSession, who: Writer) -> OutboxOut:
    return OutboxOut.model_validate(outbox.retry(session, actor=who.username, message_id=message_id))


@api_router.post(
    "/outbox/deliver", summary="Deliver the due messages now", responses=problem_responses(401, 403)
)
def deliver(ctx: Context, who: Writer) -> DeliveryOut:
    report = deliver_now(ctx.sessions, ctx.settings)
    return DeliveryOut(**report.__dict__)


@api_router.get(
    "/inbox", summary="Messages received from other states", responses=problem_responses(401, 403, 422)
)
def list_inbox(
    session: DbSession,
    who: Reader,
    kind: Annotated[str | None, Query(max_length=64)] = None,
    from_country: Annotated[str | None, Query(max_length=2)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[InboxOut]:
    rows = inbox.list_inbox(session, kind=kind, from_country=from_country, limit=limit)
    return [InboxOut.model_validate(r) for r in rows]


@api_router.get(
    "/inbox/{message_id}",
    summary="One inbound message as signed, with our receipt",
    responses=problem_responses(401, 403, 404),
)
def get_inbox(message_id: uuid.UUID, session: DbSession, who: Reader) -> InboxDetail:
    row = inbox.get_inbox(session, message_id)
    data = {k: getattr(row, k) for k in InboxOut.model_fields}
    return InboxDetail(envelope=orjson.loads(row.envelope), receipt=row.receipt, **data)


router = APIRouter(lifespan=lifespan)
router.include_router(api_router)
router.include_router(wire_router)
