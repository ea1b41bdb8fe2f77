"""Rate-limit buckets shared by every process serving one registry (registry/ratelimit/store.py).

Operational state, not a record: not audited, rows are rewritten on every check and deleted once full again.
Times are seconds since the epoch as floating point, not `UTCDateTime`: the refill is arithmetic on seconds
inside one SQL statement, and a double is the one type SQLite and PostgreSQL do that arithmetic on alike.
"""

from __future__ import annotations

from sqlalchemy import Double, String
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base


class RateLimitBucket(Base):
    """One token bucket per limit and client (address or credential digest)."""

    __tablename__ = "rate_limit_buckets"

    # SHA-256 hex of the limit's name and the client key: no address or credential is stored as such.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Double)  # left after the last granted request
    updated_at: Mapped[float] = mapped_column(Double)  # epoch seconds of the last granted request
    # When the bucket is full again: from then on the row means nothing and is pruned.
    expires_at: Mapped[float] = mapped_column(Double, index=True)
