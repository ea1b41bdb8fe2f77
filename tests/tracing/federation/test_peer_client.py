"""The peer client is synchronous to its callers, including a caller whose own event loop is running (an
async route, or a test driving a browser with Playwright's sync API)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from concurrent.futures import ThreadPoolExecutor

from tracing.federation.outbox import Attempt
from tracing.federation.transport import PeerClient


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attempt() -> Attempt:
    return Attempt(
        message_id=uuid.uuid4(),
        attempts=1,
        url=f"http://127.0.0.1:{_closed_port()}/api/v1/federation/messages",
        peer_key=b"\x00" * 32,
        peer_country="UG",
        data=b"{}",
        content_digest="",
    )


def test_send_from_a_plain_thread() -> None:
    with PeerClient(timeout=2) as client:
        out = client.send(_attempt())
    assert out.status == 0
    assert "ConnectError" in (out.error or "")


def test_send_and_close_from_inside_a_running_event_loop() -> None:
    async def caller() -> tuple[int, str | None, int, str | None]:
        with PeerClient(timeout=2) as client:  # closes inside the running loop too
            first = client.send(_attempt())
            second = client.send(_attempt())  # the same client, its connections and loop, again
        return first.status, first.error, second.status, second.error

    # On a thread of its own: the test run's main thread may already have a loop running (Playwright's).
    with ThreadPoolExecutor(max_workers=1) as pool:
        s1, e1, s2, e2 = pool.submit(asyncio.run, caller()).result()
    assert (s1, s2) == (0, 0)
    assert "ConnectError" in (e1 or "")
    assert "ConnectError" in (e2 or "")
