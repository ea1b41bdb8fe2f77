"""Read replicas: which PostgreSQL server answers a read, with read-your-writes for the one who just wrote.

Writes always go to the primary (`ITI_DATABASE_URL`). Work that only reads (searches, weapon pages,
histories, statistics) may go to a streaming replica (`ITI_DATABASE_REPLICA_URLS`), which is a hot standby
kept current by PostgreSQL's own WAL streaming. A replica is used only while it is healthy:

- it answers and is in recovery (`pg_is_in_recovery()`; a promoted replica is no longer a replica),
- its WAL receiver is streaming from a primary (`pg_stat_wal_receiver`), and
- it is at most `max_lag_seconds` behind (`now() - pg_last_xact_replay_timestamp()` while it has received
  WAL it has not replayed yet; zero when it has replayed everything it received).

Otherwise the read goes to the primary. Health is probed at most every `check_seconds` per process, from
the thread that asks, so a read costs no extra query while the cached answer is fresh.

Read-your-writes is exact, by log position: after a principal's transaction commits on the primary, the
edge calls `note_write(principal, commit_lsn(...))` with `pg_current_wal_lsn()` read after the commit. Until
a replica is known to have replayed past that position (`pg_last_wal_replay_lsn()`), that principal's reads
go to the primary. Nobody else waits for anything. The marks live in this process: several server processes
behind a load balancer each know only the writes they committed themselves (see docs/scaling.md).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from registry.config import Settings

log = logging.getLogger(__name__)

PROBE = text(
    """
    SELECT pg_is_in_recovery(),
           pg_last_wal_replay_lsn()::text,
           CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0.0
                ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END,
           EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')
    """
)
MAX_MARKS = 100_000  # principals remembered with a pending write; the oldest is dropped first


def parse_lsn(value: str) -> int:
    """`16/B374D848` (PostgreSQL's pg_lsn text) as a 64-bit position that compares as a number."""
    high, _, low = value.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaHealth:
    """What the last probe of one replica found. `reason` says why it is or is not used."""

    name: str
    ok: bool
    reason: str
    replay_lsn: int | None = None
    lag_seconds: float | None = None
    checked_at: float = 0.0  # time.monotonic()


@dataclass(frozen=True)
class Route:
    """Where one read goes: a replica's index and name, or the primary (`replica is None`) and why."""

    replica: int | None
    name: str
    reason: str


def probe(engine: Engine, *, name: str, max_lag_seconds: float) -> ReplicaHealth:
    """One query on the replica; any connection error makes it unhealthy (reads fall back to the primary)."""
    now = time.monotonic()
    try:
        with engine.connect() as conn:
            in_recovery, replay, lag, streaming = conn.execute(PROBE).one()
    except DBAPIError as exc:
        return ReplicaHealth(name, False, f"unreachable: {type(exc.orig).__name__}", checked_at=now)
    replay_lsn = parse_lsn(replay) if replay else None
    if not in_recovery:
        return ReplicaHealth(name, False, "not in recovery (promoted?)", replay_lsn, lag, now)
    if not streaming:
        return ReplicaHealth(name, False, "WAL receiver not streaming", replay_lsn, lag, now)
    if lag is None or lag > max_lag_seconds:
        reason = f"lag {lag:.1f} s > {max_lag_seconds:g} s" if lag is not None else "nothing replayed yet"
        return ReplicaHealth(name, False, reason, replay_lsn, lag, now)
    return ReplicaHealth(name, True, "streaming", replay_lsn, lag, now)


def commit_lsn(session: Session) -> int:
    """The primary's WAL position right after a commit: at or past the commit record just written."""
    return parse_lsn(session.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one())


def wrote(session: Session) -> bool:
    """Whether the session's open transaction wrote anything (PostgreSQL assigns an xid at the first write)."""
    return session.execute(text("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")).scalar_one() is True


def replica_name(url: str) -> str:
    """host:port/db of a replica URL, without credentials, for logs and health reports."""
    u = make_url(url)
    host = u.query.get("host") or u.host or "local"
    return f"{host}:{u.port or 5432}/{u.database}" if u.host else f"{host}/{u.database}"


class ReadRouting:
    """Engines for the primary and the replicas, the replicas' last known health and the pending writes."""

    def __init__(
        self,
        primary: Engine,
        replica_urls: Sequence[str],
        *,
        max_lag_seconds: float = 10.0,
        check_seconds: float = 1.0,
        connect_timeout: int = 2,
    ) -> None:
        self.primary = primary
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        # pre_ping: a replica stopped since the connection was pooled is found at checkout, so the read can
        # still go to the primary instead of failing halfway.
        self.replicas: list[Engine] = [
            create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": connect_timeout})
            for url in replica_urls
        ]
        self.names = [replica_name(url) for url in replica_urls]
        self._health = [ReplicaHealth(n, False, "not probed yet") for n in self.names]
        self._marks: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()
        self._probing = threading.Lock()
        self._turn = itertools.count()

    # Writes -------------------------------------------------------------------------------------------

    def note_write(self, principal: str, lsn: int) -> None:
        """`principal` committed a write ending at or before `lsn`: their reads wait for a replica past it."""
        with self._lock:
            self._marks[principal] = max(lsn, self._marks.get(principal, 0))
            self._marks.move_to_end(principal)
            while len(self._marks) > MAX_MARKS:
                self._marks.popitem(last=False)

    def pending_lsn(self, principal: str | None) -> int | None:
        if principal is None:
            return None
        with self._lock:
            return self._marks.get(principal)

    # Health -------------------------------------------------------------------------------------------

    def health(self, *, refresh: bool = False) -> list[ReplicaHealth]:
        """The replicas' health, probed again if the last probe is older than `check_seconds` (or now)."""
        stale = any(time.monotonic() - h.checked_at >= self.check_seconds for h in self._health)
        # One thread probes; the others use the answer they have rather than queue behind it.
        if (refresh or stale) and self._probing.acquire(blocking=refresh):
            try:
                self._health = [
                    probe(e, name=n, max_lag_seconds=self.max_lag_seconds)
                    for e, n in zip(self.replicas, self.names, strict=True)
                ]
                self._forget_replayed()
            finally:
                self._probing.release()
        return list(self._health)

    def mark_down(self, index: int, reason: str) -> None:
        self._health[index] = ReplicaHealth(self.names[index], False, reason, checked_at=time.monotonic())

    def _forget_replayed(self) -> None:
        """Drop marks every replica has replayed past: those principals read from any replica again."""
        lsns = [h.replay_lsn for h in self._health]
        if not lsns or any(lsn is None for lsn in lsns):
            return
        low = min(lsn for lsn in lsns if lsn is not None)
        with self._lock:
            for principal in [p for p, lsn in self._marks.items() if lsn <= low]:
                del self._marks[principal]

    # Reads --------------------------------------------------------------------------------------------

    def choose(self, principal: str | None) -> Route:
        """The replica for this read (round robin over healthy ones), or the primary and the reason."""
        health = self.health()
        needed = self.pending_lsn(principal)
        usable = [i for i, h in enumerate(health) if h.ok]
        if not usable:
            return Route(None, "primary", "no healthy replica")
        if needed is not None:
            usable = [i for i in usable if (health[i].replay_lsn or 0) >= needed]
            if not usable:
                return Route(None, "primary", f"read-your-writes: no replica past {format_lsn(needed)} yet")
        index = usable[next(self._turn) % len(usable)]
        return Route(index, self.names[index], "replica")

    def connect_for_read(self, principal: str | None) -> tuple[Connection, Route]:
        """A read-only connection for one read: on the chosen replica, or on the primary if it has none or
        the replica fails to connect (it is then marked down until the next probe)."""
        route = self.choose(principal)
        if route.replica is not None:
            try:
                conn = self.replicas[route.replica].connect()
            except DBAPIError as exc:
                log.warning("replica.unreachable", extra={"replica": route.name, "error": str(exc.orig)})
                self.mark_down(route.replica, f"unreachable: {type(exc.orig).__name__}")
                route = Route(None, "primary", f"replica {route.name} unreachable")
            else:
                return conn, route
        return _read_only(self.primary.connect()), route

    def dispose(self) -> None:
        for engine in self.replicas:
            engine.dispose()


def _read_only(conn: Connection) -> Connection:
    """A read on the primary runs READ ONLY, so a read behaves the same wherever it is routed: a route that
    tried to write fails on the primary as it would on a replica. Not set on replicas, which refuse writes
    anyway: SQLAlchemy resets the option to an explicit `read_only = False` when the connection is pooled
    again, and psycopg then begins with BEGIN READ WRITE, which a standby refuses."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(postgresql_readonly=True)
    return conn


def routing_from_settings(primary: Engine, settings: Settings) -> ReadRouting | None:
    """A ReadRouting when replicas are configured (PostgreSQL only), else None: every read on the primary."""
    urls = settings.database_replica_urls
    if not urls or primary.dialect.name != "postgresql":
        return None
    return ReadRouting(
        primary,
        urls,
        max_lag_seconds=settings.replica_max_lag_seconds,
        check_seconds=settings.replica_check_seconds,
    )
