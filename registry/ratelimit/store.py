"""Where the token buckets of the rate limits live: `MemoryStore` (one process), `DatabaseStore` (the
registry's own database, shared by every process and server on it) and `RedisStore` (a Redis server, for
large deployments that already run one).

Each `take(key, rate)` is one atomic check: 0.0 when a token was taken (the request may go ahead), else the
seconds until the next token. A bucket holds up to `rate.burst` tokens and refills at `rate.refill` a second;
an idle bucket is full again after at most `rate.per_seconds`, so a bucket can be forgotten from then on
(that is how all three stores prune).

`DatabaseStore` does the whole check in one `INSERT … ON CONFLICT … DO UPDATE … WHERE … RETURNING`
statement (PostgreSQL 9.5+, SQLite 3.35+): the refill is computed in SQL from the stored row, the row is
updated only when a token is left, and a returned row means "granted". Two processes checking the same key
at once are serialised by the row (PostgreSQL) or the single writer (SQLite), so no token is granted twice.
A refused check writes nothing and reads the row once more for `Retry-After`. Times are the servers' wall
clocks (`time.time()`), made safe against skew between hosts: `updated_at` never moves back, so a host whose
clock is behind refills nothing until it catches up (stricter, never looser).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Engine, Row, TextClause, text

MAX_MEMORY_KEYS = 100_000  # buckets kept in memory; full (idle) buckets are dropped first when reached
PRUNE_EVERY_S = 60.0  # DatabaseStore: each process deletes expired rows at most this often
REDIS_TIMEOUT_S = 0.5  # a Redis that does not answer within this fails the check (the limit's policy decides)
REDIS_PREFIX = "iti:ratelimit:"


@dataclass(frozen=True)
class Rate:
    burst: int
    per_seconds: float

    @property
    def refill(self) -> float:
        return self.burst / self.per_seconds

    @classmethod
    def parse(cls, text: str, *, name: str) -> Rate | None:
        if text.strip().lower() in ("off", "none", "0", ""):
            return None
        try:
            burst, seconds = text.split("/")
            rate = cls(int(burst), float(seconds))
        except ValueError:
            raise ValueError(
                f"{name} must look like 20/60 (requests per seconds) or off, not {text!r}"
            ) from None
        if rate.burst < 1 or rate.per_seconds <= 0 or not math.isfinite(rate.per_seconds):
            raise ValueError(f"{name} must be at least 1 request per a positive number of seconds")
        return rate


class Store(Protocol):
    kind: str

    def take(self, key: str, rate: Rate) -> float: ...

    def close(self) -> None: ...


def digest(key: str) -> str:
    """What the shared stores keep instead of an address or a credential digest."""
    return hashlib.sha256(key.encode()).hexdigest()


class MemoryStore:
    """Buckets in this process only. Thread-safe: sync routes run in worker threads."""

    kind = "memory"

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str, rate: Rate) -> float:
        now = self.clock()
        with self._lock:
            tokens, at = self._tokens.get(key, (float(rate.burst), now))
            tokens = min(float(rate.burst), tokens + max(0.0, now - at) * rate.refill)
            if tokens >= 1:
                if len(self._tokens) >= MAX_MEMORY_KEYS and key not in self._tokens:
                    self._prune(now, rate)
                self._tokens[key] = (tokens - 1, now)
                return 0.0
            self._tokens[key] = (tokens, now)
            return (1 - tokens) / rate.refill

    def _prune(self, now: float, rate: Rate) -> None:
        full = [k for k, (t, at) in self._tokens.items() if t + (now - at) * rate.refill >= rate.burst]
        for k in full or list(self._tokens)[: MAX_MEMORY_KEYS // 10]:
            del self._tokens[k]

    def close(self) -> None:
        self._tokens.clear()


def _upsert_sql(dialect: str) -> str:
    t = "rate_limit_buckets"
    if dialect == "postgresql":
        least, greatest = "LEAST", "GREATEST"
        # The statement is its own transaction (autocommit) and commits without waiting for the WAL flush:
        # a bucket lost in a crash only lets a few requests through again, and waiting for the disk cost
        # 2-5 ms a check here (docs/security.md). The row is still written to the WAL and replicated.
        source = "SELECT {} FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
    else:
        least, greatest = "MIN", "MAX"  # SQLite's two-argument MIN and MAX are the scalar ones
        source = "VALUES ({})"
    new_row = source.format(":key, :burst - 1, :now, :now + 1 / :refill")  # full, less the token taken
    refilled = f"{least}(:burst, {t}.tokens + {greatest}(0, :now - {t}.updated_at) * :refill)"
    return f"""
        INSERT INTO {t} (key, tokens, updated_at, expires_at)
        {new_row}
        ON CONFLICT (key) DO UPDATE SET
            tokens = {refilled} - 1,
            updated_at = {greatest}({t}.updated_at, :now),
            expires_at = {greatest}({t}.updated_at, :now) + (:burst - ({refilled} - 1)) / :refill
        WHERE {refilled} >= 1
        RETURNING tokens
    """


class DatabaseStore:
    """Buckets in the `rate_limit_buckets` table of the registry's database (registry/ratelimit/models.py).

    Each check is its own short transaction on a pooled connection, never the request's: a limit must count
    a request even when the request's transaction rolls back.
    """

    kind = "database"

    def __init__(
        self, engine: Engine, clock: Callable[[], float] = time.time, prune_every: float = PRUNE_EVERY_S
    ) -> None:
        if engine.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
            raise ValueError(
                f"ITI_RATE_LIMIT_STORE=database needs SQLite 3.35 or later (UPSERT with RETURNING), not "
                f"{sqlite3.sqlite_version}: set ITI_RATE_LIMIT_STORE=memory"
            )
        self.engine = engine
        self.clock = clock
        self.prune_every = prune_every
        self._upsert = text(_upsert_sql(engine.dialect.name))
        self._read = text("SELECT tokens, updated_at FROM rate_limit_buckets WHERE key = :key")
        self._delete = text("DELETE FROM rate_limit_buckets WHERE expires_at < :now")
        self._pruned_at = clock()  # the first prune one period after start: a restart storm adds no deletes
        self._prune_lock = threading.Lock()
        self._autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )

    def take(self, key: str, rate: Rate) -> float:
        now = self.clock()
        params = {"key": digest(key), "burst": float(rate.burst), "refill": rate.refill, "now": now}
        granted = self._first(self._upsert, params) is not None
        self._maybe_prune(now)
        if granted:
            return 0.0
        row = self._first(self._read, {"key": params["key"]})
        if row is None:  # pruned in between: full again, but this request was refused; a short wait
            return 1 / rate.refill
        tokens = min(float(rate.burst), row.tokens + max(0.0, now - row.updated_at) * rate.refill)
        behind = max(0.0, row.updated_at - now)  # this server's clock behind another's: it refills later
        return max(behind + (1 - tokens) / rate.refill, 1e-3)

    def _first(self, statement: TextClause, params: dict[str, Any]) -> Row[Any] | None:
        """One statement, committed: on PostgreSQL in autocommit (one round trip, no BEGIN and COMMIT); on
        SQLite in a transaction of its own (SQLAlchemy's AUTOCOMMIT would skip the COMMIT of the BEGIN that
        registry.db emits)."""
        if self._autocommit is not None:
            with self._autocommit.connect() as conn:
                return conn.execute(statement, params).first()
        with self.engine.begin() as conn:
            return conn.execute(statement, params).first()

    def prune(self, now: float | None = None) -> int:
        """Delete the buckets that are full again (their rows mean nothing any more); the count deleted."""
        with self.engine.begin() as conn:
            return conn.execute(self._delete, {"now": self.clock() if now is None else now}).rowcount

    def _maybe_prune(self, now: float) -> None:
        if now - self._pruned_at < self.prune_every or not self._prune_lock.acquire(blocking=False):
            return
        try:
            self._pruned_at = now
            self.prune(now)
        finally:
            self._prune_lock.release()

    def close(self) -> None:
        """The engine is the app's: it disposes of it."""


