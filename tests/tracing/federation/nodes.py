"""Real national nodes for the federation tests: each its own database (SQLite file or PostgreSQL scratch
database), its own key and var folder, its own uvicorn server on a loopback port, spoken to over real HTTP."""

from __future__ import annotations

import dataclasses
import functools
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import uvicorn
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from registry import migrate
from registry.config import Settings, get_settings
from registry.db import make_engine, make_sessionmaker
from registry.errors import ValidationError
from tracing.federation import envelope, inbox, keys, outbox, service
from tracing.federation.models import InboxMessage, OutboxMessage
from tracing.federation.transport import deliver_now

# Every call of a test handler: (receiving country, message id, kind). Handlers run in the server threads of
# this process, so the tests see exactly how often each node dispatched each message.
CALLS: list[tuple[str, uuid.UUID, str]] = []
_CALLS_LOCK = threading.Lock()


@inbox.handler("test.echo")
def _echo(session: Session, message: inbox.InboundMessage) -> None:
    """Answers in the same transaction, as the trace workflow's automatic acknowledgement does."""
    with _CALLS_LOCK:
        CALLS.append((message.to_country, message.id, message.kind))
    outbox.enqueue(
        session,
        to_country=message.from_country,
        kind="test.reply",
        body={"echo": message.body},
        in_reply_to=message.id,
    )


@inbox.handler("test.reply")
def _reply(session: Session, message: inbox.InboundMessage) -> None:
    with _CALLS_LOCK:
        CALLS.append((message.to_country, message.id, message.kind))


@inbox.handler("test.refuse")
def _refuse(session: Session, message: inbox.InboundMessage) -> None:
    """Writes, then refuses: the refusal must roll the writes back with the stored message."""
    with _CALLS_LOCK:
        CALLS.append((message.to_country, message.id, message.kind))
    outbox.enqueue(
        session, to_country=message.from_country, kind="test.reply", body={}, in_reply_to=message.id
    )
    raise ValidationError("no such trace request", field="request_id")


DELIVERED: list[uuid.UUID] = []


@outbox.on_delivered
def _delivered(session: Session, message: OutboxMessage) -> None:
    with _CALLS_LOCK:
        DELIVERED.append(message.id)
    if message.kind == "test.reply" and message.body.get("explode"):
        raise RuntimeError("a consumer's bug")


def calls(country: str, message_id: uuid.UUID) -> int:
    with _CALLS_LOCK:
        return sum(1 for c, mid, _ in CALLS if c == country and mid == message_id)


@dataclass
class Node:
    country: str
    settings: Settings
    engine: Engine
    port: int
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    sock: socket.socket | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sessions(self) -> sessionmaker[Session]:
        return make_sessionmaker(self.engine)

    @contextmanager
    def tx(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    def start(self) -> None:
        """Serve on the node's port (the same port after a restart, so the peers' directories stay right)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        app = create_app(self.settings, engine=self.engine)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        self.sock = sock
        deadline = time.monotonic() + 15
        while not self.server.started:
            assert time.monotonic() < deadline, f"node {self.country} did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=15)
        if self.sock is not None:
            self.sock.close()
        self.server = self.thread = self.sock = None

    def send(self, to: Node, body: dict[str, Any], kind: str = "test.echo") -> uuid.UUID:
        with self.tx() as session:
            return outbox.enqueue(session, to_country=to.country, kind=kind, body=body)

    def deliver(self, message_ids: list[uuid.UUID] | None = None) -> outbox.DeliveryReport:
        return deliver_now(self.sessions, self.settings, message_ids=message_ids)

    def outbox_row(self, message_id: uuid.UUID) -> OutboxMessage:
        with self.sessions() as session:
            row = session.get(OutboxMessage, message_id)
            assert row is not None
            return row

    def inbox_count(self, message_id: uuid.UUID | None = None) -> int:
        with self.sessions() as session:
            stmt = select(func.count()).select_from(InboxMessage)
            if message_id is not None:
                stmt = stmt.where(InboxMessage.id == message_id)
            return int(session.scalar(stmt) or 0)

    def entry_document(self) -> dict[str, Any]:
        with self.tx() as session:
            return service.export_directory(session, self.settings)

    def key_id(self) -> str:
        with self.sessions() as session:
            return service.get_node(session).key_id


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_node(country: str, url: str, var: Path, **extra: str) -> Node:
    """A migrated database with this node's identity; the server is not started yet."""
    migrate.upgrade(url)
    engine = make_engine(url)
    settings = dataclasses.replace(
        get_settings(),
        database_url=url,
        var_dir=var,
        node_country=None,
        extra={
            "ITI_FEDERATION_KEY_PASSPHRASE": f"passphrase of {country}",
            "ITI_FEDERATION_DELIVERY_INTERVAL": "0",
            "ITI_FEDERATION_TIMEOUT": "5",
            **extra,
        },
    )
    node = Node(country=country, settings=settings, engine=engine, port=free_port())
    with node.tx() as session:
        service.init_node(
            session,
            settings,
            actor="test-setup",
            country=country,
            poc_name=f"PoC {country}",
            contact=f"poc@{country.lower()}.example",
            url=node.url,
        )
    return node


def introduce(a: Node, b: Node) -> None:
    """Each imports the other's signed entry, trusting it by the fingerprint (as read out by phone)."""
    for src, dst in ((a, b), (b, a)):
        document = src.entry_document()
        with dst.tx() as session:
            service.import_directory(session, actor="test-setup", document=document, fingerprint=src.key_id())


def forget_keys() -> None:
    """What a process restart does to the decrypted node keys."""
    keys.forget_loaded_keys()


def sign_as(node: Node, **fields: Any) -> envelope.Envelope:
    return envelope.sign(keys.load_node_key(node.settings), **fields)


SCHEMA_FILE = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "federation-envelope-v1.schema.json"


@functools.cache
def validators() -> dict[str, Any]:
    schema = orjson.loads(SCHEMA_FILE.read_bytes())
    out = {"envelope": jsonschema_rs.validator_for(schema)}
    for name in ("receipt", "directory_entry", "directory"):
        out[name] = jsonschema_rs.validator_for({"$ref": f"#/$defs/{name}", "$defs": schema["$defs"]})
    return out


def check_schema(name: str, instance: Any) -> None:
    validators()[name].validate(instance)


def check_exchanged_messages(node: Node) -> int:
    """Every envelope and receipt this node sent or received is valid under the published JSON Schema."""
    checked = 0
    with node.sessions() as session:
        for sent in session.scalars(select(OutboxMessage)):
            if sent.envelope is not None:
                check_schema("envelope", orjson.loads(sent.envelope))
                checked += 1
            if sent.receipt is not None:
                check_schema("receipt", sent.receipt)
        for got in session.scalars(select(InboxMessage)):
            check_schema("envelope", orjson.loads(got.envelope))
            check_schema("receipt", got.receipt)
            checked += 1
    return checked
