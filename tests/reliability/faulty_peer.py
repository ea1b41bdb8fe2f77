"""A peer node that misbehaves on purpose: a small asyncio HTTP/1.1 server on a loopback port, in its own thread.

`mode` may be changed at any time and applies to the next request. In "proxy" mode it behaves: the request is
passed to `upstream` (a real node) and the node's answer returned as it is, so a drill can end by switching
the fake to good behaviour and watching the message arrive at the real receiver.

| mode | what the peer does |
|---|---|
| proxy | forwards to the real node and returns its answer |
| slow | reads the request, waits `delay` seconds (longer than the sender's deadline), then forwards it |
| hang | sends the headers of a 202 with a body length, then nothing until the client goes away |
| trickle | sends the headers of a 202 (no length: the body ends when the connection does), then one body byte every `trickle_every` seconds, for ever |
| trickle_headers | sends the status line, then one header byte every `trickle_every` seconds, for ever |
| drop | reads the headers and closes the connection (FIN) without reading the body or answering |
| reset | reads the headers and resets the connection (RST) |
| garbage | answers 200 with bytes that are not JSON |
| proxy_413 | answers 413 with an HTML page, as a reverse proxy in front of a node would |
| forged_receipt | answers 202 with a well-formed receipt for the message, signed by a key nobody knows |
| unsigned_receipt | answers 202 with a receipt that has no signature |
| huge | answers 202 and streams `huge_bytes` of JSON-looking body with no length (until the client closes) |
| huge_declared | answers 202 declaring a `huge_bytes` Content-Length and streams it |
| hold | reads the request, keeps it in `held`, never forwards it, holds the connection until the client goes |
| forward_then_hold | forwards to the real node (which stores it), never returns the answer |

With `only` set to a message id, the modes that read the request apply to that message alone and every other
message is proxied. Every request is recorded in `seen` (mode, path, body, bytes of answer written before the client went away).
Only 127.0.0.1 is ever bound or contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.tracing.federation.nodes import Node
from tests.tracing.federation.sqlite_nodes import migrated_sqlite
from tracing.federation import envelope, service

MAX_REQUEST = 1024 * 1024
FOREVER = 20.0  # "for ever" to a sender with a deadline of a few seconds; bounded so that no task leaks


@dataclass
class Seen:
    mode: str
    path: str
    body: bytes
    answered_bytes: int = 0
    upstream_status: int | None = None
    finished: bool = False


@dataclass
class FaultyPeer:
    upstream: str | None = None
    mode: str = "proxy"
    delay: float = 1.5
    trickle_every: float = 0.2
    huge_bytes: int = 256 * 1024 * 1024
    only: str | None = None  # if set, the fault applies to this message id only (modes that read the body)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    arrived: threading.Event = field(default_factory=threading.Event)  # a faulty request was read in full
    forwarded: threading.Event = field(default_factory=threading.Event)  # the real node answered a forward

    def __post_init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faulty-peer", daemon=True)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyPeer:
        self._thread.start()
        self._server = self._call(asyncio.start_server(self._handle, "127.0.0.1", self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        self._call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def wait_idle(self, timeout: float = 15) -> None:
        """Until every connection the peer accepted is finished (e.g. a slow forward done late)."""
        deadline = time.monotonic() + timeout
        while any(not s.finished for s in self.seen) or self._call(self._busy()):
            assert time.monotonic() < deadline, "the faulty peer is still busy"
            time.sleep(0.02)

    async def _busy(self) -> bool:
        return bool(self._tasks)

    # --- the server ---------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        seen = Seen(mode=self.mode, path="", body=b"")
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            seen.path = head.split(b" ", 2)[1].decode()
            self.seen.append(seen)
            if seen.mode == "drop":
                return  # closed in `finally` without a word
            if seen.mode == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            length = _content_length(head)
            seen.body = await reader.readexactly(min(length, MAX_REQUEST))
            if self.only is not None and _message_id(seen.body) != self.only:
                seen.mode = "proxy"  # the fault is for one message; the others pass
            if seen.mode != "proxy":
                self.arrived.set()
            await self._answer(seen, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away: that is what several drills are about
        finally:
            seen.finished = True
            with contextlib.suppress(Exception):
                writer.close()
            self._tasks.discard(task)

    async def _answer(self, seen: Seen, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = seen.mode
        if mode == "proxy":
            await self._write(seen, writer, *await self._forward(seen))
        elif mode == "slow":
            await asyncio.sleep(self.delay)
            await self._write(seen, writer, *await self._forward(seen))
        elif mode == "hang":
            await self._write_raw(seen, writer, _head(202, "application/json", length=1000))
            await _until_gone(reader)
        elif mode == "trickle":
            await self._write_raw(seen, writer, _head(202, "application/json", length=None))
            await self._trickle(seen, writer, b'{"receipt": "' + b"x" * 10_000)
        elif mode == "trickle_headers":
            await self._trickle(seen, writer, b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"x" * 10_000)
        elif mode == "garbage":
            await self._write(seen, writer, 200, "application/json", b"\x00\xff<html>not json{{")
        elif mode == "proxy_413":
            await self._write(seen, writer, 413, "text/html", b"<html><h1>413 Request Entity Too Large</h1>")
        elif mode in ("forged_receipt", "unsigned_receipt"):
            receipt = _stranger_receipt(seen.body, signed=mode == "forged_receipt")
            body = orjson.dumps({"message_id": receipt["message_id"], "receipt": receipt})
            await self._write(seen, writer, 202, "application/json", body)
        elif mode in ("huge", "huge_declared"):
            length = self.huge_bytes if mode == "huge_declared" else None
            await self._write_raw(seen, writer, _head(202, "application/json", length=length))
            await self._flood(seen, writer)
        elif mode == "hold":
            await _until_gone(reader)
        elif mode == "forward_then_hold":
            await self._forward(seen)
            self.forwarded.set()
            await _until_gone(reader)
        else:
            raise ValueError(f"unknown mode {mode}")

    async def _forward(self, seen: Seen) -> tuple[int, str, bytes]:
        assert self.upstream is not None, "this mode needs a real node behind the peer"
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(
                self.upstream + seen.path, content=seen.body, headers={"Content-Type": "application/json"}
            )
        seen.upstream_status = r.status_code
        return r.status_code, r.headers.get("content-type", "application/json"), r.content

    async def _write(
        self, seen: Seen, writer: asyncio.StreamWriter, status: int, content_type: str, body: bytes
    ) -> None:
        await self._write_raw(seen, writer, _head(status, content_type, length=len(body)) + body)

    async def _write_raw(self, seen: Seen, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        seen.answered_bytes += len(data)

    async def _trickle(self, seen: Seen, writer: asyncio.StreamWriter, data: bytes) -> None:
        started = time.monotonic()
        for i in range(len(data)):
            if time.monotonic() - started > FOREVER:
                return
            await self._write_raw(seen, writer, data[i : i + 1])
            await asyncio.sleep(self.trickle_every)

    async def _flood(self, seen: Seen, writer: asyncio.StreamWriter) -> None:
        chunk = b'{"receipt": "' + b"x" * (64 * 1024 - 13)
        while seen.answered_bytes < self.huge_bytes:
            await self._write_raw(seen, writer, chunk)


def _message_id(body: bytes) -> str | None:
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return raw.get("id") if isinstance(raw, dict) else None


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def _head(status: int, content_type: str, *, length: int | None) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Type: {content_type}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _until_gone(reader: asyncio.StreamReader) -> None:
    """Hold the connection until the client closes it (or is killed: the kernel closes it for it)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(FOREVER):
            while await reader.read(4096):
                pass


