"""HTTP delivery to peer nodes (httpx) and the background loop that drains the outbox.

Kept apart from `outbox.py` so the outbox logic can be driven by any `Send` (the tests use real HTTP, but
the logic does not know it).
"""

from __future__ import annotations

import logging
import threading
import uuid

import httpx
from sqlalchemy.orm import Session, sessionmaker

from registry.config import Settings
from tracing.federation.config import federation_config
from tracing.federation.outbox import Attempt, DeliveryReport, Outcome, Send, deliver_due

log = logging.getLogger(__name__)

USER_AGENT = "iti-registry-federation/1"


def make_client(settings: Settings) -> httpx.Client:
    # No redirects: a message goes to the URL in the directory or nowhere.
    return httpx.Client(
        timeout=federation_config(settings).timeout,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT},
    )


def http_sender(client: httpx.Client) -> Send:
    def send(attempt: Attempt) -> Outcome:
        try:
            response = client.post(
                attempt.url, content=attempt.data, headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            return Outcome(0, error=f"{type(exc).__name__}: {exc}"[:500])
        try:
            body = response.json()
        except ValueError:
            body = None
        return Outcome(response.status_code, body, None if body else response.text[:200])

    return send


def deliver_now(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    message_ids: list[uuid.UUID] | None = None,
    limit: int = 50,
) -> DeliveryReport:
    """One pass over the due messages (or the given ones) over real HTTP."""
    with make_client(settings) as client:
        return deliver_due(sessions, settings, http_sender(client), message_ids=message_ids, limit=limit)


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
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = deliver_now(self.sessions, self.settings)
                if report.delivered or report.failed:
                    log.info("federation.delivery.pass %s", report.as_dict())
            except Exception:  # a bad pass must not end the loop: the next one retries
                log.exception("federation.delivery.pass_failed")
            self.passes += 1
            self._stop.wait(self.interval)
