"""What a rate-limit check costs in each store (registry/ratelimit/store.py), for docs/security.md.

    python -m bench.ratelimit [--postgres URL] [--redis URL]

Per check, on one thread: the median over rounds of the mean time of a granted check (a token taken: the
upsert that writes) and of a refused one (an upsert that writes nothing, then a read for Retry-After), in
memory, in the database (SQLite file, PostgreSQL) and in Redis; beside it, one Argon2id verification (what a
login attempt costs anyway). Then the ceiling of a shared store: two processes checking distinct keys as
fast as they can, checks a second in total: SQLite has one writer for the whole file, so that figure is
the most API requests a second every process together could serve if each took a database bucket.
PostgreSQL scratch databases are created and dropped; nothing else is touched.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from registry import migrate
from registry.db import make_engine
from registry.ratelimit.store import DatabaseStore, MemoryStore, Rate, RedisStore, Store

GRANT = Rate(10**9, 1)  # never runs out
REFUSE = Rate(1, 10**6)  # one token, then refused for ever
ROUNDS = 5


def per_check_us(store: Store, rate: Rate, n: int) -> float:
    key = f"bench:{uuid.uuid4()}"
    store.take(key, rate)  # the row exists: the steady state
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(n):
            store.take(key, rate)
        samples.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(samples)


def _hammer(spec: str, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = make_engine(spec)
    store = DatabaseStore(engine)
    count, stop = 0, time.monotonic() + seconds
    while time.monotonic() < stop:
        store.take(f"bench:{os.getpid()}:{count % 1000}", GRANT)  # distinct keys: no row contention
        count += 1
    engine.dispose()
    out.put(count / seconds)


def two_process_checks_per_s(url: str, seconds: float = 3.0) -> float:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, seconds, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    total = sum(queue.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total


def argon2_verify_ms() -> float:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    hasher = PasswordHasher()  # as registry/users/service.py
    stored = hasher.hash("correct horse battery staple")
    samples = []
    for _ in range(10):
        started = time.perf_counter()
        with contextlib.suppress(VerificationError):  # a wrong password: what a failed login costs
            hasher.verify(stored, "wrong password")
        samples.append((time.perf_counter() - started) * 1e3)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    results: dict[str, object] = {"load_average_before": os.getloadavg()}
    rows: dict[str, dict[str, float]] = {}

    def measure(name: str, store: Store, n: int) -> None:
        rows[name] = {
            "granted_us": round(per_check_us(store, GRANT, n), 1),
            "refused_us": round(per_check_us(store, REFUSE, n), 1),
        }
        print(name, rows[name], flush=True)

    measure("memory", MemoryStore(), 20_000)
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate.upgrade(sqlite_url)
        engine = make_engine(sqlite_url)
        measure("database (SQLite)", DatabaseStore(engine), 500)
        engine.dispose()
        results["sqlite_two_processes_checks_per_s"] = round(two_process_checks_per_s(sqlite_url))

    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"iti_bench_rl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        pg_url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(pg_url)
        engine = make_engine(pg_url)
        measure("database (PostgreSQL)", DatabaseStore(engine), 500)
        engine.dispose()
        results["postgresql_two_processes_checks_per_s"] = round(two_process_checks_per_s(pg_url))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    redis = RedisStore(f"{args.redis}?prefix=iti-bench-{uuid.uuid4().hex[:8]}:")
    measure("redis", redis, 2_000)
    redis.close()

    results["per_check"] = rows
    results["argon2_verify_ms"] = round(argon2_verify_ms(), 1)
    results["load_average_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