def _stranger_receipt(data: bytes, *, signed: bool) -> dict[str, Any]:
    """A receipt of the right shape for the message that came in, from a key the sender does not know."""
    raw = orjson.loads(data)
    key = Ed25519PrivateKey.generate()
    receipt: dict[str, Any] = {
        "v": envelope.VERSION,
        "type": "receipt",
        "message_id": raw["id"],
        "content_digest": envelope.content_digest(raw),
        "from_country": raw["to_country"],
        "to_country": raw["from_country"],
        "received_at": raw["sent_at"],
        "key_id": envelope.key_id(envelope.public_bytes(key)),
    }
    if signed:
        receipt["signature"] = envelope.b64url(
            key.sign(envelope.RECEIPT_PREFIX + envelope.canonical(receipt))
        )
    return receipt


def sqlite_url(tmp_path_factory: pytest.TempPathFactory, path: Path) -> str:
    """A SQLite file already at the head revision (a copy of the session's migrated template)."""
    shutil.copyfile(migrated_sqlite(tmp_path_factory), path)
    return f"sqlite:///{path}"


def route_through(sender: Node, receiver: Node, url: str) -> None:
    """The sender's directory holds the receiver's key at `url` (the faulty peer in front of it); the
    receiver knows the sender's key as usual."""
    with receiver.tx() as session:
        entry = service.node_entry(session, receiver.settings)
    with sender.tx() as session:
        service.add_peer(
            session,
            actor="test-setup",
            data=service.PeerInput(
                country=receiver.country,
                url=url,
                public_key=entry["public_key"],
                poc_name=entry["poc_name"],
                contact=entry["contact"],
            ),
        )
    document = sender.entry_document()
    with receiver.tx() as session:
        service.import_directory(session, actor="test-setup", document=document, fingerprint=sender.key_id())