# Redis computes with its own clock (TIME), so servers' clocks do not matter; the key expires by itself once
# the bucket is full again. Numbers go back as strings: Redis turns a Lua number reply into an integer.
_REDIS_SCRIPT = """
local burst = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * refill)
if tokens < 1 then
  return tostring((1 - tokens) / refill)
end
tokens = tokens - 1
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / refill * 1000) + 1)
return '0'
"""


class RedisStore:
    """Buckets in Redis, one hash per key, checked by a Lua script (atomic on the server).

    URL: `redis://[:password@]host:port/db` (or `rediss://` for TLS); an optional `prefix=` query parameter
    sets the key prefix (`iti:ratelimit:` by default), for two registries sharing one Redis database.
    """

    kind = "redis"

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the `redis` extra is part of the dev install
            raise ValueError(
                "ITI_RATE_LIMIT_STORE names a Redis server but the redis client is not installed: "
                "pip install 'iti-registry[redis]'"
            ) from None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", REDIS_PREFIX)
        self.client: Any = redis.Redis.from_url(
            urlunsplit(parts._replace(query=urlencode(query))),
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        self._script = self.client.register_script(_REDIS_SCRIPT)

    def take(self, key: str, rate: Rate) -> float:
        answer = self._script(keys=[self.prefix + digest(key)], args=[rate.burst, repr(rate.refill)])
        return float(answer)

    def close(self) -> None:
        self.client.close()


def open_store(spec: str, *, engine: Engine, name: str) -> Store:
    """`memory`, `database` or a `redis://` / `rediss://` URL (the value of `name`)."""
    value = spec.strip()
    if value.lower() == "memory":
        return MemoryStore()
    if value.lower() == "database":
        return DatabaseStore(engine)
    if value.lower().startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(value)
    raise ValueError(f"{name} must be memory, database or a redis:// URL, not {spec!r}")
