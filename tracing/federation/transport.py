"""HTTP delivery to peer nodes and the background loop that drains the outbox.

Kept apart from `outbox.py` so the outbox logic can be driven by any `Send` (the tests use real HTTP, but
the logic does not know it).

A peer is outside our control and may be slow, broken or hostile, so one attempt is bounded on every side
(docs/reliability.md, "Hostile and broken peers"):

- time: one deadline for the whole attempt (connect, send, wait, read) of `ITI_FEDERATION_TIMEOUT` seconds.
  httpx's own timeouts are per network operation, so a peer trickling a byte just inside each read timeout
  (or sending its headers a byte at a time) would hold a purely per-read client for hours; the request runs
  under `asyncio.timeout`, which cancels it wherever it is;
- size: at most `MAX_RESPONSE_BYTES` of the answer are read (a receipt is under 1 KiB); a larger declared
  length is refused before reading, a longer stream is cut off at the cap; compressed answers are not asked
  for (`Accept-Encoding: identity`) and refused if sent anyway, so no decompression bomb is ever expanded;
- no redirects: a message goes to the URL in the directory or nowhere.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TypeVar

import httpx
import orjson
from sqlalchemy.orm import Session, sessionmaker

from registry.config import Settings
from tracing.federation.config import federation_config
from tracing.federation.outbox import Attempt, DeliveryReport, Outcome, Send, deliver_due

log = logging.getLogger(__name__)

USER_AGENT = "iti-registry-federation/1"
# The most of a peer's answer that is read. A signed receipt, or a problem+json that carries one, is under
# 2 KiB; 64 KiB leaves room for a verbose error page without letting a peer make us buffer megabytes.
MAX_RESPONSE_BYTES = 64 * 1024
_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
T = TypeVar("T")


class PeerClient:
    """Sends attempts to peers over HTTP with a hard deadline and a read cap (the module docstring).

    Synchronous to its callers (the delivery thread, the CLI, a sync route): each send runs on a private
    event loop, so cancellation at the deadline works wherever the request is, with no thread left behind.
    Use as a context manager; keep-alive connections are reused within it."""

    def __init__(self, *, timeout: float, max_response_bytes: int = MAX_RESPONSE_BYTES) -> None:
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self._runner = asyncio.Runner()
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}
        )

    @classmethod
    def for_settings(cls, settings: Settings) -> PeerClient:
        return cls(timeout=federation_config(settings).timeout)

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        def close() -> None:
            try:
                self._runner.run(self._client.aclose())
            finally:
                self._runner.close()

        _outside_running_loop(close)

    def send(self, attempt: Attempt) -> Outcome:
        return _outside_running_loop(lambda: self._runner.run(self._send(attempt)))

    async def _send(self, attempt: Attempt) -> Outcome:
        try:
            async with asyncio.timeout(self.timeout):
                return await self._post(attempt)
        except TimeoutError:
            return Outcome(0, error=f"no complete answer within the {self.timeout:g} s deadline")
        except httpx.HTTPError as exc:
            return Outcome(0, error=f"{type(exc).__name__}: {exc}"[:500])

    async def _post(self, attempt: Attempt) -> Outcome:
        cap = self.max_response_bytes
        async with self._client.stream(
            "POST", attempt.url, content=attempt.data, headers=_HEADERS
        ) as response:
            status = response.status_code
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                return Outcome(status, error=f"answer of {declared} bytes not read: the limit is {cap}")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                return Outcome(status, error=f"answer compressed ({encoding[:40]}) though identity was asked")
            data = bytearray()
            async for chunk in response.aiter_raw():
                data += chunk
                if len(data) > cap:
                    return Outcome(status, error=f"answer longer than {cap} bytes: not read further")
        return _outcome(status, bytes(data))


def _outside_running_loop(fn: Callable[[], T]) -> T:
    """`fn()`, which runs the private loop. From a thread whose own event loop is running (an async caller,
    or a test driving a browser through Playwright's sync API) asyncio refuses to start another loop there,
    so `fn` then runs on a short-lived thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="peer-client") as pool:
        return pool.submit(fn).result()


def _outcome(status: int, data: bytes) -> Outcome:
    try:
        body = orjson.loads(data)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict):
        return Outcome(status, body)
    text = data[:200].decode("utf-8", "replace")
    return Outcome(status, None, f"answer is not a JSON object: {text!r}" if data else "empty answer")


def http_sender(client: PeerClient | httpx.Client) -> Send:
    """The `Send` of a `PeerClient`. A plain `httpx.Client` (tests that bring their own) is given the same
    treatment: its read timeout becomes the deadline of a `PeerClient` made for the one attempt."""
    if isinstance(client, PeerClient):
        return client.send
    timeout = client.timeout.read or 10.0

    def send(attempt: Attempt) -> Outcome:
        with PeerClient(timeout=timeout) as peer_client:
            return peer_client.send(attempt)

    return send


def deliver_now(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    message_ids: list[uuid.UUID] | None = None,
    limit: int = 50,
    stop: threading.Event | None = None,
) -> DeliveryReport:
    """One pass over the due messages (or the given ones) over real HTTP."""
    with PeerClient.for_settings(settings) as client:
        return deliver_due(
            sessions,
            settings,
            client.send,
            message_ids=message_ids,
            limit=limit,
            should_stop=stop.is_set if stop is not None else None,
        )


class DeliveryLoop:
    """Drains the outbox every `interval` seconds in a daemon thread until `stop()`."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, interval: float) -> None:
        self.sessions = sessions
        self.settings = settings
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="federation-delivery", daemon=True)
        self.passes = 0

    def start(self) -> None:
        log.info("federation.delivery.started interval=%s", self.interval)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Ends the loop after the attempt in progress (itself bounded by the deadline)."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = deliver_now(self.sessions, self.settings, stop=self._stop)
                if report.delivered or report.failed:
                    log.info("federation.delivery.pass %s", report.as_dict())
            except Exception:  # a bad pass must not end the loop: the next one retries
                log.exception("federation.delivery.pass_failed")
            self.passes += 1
            self._stop.wait(self.interval)
